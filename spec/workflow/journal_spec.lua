-- A workflow's journal lines: every field of an outcome record and of a start event, each
-- line valid JSON on its own; and reading a journal skips event lines wherever their `event`
-- key sits (journals written by older versions too).
local corral = require "corral"
local joblog = require "corral.joblog"
local cjson = require "cjson.safe"
local H = require "helpers"

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

describe("a workflow's journal", function()
  it("has every field of each outcome and start event, one JSON object per line", function()
    local d = H.tmpdir()
    local journal = d .. "/j.jsonl"
    local wf = corral.workflow { jobs = 2, joblog = journal }
    wf:job("cmd", { cmd = { "sh", "-c", "echo out; echo err >&2; exit 3" } })
    wf:job("sig", { cmd = { "sh", "-c", "kill -TERM $$" } })
    wf:job("fn", { fn = function() return 7, nil, "x" end })
    wf:job("after", { shell = "true", after = { "fn" }, cpus = 1, memory = "1M" })
    assert.is_false(wf:run().ok)
    local starts, recs, runs = {}, {}, 0
    for _, l in ipairs(H.lines(journal)) do
      local row = assert(cjson.decode(l), l)
      if row.event == "start" then
        assert.are.equal('{"event":"start",', l:sub(1, 17))   -- readers know it by its start
        starts[row.name] = row
      elseif row.event == "run" then
        runs = runs + 1
      else
        assert.is_nil(row.event)
        recs[row.name] = row
      end
    end
    assert.are.equal(1, runs)
    for _, name in ipairs { "cmd", "sig", "fn", "after" } do
      local s, r = starts[name], recs[name]
      assert.is_table(s, name)
      assert.are.same({ "attempt", "event", "hash", "host", "id", "name", "pid", "start" }, keys(s))
      assert.are.equal(r.hash, s.hash)
      assert.are.equal(r.id, s.id)
      assert.are.equal(joblog.HOST, s.host)
      for _, k in ipairs { "id", "name", "status", "pid", "host", "attempt", "start", "duration", "hash", "cpus" } do
        assert.is_not_nil(r[k], name .. "." .. k)
      end
    end
    local c = recs.cmd
    assert.are.equal("failed", c.status)
    assert.are.equal(3, c.code)
    assert.are.equal("out\n", c.stdout)
    assert.are.equal("err\n", c.stderr)
    assert.is_table(c.rusage)
    assert.are.equal("signaled", recs.sig.status)
    assert.are.equal("TERM", recs.sig.signal)
    assert.are.same({ 7, cjson.null, "x" }, recs.fn.values)
    assert.are.same({ "fn" }, recs.after.after)
    assert.are.equal(1024 * 1024, recs.after.memory)
    assert.is_nil(recs.cmd.after)
  end)

  it("is read without its event lines, wherever their event key is", function()
    local d = H.tmpdir()
    local journal = d .. "/j.jsonl"
    local f = assert(io.open(journal, "w"))
    f:write('{"total":1,"event":"run","jobs":2}\n')
    f:write('{"name":"a","id":1,"event":"start","attempt":1}\n')
    f:write('{"name":"a","id":1,"status":"ok","attempt":1,"hash":"9fe0c187c9434461"}\n')
    f:close()
    local recs = joblog.read(journal)
    assert.are.equal(1, #recs)
    assert.are.equal("ok", recs[1].status)
    -- and resume takes that record: the same definition's hash, so the job does not run
    local wf = corral.workflow { joblog = journal, resume = true }
    wf:job("a", { shell = "echo hi" })
    local report = wf:run()
    assert.is_true(report.records.a.resumed)
  end)

  it("groups the lines of jobs that end less than 2 ms apart into one write; loses none", function()
    local core = require "corral.core"
    local methods = getmetatable(core.jsonl()).__index
    local flush, writes = methods.flush, 0
    methods.flush = function(...) writes = writes + 1; return flush(...) end   -- the real one runs
    local d = H.tmpdir()
    local journal = d .. "/j.jsonl"
    local ok, err = pcall(function()
      local wf = corral.workflow { jobs = 2, joblog = journal }
      for i = 1, 400 do wf:job("j" .. i, { fn = function() end }) end
      assert.is_true(wf:run().ok)
    end)
    methods.flush = flush
    assert(ok, err)
    local starts, ends = 0, 0
    for line in io.lines(journal) do
      local row = assert(cjson.decode(line))
      if row.event == "start" then starts = starts + 1 elseif not row.event then ends = ends + 1 end
    end
    assert.are.same({ 400, 400 }, { starts, ends })
    -- 800 lines: one write per turn would be 250 to 400 (a no-op job ends every ~50 µs here)
    assert.is_true(writes < 150, writes .. " writes")
  end)

  it("writes each record's own values: a record with fewer keeps none of the one before", function()
    local d = H.tmpdir()
    local journal = d .. "/j.jsonl"
    local wf = corral.workflow { jobs = 1, joblog = journal }
    wf:job("three", { fn = function() return 1, 2, 3 end })
    wf:job("one", { fn = function() return "x" end, after = { "three" } })
    wf:job("none", { fn = function() end, after = { "one" } })
    wf:job("odd", { fn = function() return 0 / 0 end, after = { "none" } })   -- NaN: not JSON
    wf:job("after", { fn = function() return nil, 5 end, after = { "odd" } })
    assert.is_true(wf:run().ok)
    local got = {}
    for _, r in ipairs(joblog.read(journal)) do got[r.name] = r.values or false end
    assert.are.same({ three = { 1, 2, 3 }, one = { "x" }, none = false, odd = false,
                      after = { cjson.null, 5 } }, got)
  end)

  it("keeps an event's line when a value of it JSON cannot hold: the event without it", function()
    local d = H.tmpdir()
    local log = assert(joblog.open(d .. "/j.jsonl"))
    log:started({ id = 1, name = "a", attempt = 1, start = 2.5, pid = 9 }, { hash = "h" })
    log:started({ id = 2, name = "b", attempt = 1, start = 2.5, pid = 9 }, { odd = print })
    log:event { event = "run", total = 0 / 0 }
    log:close()
    local lines = H.lines(d .. "/j.jsonl")
    assert.are.same({ event = "start", id = 1, name = "a", attempt = 1, start = 2.5, pid = 9,
                      hash = "h", host = joblog.HOST }, cjson.decode(lines[1]))
    assert.are.equal('{"event":"start"}', lines[2])
    assert.are.equal('{"event":"run"}', lines[3])
    assert.are.equal(3, #lines)
  end)
end)
