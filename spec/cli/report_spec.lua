-- corral report and corral status on journals of real runs: a workflow with ok, failed,
-- timed-out, signaled, retried and skipped jobs run through `corral run`, and a plain pool.
-- The HTML is checked for every journal record and drawn by headless Chromium; status is read
-- while a run is going.
local corral = require "corral"
local cjson = require "cjson.safe"   -- a journal being written may end in a partial line
local joblog = require "corral.joblog"
local H = require "helpers"

local CORRAL = H.root .. "/scripts/corral"

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- run(args...) -> stdout and stderr together, exit code
local function run(...)
  local args = {}
  for i, a in ipairs { ... } do args[i] = sh_quote(a) end
  local p = io.popen(table.concat(args, " ") .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  local text, rc = out:match("^(.-)rc=(%d+)\n$")
  return text, tonumber(rc)
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- The workflow run once, for every test that reads its journal.
local real
local function real_run()
  if real then return real end
  local d = H.tmpdir()
  local journal = d .. "/run.jsonl"
  local child = H.run_script("report_run.lua", journal)
  local code = child:wait(60)
  assert.are.equal(0, code)
  assert.is_true(child:expect("DONE\tfalse", 1, 1))
  local text, rc = run(CORRAL, "report", journal, "-o", d .. "/run.html")
  assert.are.equal(0, rc, text)
  real = { dir = d, journal = journal, html = slurp(d .. "/run.html") }
  return real
end

-- The journal's outcome records (no events), as cjson reads them.
local function outcomes(path)
  local out = {}
  for _, l in ipairs(H.lines(path)) do
    local r = cjson.decode(l)
    if r.event == nil then out[#out + 1] = r end
  end
  return out
end

local function unescape(s)
  return (s:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"'):gsub("&#39;", "'"):gsub("&amp;", "&"))
end

-- The attempt bars of the timeline: { name, attempt, status, class }
local function bars(html)
  local out = {}
  for attrs in html:gmatch('<rect class="b ([^>]*)>') do
    out[#out + 1] = { class = attrs:match("^([^\"]*)"), name = unescape(attrs:match('data%-name="([^"]*)"')),
                      attempt = attrs:match('data%-attempt="([^"]*)"'), status = attrs:match('data%-status="([^"]*)"') }
  end
  return out
end

local function int(v) return tostring(math.tointeger(v) or v) end

describe("corral report", function()
  it("draws every attempt of a real workflow run as a bar with its name, attempt and status", function()
    local r = real_run()
    local recs = outcomes(r.journal)
    assert.are.equal(11, #recs)                 -- 10 jobs, flaky twice
    local drawn = bars(r.html)
    assert.are.equal(#recs, #drawn)
    local have = {}
    for _, b in ipairs(drawn) do
      local k = b.name .. "/" .. b.attempt .. "/" .. b.status
      have[k] = (have[k] or 0) + 1
    end
    for _, rec in ipairs(recs) do
      local k = rec.name .. "/" .. int(rec.attempt) .. "/" .. rec.status
      assert.is_truthy(have[k] and have[k] > 0, "no bar for " .. k)
      have[k] = have[k] - 1
    end
    assert.is_truthy(r.html:find('data-name="flaky" data-attempt="1" data-status="failed"', 1, true))
    assert.is_truthy(r.html:find('data-name="flaky" data-attempt="2" data-status="ok"', 1, true))
  end)

  it("is self-contained: no script, no link, nothing fetched", function()
    local html = real_run().html
    assert.is_falsy(html:find("<script", 1, true))
    assert.is_falsy(html:find("<link", 1, true))
    assert.is_falsy(html:find("src=", 1, true))
    assert.is_falsy(html:find("url(", 1, true))
    assert.is_truthy(html:find("<svg", 1, true))
  end)

  it("lists every failure with its exit code or signal and the tail of its stderr", function()
    local html = real_run().html
    assert.is_truthy(html:find("Failures (4)", 1, true))      -- test, slow, crash, flaky's first try
    assert.is_truthy(html:find("exit 3", 1, true))
    assert.is_truthy(html:find("test_sum: assertion failed: 2 ~= 3", 1, true))
    assert.is_truthy(html:find("signal KILL", 1, true))
    assert.is_truthy(html:find("timed out after 0.5s", 1, true))
    assert.is_truthy(html:find("flaky: first try fails", 1, true))
    for _, s in ipairs { "</span>ok <b>6</b>", "</span>failed <b>1</b>", "</span>timeout <b>1</b>",
                         "</span>signaled <b>1</b>", "</span>skipped <b>1</b>" } do
      assert.is_truthy(html:find(s, 1, true), s)
    end
  end)

  it("outlines a workflow's critical path", function()
    local html = real_run().html
    local path = html:match('<p class="crit%-path" id="critical%-path">(.-)</p>')
    assert.are.equal("fetch → compile-a → test", path)
    for _, b in ipairs(bars(html)) do
      local on = b.name == "fetch" or b.name == "compile-a" or b.name == "test"
      assert.are.equal(on, b.class:find("crit", 1, true) ~= nil, b.name)
    end
  end)

  it("renders in headless Chromium to a picture that is not blank", function()
    -- CORRAL_CHROMIUM names another browser binary (or a missing one, to see the skip)
    local p = io.popen("command -v " .. sh_quote(os.getenv("CORRAL_CHROMIUM") or "chromium"))
    local chromium = p:read("l")
    p:close()
    if not chromium then
      pending(("%s is not installed (make deps installs Debian's chromium)")
        :format(os.getenv("CORRAL_CHROMIUM") or "chromium"))
      return
    end
    local r = real_run()
    local d = r.dir
    local f = io.open(d .. "/blank.html", "w")
    f:write("<!DOCTYPE html><html><body></body></html>\n")
    f:close()
    -- The report's screenshot is compared with one of a blank page taken the same way: a blank
    -- 1200x900 PNG compresses to a few KB, a drawn report to tens of KB.
    local function shot(page, png)
      local text, rc = run("timeout", "90", chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--user-data-dir=" .. d .. "/chromium", "--screenshot=" .. png, "--window-size=1200,900",
        "file://" .. page)
      assert.are.equal(0, rc, text)
      local data = slurp(png)
      assert.are.equal("\137PNG\r\n\26\n", data:sub(1, 8))
      local w, h = string.unpack(">I4I4", data, 17)          -- IHDR: width, height
      assert.are.same({ 1200, 900 }, { w, h })
      return #data
    end
    local blank = shot(d .. "/blank.html", d .. "/blank.png")
    local drawn = shot(d .. "/run.html", d .. "/run.png")
    os.execute("rm -rf " .. sh_quote(d .. "/chromium"))          -- its profile: megabytes
    assert.is_true(drawn > 20000, ("report screenshot only %d bytes"):format(drawn))
    assert.is_true(drawn > 5 * blank, ("report %d bytes, blank page %d bytes"):format(drawn, blank))
  end)

  it("shows a workflow job's cpus and memory, and the most held at once", function()
    local d = H.tmpdir()
    local wf = corral.workflow { cpus = 4, memory = "2G", joblog = d .. "/r.jsonl" }
    wf:job("big", { shell = "sleep 0.3", cpus = 3, memory = "1536M" })
    wf:job("small", { shell = "sleep 0.3", cpus = 1 })
    wf:job("next", { shell = "true", after = { "big" }, cpus = 2 })
    assert.is_true(wf:run().ok)
    local recs = {}
    for _, r in ipairs(outcomes(d .. "/r.jsonl")) do recs[r.name] = r end
    assert.are.same({ 3, 1536 << 20 }, { recs.big.cpus, recs.big.memory })
    assert.are.same({ 1, nil }, { recs.small.cpus, recs.small.memory })
    local text, rc = run(CORRAL, "report", d .. "/r.jsonl", "-o", d .. "/r.html")
    assert.are.equal(0, rc, text)
    local html = slurp(d .. "/r.html")
    assert.matches("CPUs held at most<b>4</b>", html, 1, true)       -- big and small together
    assert.matches("memory held at most<b>1.5 GiB</b>", html, 1, true)
    assert.matches("<title>big — attempt 1 — ok — [^<]* — 3 CPUs, 1.5 GiB</title>", html)
    assert.matches("<title>next — attempt 1 — ok — [^<]* — 2 CPUs</title>", html)
  end)

  it("draws a plain pool's journal too", function()
    local d = H.tmpdir()
    local journal = d .. "/pool.jsonl"
    do
      local pool <close> = corral.pool { executor = "shell", size = 2, joblog = journal }
      pool:submit("true")
      pool:submit("echo broken >&2; exit 4")
      pool:submit("sleep 0.1")
    end
    local text, rc = run(CORRAL, "report", journal)
    assert.are.equal(0, rc, text)
    local html = slurp(d .. "/pool.html")                      -- .jsonl -> .html by default
    local drawn = bars(html)
    assert.are.equal(3, #drawn)
    local names = {}
    for _, b in ipairs(drawn) do names[b.name] = b.status end
    assert.are.same({ ["true"] = "ok", ["echo broken >&2; exit 4"] = "failed", ["sleep 0.1"] = "ok" }, names)
    assert.is_truthy(html:find("pool journal", 1, true))
    assert.is_truthy(html:find("broken", 1, true))
    assert.is_falsy(html:find("critical-path", 1, true))
  end)

  it("refuses a missing journal naming it, exit 2", function()
    local text, rc = run(CORRAL, "report", "/nonexistent/run.jsonl")
    assert.are.equal(2, rc)
    assert.are.equal("corral report: /nonexistent/run.jsonl: No such file or directory\n", text)
    text, rc = run(CORRAL, "report")
    assert.are.equal(2, rc)
    assert.is_truthy(text:find("missing JOURNAL", 1, true))
  end)

  it("skips a torn last line and says so", function()
    local d = H.tmpdir()
    local f = io.open(d .. "/torn.jsonl", "w")
    f:write('{"id":1,"name":"a","status":"ok","attempt":1,"start":1700000000,"duration":1}\n',
            '{"id":2,"name":"b","sta')
    f:close()
    local text, rc = run(CORRAL, "report", d .. "/torn.jsonl", "-o", d .. "/torn.html")
    assert.are.equal(0, rc, text)
    local html = slurp(d .. "/torn.html")
    assert.are.equal(1, #bars(html))
    assert.is_truthy(html:find("torn last line", 1, true))
  end)

  it("draws hand-edited lines with odd fields without raising, escaped", function()
    local d = H.tmpdir()
    local f = io.open(d .. "/odd.jsonl", "w")
    f:write('{"id":1,"name":5,"status":null,"attempt":"x","start":"soon","duration":-3}\n',
      '{"id":{"a":1},"name":null,"status":"ok","hash":"h","after":"a","start":1700000000,"duration":1,"rusage":"lots"}\n',
      '{"name":"b","hash":"h2","after":[1,null,"zz","b"],"status":"failed","code":"3","signal":{"x":1},',
      '"error":{"msg":"t"},"stderr":123,"start":1700000000.5,"duration":2}\n',
      '{"event":"start","id":[1],"name":{"x":1},"attempt":null,"start":"x","pid":"p","host":5}\n',
      '{"event":"run","total":"ten","start":null}\n{"event":"from-the-future"}\n[1,2]\n"str"\n',
      '{"name":"c<script>&\\"","status":"<b>","start":1700000001,"duration":0.5,"stderr":"a<&>"}\n')
    f:close()
    local text, rc = run(CORRAL, "report", d .. "/odd.jsonl", "-o", d .. "/odd.html")
    assert.are.equal(0, rc, text)
    local html = slurp(d .. "/odd.html")
    assert.is_falsy(html:find("<script", 1, true))
    assert.is_truthy(html:find('data-name="c&lt;script&gt;&amp;&quot;"', 1, true))
    assert.is_truthy(html:find("3 unreadable lines were skipped", 1, true))   -- no start, [1,2], "str"
    text, rc = run(CORRAL, "status", d .. "/odd.jsonl")
    assert.are.equal(0, rc, text)
  end)

  it("keeps the file small for a large journal: a bounded grid instead of a bar per attempt", function()
    local d = H.tmpdir()
    local generate = dofile(H.root .. "/scripts/bench/report_journal.lua")
    generate(d .. "/big.jsonl", 40000)
    local text, rc = run(CORRAL, "report", d .. "/big.jsonl", "-o", d .. "/big.html")
    assert.are.equal(0, rc, text)
    local html = slurp(d .. "/big.html")
    assert.is_truthy(html:find('data-aggregated="true"', 1, true))
    local rects = select(2, html:gsub("<rect ", ""))
    assert.is_true(rects <= require("corral.cli.report_html").MAX_CELLS, rects .. " rects")
    assert.is_true(#html < 1024 * 1024, #html .. " bytes")
    assert.is_truthy(html:find("40000 attempts", 1, true))
  end)
end)

describe("the journal's start events", function()
  it("are skipped by every reader of outcomes", function()
    local r = real_run()
    local starts = 0
    for _, l in ipairs(H.lines(r.journal)) do
      if cjson.decode(l).event == "start" then starts = starts + 1 end
    end
    assert.are.equal(10, starts)                  -- one per attempt that ran (not the skipped one)
    local recs = joblog.read(r.journal)
    assert.are.equal(11, #recs)
    for _, rec in ipairs(recs) do assert.is_nil(rec.event) end
    local text, rc = run(CORRAL, "joblog", r.journal)
    assert.are.equal(0, rc)
    assert.is_truthy(text:find(": corral journal, 10 jobs, 11 attempts\n", 1, true), text)
  end)
end)

describe("a journal read as it grows", function()
  it("reads only what was appended; a line finished later waits; truncation starts again", function()
    local report = require "corral.cli.report"
    local path = H.tmpdir() .. "/grow.jsonl"
    local done = '{"id":1,"name":"a","status":"ok","start":100.0,"duration":1.0}\n'
    local start2 = '{"event":"start","id":2,"name":"b","attempt":1,"start":101.0}'
    local f = assert(io.open(path, "w"))
    f:write(done, start2:sub(1, 20))               -- the writer is mid-line
    f:close()
    local rd = report.reader(path)
    local r = assert(rd:update())
    assert.are.same({ 1, 0, false }, { #r.attempts, #r.running, r.torn })
    f = assert(io.open(path, "a"))
    f:write(start2:sub(21), "\n")
    f:close()
    r = assert(rd:update())
    assert.are.equal(1, #r.running)
    assert.are.equal("b", r.running[1].name)
    f = assert(io.open(path, "a"))
    f:write('{"id":2,"name":"b","status":"failed","start":101.0,"duration":0.5,"attempt":1}\n')
    f:close()
    r = assert(rd:update())
    assert.are.same({ 2, 0, 3 }, { #r.attempts, #r.running, r.attempts[2].seq })
    f = assert(io.open(path, "w"))                 -- replaced by a shorter file
    f:write(done)
    f:close()
    r = assert(rd:update())
    assert.are.same({ 1, 0 }, { #r.attempts, #r.running })
  end)
end)

describe("corral status", function()
  it("shows a live workflow's running job, counts and ETA, then its end", function()
    local d = H.tmpdir()
    local journal, go = d .. "/run.jsonl", d .. "/go"
    local child = H.run_script("report_run.lua", journal, go)
    -- The hold job waits for `go`; once every other job has ended only it runs.
    local function ended_others()
      local n, hold = 0, false
      for _, l in ipairs(H.lines(journal)) do
        local rec = cjson.decode(l)
        if rec and rec.event == nil then n = n + 1 end
        if rec and rec.event == "start" and rec.name == "hold" then hold = true end
      end
      return n == 11 and hold
    end
    assert.is_true(H.poll(ended_others, 30))
    local text, rc = run(CORRAL, "status", journal)
    assert.are.equal(0, rc, text)
    assert.is_truthy(text:find("done 10/11 (ok 6, failed 1, signaled 1, timeout 1, skipped 1), 1 running, 3 failed, ETA ", 1, true), text)
    assert.is_truthy(text:match("running:\n +%d+:%d%d  hold %(attempt 1, pid %d+%)\n"), text)
    io.open(go, "w"):close()
    assert.are.equal(0, child:wait(30))
    text, rc = run(CORRAL, "status", journal)
    assert.are.equal(0, rc, text)
    assert.is_truthy(text:find("done 11/11 (ok 7, failed 1, signaled 1, timeout 1, skipped 1), 0 running, 3 failed, finished", 1, true), text)
    assert.is_falsy(text:find("running:", 1, true))
  end)

  it("shows a plain pool's running command; the report draws it as running", function()
    local d = H.tmpdir()
    local journal = d .. "/pool.jsonl"
    local marker = H.sleep_marker()
    local pool <close> = corral.pool { executor = "exec", size = 2, joblog = journal }
    local f = pool:submit({ "sleep", marker })
    pool:submit({ "true" }):wait()
    assert.is_true(H.poll(function() return H.count(marker) == 1 end))
    local text, rc = run(CORRAL, "status", journal)
    assert.are.equal(0, rc, text)
    assert.is_truthy(text:find(": pool, started ", 1, true), text)
    assert.is_truthy(text:find("done 1 (ok 1), 1 running, 0 failed\n", 1, true), text)
    assert.is_truthy(text:find("  sleep " .. marker .. " (attempt 1, pid " .. f.pid .. ")\n", 1, true), text)
    text, rc = run(CORRAL, "report", journal)
    assert.are.equal(0, rc, text)
    local html = slurp(d .. "/pool.html")
    assert.is_truthy(html:find('data-name="sleep ' .. marker .. '" data-attempt="1" data-status="running"', 1, true))
    f:cancel()
    assert.are.equal("cancelled", f:wait(10).status)
    text = run(CORRAL, "status", journal)
    assert.is_truthy(text:find("done 2 (ok 1, cancelled 1), 0 running, 1 failed\n", 1, true), text)
  end)

  it("refuses a missing journal naming it, exit 2", function()
    local text, rc = run(CORRAL, "status", "/nonexistent/run.jsonl")
    assert.are.equal(2, rc)
    assert.are.equal("corral status: /nonexistent/run.jsonl: No such file or directory\n", text)
  end)
end)

describe("corral.cli.report", function()
  it("puts back-to-back attempts in one slot and counts tiny ones in the concurrency", function()
    local report = require "corral.cli.report"
    local t = 1795600000.0
    local function att(i, start, d)
      return { index = i, start = t + start, duration = d, finish = t + start + d, status = "ok" }
    end
    local list = { att(1, 0, 1), att(2, 1, 1), att(3, 0.5, 0.00005), att(4, 2, 0), att(5, 0.2, 0.5) }
    assert.are.equal(3, report.lanes(list))
    assert.are.same({ 1, 1, 3, 1, 2 }, { list[1].lane, list[2].lane, list[3].lane, list[4].lane, list[5].lane })
    local avg, max = report.concurrency(list, t, t + 2, 4)
    assert.are.equal(3, max)
    assert.are.equal(4, #avg)
    assert.is_true(math.abs(avg[1] - 1.6) < 0.01, tostring(avg[1]))   -- (0.5 s + 0.3 s) / 0.5 s
    -- resources held: back to back they do not add up; overlapping they do
    list[1].cpus, list[2].cpus, list[5].cpus, list[4].cpus = 2, 2, 3, 7
    assert.are.equal(5, report.peak(list, "cpus"))      -- 1 and 5 together; 4 lasts no time
    list[5].cpus = nil
    assert.are.equal(2, report.peak(list, "cpus"))
    assert.is_nil(report.peak(list, "memory"))
  end)
end)
