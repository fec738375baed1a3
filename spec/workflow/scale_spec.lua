-- Workflows at scale: 100 000 jobs are planned, scheduled, journalled and resumed in linear
-- time (the numbers are in docs/benchmarks.md, from scripts/bench/workflow.sh). A quadratic
-- step shows long before 100 000 jobs run: 10 000 jobs took 65 s before, so the fan-out that
-- runs has 20 000 (20 000² steps would blow its CPU bound by an order of magnitude), while
-- what costs no task (a plan, a chain skipped after its first job, a cycle) has 100 000.
local corral = require "corral"
local joblog = require "corral.joblog"
local H = require "helpers"

local N = 100000
local RUN = 20000

describe("a workflow of 100000 jobs", function()
  it("plans a fan-out of 100000 and its gather in linear time", function()
    local noop = function() end
    local t0 = os.clock()
    local wf = corral.workflow { jobs = 2 }
    local names = {}
    for i = 1, N do names[i] = "j" .. i; wf:job(names[i], { fn = noop }) end
    wf:job("gather", { fn = noop, after = names })
    local plan = wf:plan()
    local cpu = os.clock() - t0
    assert.are.equal(N + 1, #plan)
    assert.are.same({ name = "j" .. N, action = "run", reason = "never ran" }, plan[N])
    assert.are.same({ name = "gather", action = "run", reason = "dependency will run" }, plan[N + 1])
    -- about 5 µs per job on a quiet machine: 10 s leaves room for a loaded one, not for N²
    assert(cpu < 10, ("a plan of %d jobs took %.1f s of CPU"):format(N, cpu))
  end)

  it("runs a fan-out of 20000 and its gather, then resumes it from the journal, in linear time", function()
    local d = H.tmpdir()
    local journal = d .. "/j.jsonl"
    local noop = function() end
    local gather = function() return "gathered" end   -- one function: its line is in its hash
    local t0 = os.clock()
    local wf = corral.workflow { jobs = 2, joblog = journal, resume = true }
    local names = {}
    for i = 1, RUN do names[i] = "j" .. i; wf:job(names[i], { fn = noop }) end
    wf:job("gather", { fn = gather, after = names })
    local report = wf:run()
    local cpu = os.clock() - t0
    assert.is_true(report.ok)
    assert.are.equal(RUN + 1, report.counts.ok)
    assert.are.equal("gathered", report.records.gather.values[1])
    assert.are.equal("gather", report.list[#report.list].name)   -- it waited for all of them
    -- about 1.2 s on a quiet machine: 15 s leaves room for a loaded one, not for N²
    assert(cpu < 15, ("%d jobs took %.1f s of CPU"):format(RUN, cpu))

    -- Resume: every job's last record is "ok" with the same definition, so nothing runs.
    t0 = os.clock()
    local wf2 = corral.workflow { jobs = 2, joblog = journal, resume = true }
    for i = 1, RUN do wf2:job(names[i], { fn = noop }) end
    wf2:job("gather", { fn = gather, after = names })
    local again = wf2:run()
    cpu = os.clock() - t0
    assert.is_true(again.ok)
    assert.is_true(again.records.j1.resumed)
    assert.is_true(again.records.gather.resumed)
    assert.are.equal("gathered", again.records.gather.values[1])
    assert(cpu < 8, ("resume of %d jobs took %.1f s of CPU"):format(RUN, cpu))
    local n = 0
    for _ in io.lines(journal) do n = n + 1 end
    assert.are.equal(2 * (RUN + 1) + 2, n)   -- a start line and a record per job, a run event each time
  end)

  it("checks a chain of 100000 and skips all of it after its first job fails, without recursion", function()
    local d = H.tmpdir()
    local t0 = os.clock()
    local wf = corral.workflow { jobs = 2, joblog = d .. "/j.jsonl" }
    local noop = function() end
    wf:job("j1", { fn = function() error("first fails") end })
    for i = 2, N do wf:job("j" .. i, { fn = noop, after = { "j" .. (i - 1) } }) end
    local report = wf:run()
    assert(os.clock() - t0 < 30, "a chain of 100000 that runs one job took over 30 s of CPU")
    assert.are.equal("failed", report.records.j1.status)
    assert.are.equal(N - 1, report.counts.skipped)
    assert.are.equal("dependency 'j" .. (N - 1) .. "' skipped", report.records["j" .. N].error)
    local recs = joblog.read(d .. "/j.jsonl")
    assert.are.equal(N, #recs)
    assert.are.equal("j" .. N, recs[N].name)                -- skipped in chain order
  end)

  it("names a cycle at the end of a chain of 100000", function()
    local wf = corral.workflow {}
    wf:job("j1", { shell = "true", after = { "j" .. N } })
    for i = 2, N do wf:job("j" .. i, { shell = "true", after = { "j" .. (i - 1) } }) end
    local ok, err = pcall(wf.run, wf)
    assert.is_false(ok)
    local want = ("workflow: dependency cycle: j1 -> j%d -> j%d -> "):format(N, N - 1)
    assert.is_truthy(tostring(err):find(want, 1, true), tostring(err):sub(1, 200))
    assert.is_truthy(tostring(err):find(" -> j2 -> j1", 1, true))
  end)
end)
