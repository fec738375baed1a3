-- Workflows: DAGs of commands, shell lines and Lua functions; the journal, resume after a
-- SIGKILL, retries, halt, skipped dependents, and graph errors found before anything runs.
local corral = require "corral"
local joblog = require "corral.joblog"
local H = require "helpers"



local function count_of(list, x)
  local n = 0
  for _, v in ipairs(list) do if v == x then n = n + 1 end end
  return n
end

describe("workflow", function()
  it("runs a DAG of every job kind in dependency order", function()
    local d = H.tmpdir()
    local wf = corral.workflow { jobs = 2, joblog = d .. "/j.jsonl" }
    wf:job("write", { cmd = { "sh", "-c", "echo 21 > " .. d .. "/n" } })
    wf:job("double", { fn = function(dir)
      local f = io.open(dir .. "/n"); local n = tonumber(f:read("l")); f:close()
      return n * 2
    end, args = { d }, after = { "write" } })
    wf:job("show", { shell = "cat " .. d .. "/n", after = { "write", "double" } })
    local report = wf:run()
    assert.is_true(report.ok)
    assert.are.equal(3, report.counts.ok)
    assert.are.equal(42, report.records.double.values[1])
    assert.are.equal("21\n", report.records.show.stdout)
    local recs = joblog.read(d .. "/j.jsonl")
    assert.are.equal(3, #recs)
    for _, r in ipairs(recs) do assert.is_string(r.hash) end
    assert.are.equal("write", recs[1].name)
  end)

  it("skips the dependents of a failed job; independent jobs still run", function()
    local wf = corral.workflow { jobs = 2 }
    wf:job("bad", { shell = "exit 3" })
    wf:job("child", { shell = "true", after = { "bad" } })
    wf:job("grandchild", { shell = "true", after = { "child" } })
    wf:job("other", { shell = "true" })
    local report = wf:run()
    assert.is_false(report.ok)
    assert.are.equal("failed", report.records.bad.status)
    assert.are.equal(3, report.records.bad.code)
    assert.are.equal("skipped", report.records.child.status)
    assert.are.equal("dependency 'bad' failed", report.records.child.error)
    assert.are.equal("skipped", report.records.grandchild.status)
    assert.are.equal("ok", report.records.other.status)
  end)

  it("finds unknown dependencies and cycles before anything runs", function()
    local d = H.tmpdir()
    local wf = corral.workflow {}
    wf:job("a", { shell = "touch " .. d .. "/ran" })
    wf:job("b", { shell = "true", after = { "nope" } })
    assert.has_error(function() wf:run() end, "workflow: job 'b' depends on unknown job 'nope'")
    local wf2 = corral.workflow {}
    wf2:job("a", { shell = "touch " .. d .. "/ran" })
    wf2:job("x", { shell = "true", after = { "z" } })
    wf2:job("y", { shell = "true", after = { "x" } })
    wf2:job("z", { shell = "true", after = { "y" } })
    assert.has_error(function() wf2:run() end, "workflow: dependency cycle: x -> z -> y -> x")
    assert.is_nil(io.open(d .. "/ran"))
  end)

  it("keeps INT, TERM and HUP caught for the whole run: one signalfd, not one per job", function()
    local core = require "corral.core"
    local sigcatch, sigrelease, made, released = core.sigcatch, core.sigrelease, 0, 0
    core.sigcatch = function(...) made = made + 1; return sigcatch(...) end   -- the real ones run
    core.sigrelease = function(...) released = released + 1; return sigrelease(...) end
    local ok, err = pcall(function()
      local wf = corral.workflow { jobs = 2 }
      for i = 1, 200 do wf:job("j" .. i, { fn = function() end, after = i > 1 and { "j" .. (i - 1) } or nil }) end
      assert.is_true(wf:run().ok)
    end)
    core.sigcatch, core.sigrelease = sigcatch, sigrelease
    assert(ok, err)
    -- a chain: the pool is idle between any two jobs; it would give the signals back each time
    assert.are.equal(1, made)
    assert.are.equal(1, released)          -- and given back when the run is over
  end)

  it("keeps each job's dependents its own when jobs share a first dependent", function()
    -- x is the first dependent of p and q (one list for both); c1's edge from p must not
    -- become an edge from q too, or q would peel c1 and hide the cycle c1 -> c2 -> c1
    local wf = corral.workflow {}
    wf:job("p", { shell = "true" })
    wf:job("q", { shell = "true" })
    wf:job("x", { shell = "true", after = { "p", "q" } })
    wf:job("c1", { shell = "true", after = { "p", "c2" } })
    wf:job("c2", { shell = "true", after = { "c1" } })
    assert.has_error(function() wf:plan() end, "workflow: dependency cycle: c1 -> c2 -> c1")
  end)

  it("rejects bad job definitions, naming them", function()
    local wf = corral.workflow {}
    assert.has_error(function() wf:job("a", { shell = "x", cmd = { "y" } }) end,
      "bad argument to 'job' (job 'a' needs exactly one of cmd, shell, fn)")
    wf:job("a", { shell = "true" })
    assert.has_error(function() wf:job("a", { shell = "true" }) end,
      "bad argument to 'job' (job 'a' is defined twice)")
    assert.has_error(function() wf:job("b", { shel = "true" }) end, "unknown option 'shel' to 'job'")
    assert.has_error(function() corral.workflow { halt = "later,fail=1" } end)
  end)

  it("retries with attempt numbers, one journal record per attempt", function()
    local d = H.tmpdir()
    local wf = corral.workflow { joblog = d .. "/j.jsonl", retries = 2 }
    wf:job("flaky", { shell = ("echo x >> %s/tries; [ $(wc -l < %s/tries) -ge 3 ]"):format(d, d) })
    local report = wf:run()
    assert.are.equal("ok", report.records.flaky.status)
    assert.are.equal(3, report.records.flaky.attempt)
    local recs = joblog.read(d .. "/j.jsonl")
    assert.are.same({ "failed", "failed", "ok" }, { recs[1].status, recs[2].status, recs[3].status })
    assert.are.same({ 1, 2, 3 }, { recs[1].attempt, recs[2].attempt, recs[3].attempt })
  end)

  it("halt soon,fail=1 starts nothing after the first failure", function()
    local wf = corral.workflow { jobs = 1, halt = "soon,fail=1" }
    wf:job("one", { shell = "exit 1" })
    wf:job("two", { shell = "true" })
    wf:job("three", { shell = "true" })
    local report = wf:run()
    assert.are.equal("failed", report.records.one.status)
    assert.are.equal("cancelled", report.records.two.status)
    assert.are.equal("halt: soon,fail=1", report.records.two.error)
    assert.are.equal("cancelled", report.records.three.status)
  end)

  it("halt now,fail=1 cancels the running jobs", function()
    local m = H.sleep_marker()
    local wf = corral.workflow { jobs = 2, halt = "now,fail=1" }
    wf:job("sleeper", { cmd = { "sleep", m } })
    wf:job("fails", { shell = "sleep 0.2; exit 1" })
    local report = wf:run()
    assert.are.equal("failed", report.records.fails.status)
    assert.are.equal("cancelled", report.records.sleeper.status)
    assert.are.equal(0, H.count(m))
  end)

  it("after a SIGKILL mid-run, resume reruns only what had not finished", function()
    local d = H.tmpdir()
    local c = H.run_script("workflow_resume.lua", d)
    -- killed once slow runs and the journal has the ends before it (written at most 2 ms later)
    local function journalled(names)
      local ok = {}
      for _, r in ipairs(joblog.read(d .. "/journal.jsonl") or {}) do ok[r.name] = r.status == "ok" end
      for _, n in ipairs(names) do if not ok[n] then return false end end
      return true
    end
    assert.is_true(H.poll(function()
      return count_of(H.lines(d .. "/count"), "slow") == 1 and journalled { "a", "b", "c" }
    end))
    c:signal_group("KILL")
    c:wait()
    -- a torn last line, as a crash mid-write leaves it
    local f = io.open(d .. "/journal.jsonl", "a"); f:write('{"name":"last","sta'); f:close()
    io.open(d .. "/gate", "w"):close()
    local c2 = H.run_script("workflow_resume.lua", d)
    assert.is_true(c2:expect("DONE true 5", 1, 20))
    assert.are.equal(0, c2:wait())
    local count = H.lines(d .. "/count")
    for _, name in ipairs { "a", "b", "c", "last" } do assert.are.equal(1, count_of(count, name), name) end
    assert.are.equal(2, count_of(count, "slow"))
    local oks = {}
    for _, r in ipairs(joblog.read(d .. "/journal.jsonl")) do
      if r.status == "ok" then oks[r.name] = (oks[r.name] or 0) + 1 end
    end
    assert.are.same({ a = 1, b = 1, c = 1, slow = 1, last = 1 }, oks)
  end)

  it("Ctrl-C cancels the run: every job's end is in the journal, exit 130", function()
    local d = H.tmpdir()
    local m = H.sleep_marker()
    local c = H.run_script("workflow_int.lua", d .. "/j.jsonl", "m=" .. m)
    assert.is_true(H.poll(function() return H.count(m) == 2 end))
    c:signal_group("INT")
    assert.are.equal(130, c:wait())
    local st = {}
    for _, r in ipairs(joblog.read(d .. "/j.jsonl")) do st[r.name] = r.status end
    assert.are.same({ s1 = "cancelled", s2 = "cancelled", after1 = "skipped", free = "skipped" }, st)
    assert.are.equal(0, H.count(m))
  end)

  it("a resumed job's values come from the journal", function()
    local d = H.tmpdir()
    local function run()
      local wf = corral.workflow { joblog = d .. "/j.jsonl", resume = true }
      wf:job("f", { fn = function() return 7, nil, "x" end })
      return wf:run().records.f
    end
    local first, second = run(), run()
    assert.is_nil(first.resumed)
    assert.is_true(second.resumed)
    assert.are.equal(3, second.values.n)
    assert.are.equal(7, second.values[1])
    assert.is_nil(second.values[2])
    assert.are.equal("x", second.values[3])
  end)

  it("reruns a job whose definition changed", function()
    local d = H.tmpdir()
    local function run(text)
      local wf = corral.workflow { joblog = d .. "/j.jsonl", resume = true }
      wf:job("j", { shell = text .. " >> " .. d .. "/out" })
      return wf:run()
    end
    run("echo one")
    run("echo one")
    run("echo two")
    assert.are.same({ "one", "two" }, H.lines(d .. "/out"))
  end)
end)
