-- Workflow jobs with files (inputs, outputs): make's rule with the journal's hash, missing
-- outputs, partial outputs removed on failure and on Ctrl-C, implied dependencies, the plan's
-- reasons, `corral run --dry-run`, and bad input found before anything runs. Real files in a
-- temporary directory.
local corral = require "corral"
local core = require "corral.core"
local joblog = require "corral.joblog"
local H = require "helpers"

local function exists(path) return core.mtime(path) ~= nil end

-- Set the files' modification times `ago` seconds back: outputs older than a file written
-- now, whatever the file system's timestamp granularity.
local function age(dir, names, ago)
  local t = math.floor(core.time()) - (ago or 10)
  for _, n in ipairs(names) do
    assert(os.execute(("touch -m -d @%d %s/%s"):format(t, dir, n)))
  end
end

local function touch(path) assert(os.execute("touch " .. path)) end

local function plan_of(wf)
  local t = {}
  for _, e in ipairs(wf:plan()) do t[#t + 1] = e.name .. " " .. e.action .. " " .. e.reason end
  return t
end

local function statuses(report)
  local t = {}
  for name, r in pairs(report.records) do t[name] = r.status .. (r.uptodate and " uptodate" or "") end
  return t
end

-- raw -> a -> b, and c from raw2; each job appends its name to DIR/ran.
local function chain(d, variant, halt)
  local wf = corral.workflow { jobs = 2, joblog = d .. "/j.jsonl", halt = halt }
  local function mark(name) return "echo " .. name .. " >> ran; " end
  wf:job("a", { shell = mark("a") .. "cat raw > a", cwd = d, inputs = { "raw" }, outputs = { "a" } })
  wf:job("b", { shell = mark("b") .. "cat a a > b", cwd = d, inputs = { "a" }, outputs = { "b" } })
  wf:job("c", { shell = mark("c") .. "cat raw2 > c" .. (variant or ""), cwd = d, inputs = { "raw2" },
                outputs = { "c" } })
  return wf
end

local function setup()
  local d = H.tmpdir()
  H.spit(d .. "/raw", "r\n")
  H.spit(d .. "/raw2", "r2\n")
  age(d, { "raw", "raw2" }, 20)
  return d
end

local function ran(d)
  local t = H.lines(d .. "/ran")
  table.sort(t)
  os.remove(d .. "/ran")
  return t
end

describe("workflow files", function()
  it("a job whose outputs are newer than its inputs does not run again", function()
    local d = setup()
    local first = chain(d):run()
    assert.is_true(first.ok)
    assert.are.same({ "a", "b", "c" }, ran(d))
    assert.are.equal("r\nr\n", H.slurp(d .. "/b"))
    local again = chain(d):run()
    assert.is_true(again.ok)
    assert.are.same({}, ran(d))
    assert.are.same({ a = "ok uptodate", b = "ok uptodate", c = "ok uptodate" }, statuses(again))
    assert.are.equal(0, again.records.a.attempt)
    -- not journalled: the journal has the first run's three records only
    assert.are.equal(3, #joblog.read(d .. "/j.jsonl"))
  end)

  it("an up-to-date job does not count for halt, as a resumed one does not", function()
    local d = setup()
    chain(d):run()
    ran(d)
    local wf = chain(d, nil, "soon,success=1")
    wf:job("plain", { shell = "echo plain >> ran", cwd = d })
    local report = wf:run()
    assert.are.same({ "plain" }, ran(d))
    assert.are.equal("ok", report.records.plain.status)
  end)

  it("touching an input reruns its job and the jobs after it, only", function()
    local d = setup()
    chain(d):run()
    ran(d)
    age(d, { "a", "b", "c" }, 10)
    touch(d .. "/raw")
    local report = chain(d):run()
    assert.are.same({ "a", "b" }, ran(d))
    assert.are.same({ a = "ok", b = "ok", c = "ok uptodate" }, statuses(report))
  end)

  it("a changed definition reruns the job (the journal's hash), its outputs notwithstanding", function()
    local d = setup()
    chain(d):run()
    ran(d)
    local report = chain(d, " # changed"):run()
    assert.are.same({ "c" }, ran(d))
    assert.are.equal("ok", report.records.c.status)
    assert.is_nil(report.records.c.uptodate)
  end)

  it("a job that did not start last time (halted, skipped) is judged by the last run that did", function()
    local d = H.tmpdir()
    local function wf(extra)
      local w = corral.workflow { jobs = 1, joblog = d .. "/j.jsonl", halt = extra and "soon,fail=1" or nil }
      if extra then
        w:job("bad", { shell = "exit 1" })
        w:job("dep", { shell = "true" })
      end
      w:job("y", { shell = "echo y >> ran; echo y > y", cwd = d, outputs = { "y" },
                   after = extra and { "dep" } or nil })
      return w
    end
    wf():run()
    local halted = wf(true):run()
    assert.are.equal("cancelled", halted.records.dep.status)
    assert.are.equal("skipped", halted.records.y.status)
    assert.are.same({ "y skip up to date" }, plan_of(wf()))
    assert.is_true(wf():run().records.y.uptodate)
    assert.are.same({ "y" }, H.lines(d .. "/ran"))
  end)

  it("an ok job that did not write its outputs failed; its dependents are skipped", function()
    local d = H.tmpdir()
    local wf = corral.workflow {}
    wf:job("lazy", { shell = "echo half > one", cwd = d, outputs = { "one", "two" }, keep_partial = true })
    wf:job("next", { shell = "true", inputs = { d .. "/two" } })
    local report = wf:run()
    assert.are.equal("failed", report.records.lazy.status)
    assert.are.equal("missing output " .. d .. "/two", report.records.lazy.error)
    assert.are.equal("skipped", report.records.next.status)
    assert.is_true(exists(d .. "/one"))          -- keep_partial
  end)

  it("a failed job's partial outputs are removed, and journalled as failed", function()
    local d = H.tmpdir()
    local wf = corral.workflow { joblog = d .. "/j.jsonl" }
    wf:job("fails", { shell = "echo part > out; exit 3", cwd = d, outputs = { "out" } })
    wf:job("lazy", { shell = "echo part > one", cwd = d, outputs = { "one", "two" } })
    wf:job("slow", { shell = "echo part > s; exec sleep 5", cwd = d, outputs = { "s" }, timeout = 0.2 })
    wf:job("killed", { shell = "echo part > k; kill -KILL $$", cwd = d, outputs = { "k" } })
    local report = wf:run()
    assert.are.equal("failed", report.records.fails.status)
    assert.are.same({ d .. "/out" }, report.records.fails.removed)
    assert.is_false(exists(d .. "/out"))
    assert.are.equal("failed", report.records.lazy.status)
    assert.is_false(exists(d .. "/one"))
    assert.are.equal("timeout", report.records.slow.status)
    assert.is_false(exists(d .. "/s"))
    assert.are.equal("signaled", report.records.killed.status)
    assert.is_false(exists(d .. "/k"))
    local st = {}
    for _, r in ipairs(joblog.read(d .. "/j.jsonl")) do st[r.name] = r.status .. " " .. tostring(r.error) end
    assert.are.equal("failed missing output " .. d .. "/two", st.lazy)
  end)

  it("keep_partial = true keeps a failed job's outputs", function()
    local d = H.tmpdir()
    local wf = corral.workflow {}
    wf:job("fails", { shell = "echo part > out; exit 3", cwd = d, outputs = { "out" }, keep_partial = true })
    local report = wf:run()
    assert.are.equal("failed", report.records.fails.status)
    assert.is_nil(report.records.fails.removed)
    assert.are.equal("part\n", H.slurp(d .. "/out"))
  end)

  it("Ctrl-C removes the partial outputs of the cancelled jobs, unless keep_partial", function()
    local d = H.tmpdir()
    local m = H.sleep_marker()
    local c = H.run_script("workflow_files_int.lua", d, "m=" .. m)
    assert.is_true(H.poll(function() return H.count(m) == 2 end))   -- both outputs written
    assert.is_true(exists(d .. "/drop.out"))
    c:signal_group("INT")
    assert.are.equal(130, c:wait())
    assert.are.equal(0, H.count(m))
    assert.is_false(exists(d .. "/drop.out"))
    assert.are.equal("part\n", H.slurp(d .. "/keep.out"))
    local st = {}
    for _, r in ipairs(joblog.read(d .. "/j.jsonl")) do st[r.name] = r.status end
    assert.are.same({ drop = "cancelled", keep = "cancelled" }, st)
  end)

  it("a job that reads another's output runs after it (an implied after)", function()
    local d = H.tmpdir()
    local wf = corral.workflow { jobs = 2 }
    -- defined first, no `after`: only the path ties it to "write"
    wf:job("read", { shell = "cat x > y", cwd = d, inputs = { "x" }, outputs = { "y" } })
    wf:job("write", { shell = "sleep 0.1; echo made > x", cwd = d, outputs = { "x" } })
    local report = wf:run()
    assert.is_true(report.ok)
    assert.are.equal("made\n", H.slurp(d .. "/y"))
    assert.is_true(report.records.read.start >= report.records.write.start + report.records.write.duration)
  end)

  it("plan gives each reason", function()
    local d = H.tmpdir()
    H.spit(d .. "/in", "i\n")
    local function make(c_text)
      local wf = corral.workflow { joblog = d .. "/j.jsonl", resume = true }
      wf:job("a", { shell = "echo a > a", cwd = d, outputs = { "a" } })
      wf:job("b", { shell = "cp a b", cwd = d, inputs = { "a" }, outputs = { "b" } })
      wf:job("c", { shell = c_text .. " > c", cwd = d, outputs = { "c" } })
      wf:job("e", { shell = "cp in e", cwd = d, inputs = { "in" }, outputs = { "e" } })
      wf:job("n", { shell = "true" })
      wf:job("f", { shell = "echo f > f; exit 1", cwd = d, outputs = { "f" }, keep_partial = true })
      return wf
    end
    assert.are.same({ "a run outputs missing", "b run outputs missing", "c run outputs missing",
                      "e run outputs missing", "n run never ran", "f run outputs missing" },
                    plan_of(make("echo c")))
    make("echo c"):run()
    age(d, { "a", "b", "c", "e", "f", "in" }, 10)
    assert.are.same({ "a skip up to date", "b skip up to date", "c skip up to date",
                      "e skip up to date", "n skip resumed", "f run last run failed" },
                    plan_of(make("echo c")))
    touch(d .. "/in")
    os.remove(d .. "/a")
    assert.are.same({ "a run outputs missing", "b run dependency will run", "c run definition changed",
                      "e run input " .. d .. "/in newer", "n skip resumed", "f run last run failed" },
                    plan_of(make("echo C")))
    assert.is_false(exists(d .. "/a"))              -- plan ran nothing
  end)

  it("times count to the sub-second: an input newer within the same second reruns", function()
    local d = H.tmpdir()
    H.spit(d .. "/in", "i\n")
    local function wf()
      local w = corral.workflow {}
      w:job("j", { shell = "cp in out", cwd = d, inputs = { "in" }, outputs = { "out" } })
      return w
    end
    wf():run()
    local t = math.floor(core.time()) - 10
    assert(os.execute(("touch -m -d @%d.25 %s/out; touch -m -d @%d.75 %s/in"):format(t, d, t, d)))
    assert.are.same({ "j run input " .. d .. "/in newer" }, plan_of(wf()))
    assert(os.execute(("touch -m -d @%d.75 %s/out; touch -m -d @%d.25 %s/in"):format(t, d, t, d)))
    assert.are.same({ "j skip up to date" }, plan_of(wf()))
  end)

  it("corral run --dry-run prints every workflow's plan and runs nothing", function()
    local d = H.tmpdir()
    local c = H.start({ H.root .. "/scripts/corral", "run", "--dry-run", H.root .. "/spec/scripts/workflow_dry.lua", d })
    assert.are.equal(0, c:wait())
    local out = table.concat(c.lines, "\n")
    assert.matches("dry run: workflow at [^\n]*workflow_dry.lua:8: 2 to run, 0 to skip\n"
                   .. "  run   make  outputs missing\n"
                   .. "  run   use   outputs missing\n"
                   .. "REPORT\ttrue\ttrue\t0\n"
                   .. "dry run: workflow at [^\n]*workflow_dry.lua:12: 1 to run, 0 to skip\n"
                   .. "  run   other  never ran\n"
                   .. "POOL\tcancelled\tdry run: not run", out)
    local p = io.popen("ls -A " .. d)
    local left = p:read("a")
    p:close()
    assert.are.equal("", left)
  end)

  describe("bad input, before anything runs", function()
    local function err_of(f)
      local ok, e = pcall(f)
      assert.is_false(ok)
      return tostring(e)
    end

    it("an output listed by two jobs names both", function()
      local d = H.tmpdir()
      local wf = corral.workflow {}
      wf:job("first", { shell = "touch ran", cwd = d, outputs = { "o" } })
      wf:job("second", { shell = "touch ran", cwd = d, outputs = { "./o" } })
      local want = "workflow: jobs 'first' and 'second' both list output '" .. d .. "/o'"
      assert.matches(want, err_of(function() wf:run() end), 1, true)
      assert.matches(want, err_of(function() wf:plan() end), 1, true)
      assert.is_false(exists(d .. "/ran"))
    end)

    it("an input nobody makes that does not exist names the job and the path", function()
      local d = H.tmpdir()
      local wf = corral.workflow {}
      wf:job("early", { shell = "touch ran", cwd = d })
      wf:job("needs", { shell = "true", cwd = d, inputs = { "nothere" } })
      assert.matches("workflow: job 'needs': input '" .. d .. "/nothere' does not exist and no job lists it as an output",
                     err_of(function() wf:run() end), 1, true)
      assert.is_false(exists(d .. "/ran"))
    end)

    it("a path that is not a string names the job and the list", function()
      local wf = corral.workflow {}
      assert.matches("files_spec.lua:%d+: bad argument to 'job' %(job 'j': outputs%[2%] is not a path %(number%)%)",
                     err_of(function() wf:job("j", { shell = "true", outputs = { "a", 3 } }) end))
      assert.matches("job 'k': inputs%[1%] is not a path %(empty string%)",
                     err_of(function() wf:job("k", { shell = "true", inputs = { "" } }) end))
      assert.matches("unknown option 'output' to 'job'",
                     err_of(function() wf:job("l", { shell = "true", output = { "a" } }) end))
      assert.matches("job 'm': keep_partial goes with outputs",
                     err_of(function() wf:job("m", { shell = "true", keep_partial = true }) end))
      assert.matches("job 'm2': keep_partial goes with outputs",
                     err_of(function() wf:job("m2", { shell = "true", inputs = { "/" }, keep_partial = false }) end))
      assert.matches("job 'n' lists 'x' as an input and as an output", err_of(function()
        local w = corral.workflow {}
        w:job("n", { shell = "true", inputs = { "x" }, outputs = { "x" } })
        w:run()
      end))
    end)
  end)
end)
