-- Workflows at scale: 100 000 jobs are planned, scheduled, journalled and resumed in linear
-- time (the numbers are in docs/benchmarks.md, from scripts/bench/workflow.sh): a fan-out of
-- 100 000 fn jobs and their gather run and resume; a plan, a chain skipped after its first
-- job and a cycle have 100 000 jobs too. (A quadratic step would show long before: 10 000 jobs
-- took 65 s before the scheduler was linear.)
local corral = require "corral"
local joblog = require "corral.joblog"
local H = require "helpers"

local N = 100000

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

  it("runs a fan-out of 100000 and its gather, then resumes it from the journal, in linear time", function()
    local d = H.tmpdir()
    local journal = d .. "/j.jsonl"
    local items = {}
    for i = 1, N do items[i] = i end
    local function define()
      local wf = corral.workflow { jobs = 2, joblog = journal, resume = true }
      wf:each("fan", items, function(i) return { fn = function(x) return x end, args = { i } } end)
      -- in the worker: the N values, each where its item is
      wf:job("gather", { after = { "fan" }, fn = function(list)
        for i = 1, #list do if list[i] ~= i then return false, i end end
        return true, #list
      end })
      return wf
    end
    local t0 = os.clock()
    local report = define():run()
    local cpu = os.clock() - t0
    assert.is_true(report.ok)
    assert.are.equal(N + 1, report.counts.ok)
    for i = 1, N do
      local r = report.records["fan[" .. i .. "]"]
      if r.status ~= "ok" or r.values[1] ~= i then error(("fan[%d]: %s %s"):format(i, r.status, tostring(r.values[1]))) end
    end
    -- the gather got the N values, in item order
    assert.are.same({ n = 2, true, N }, report.records.gather.values)
    assert.are.equal("gather", report.list[#report.list].name)   -- it waited for all of them
    -- about 7 s on a quiet machine (docs/benchmarks.md); N² steps would take hours
    assert(cpu < 25, ("%d jobs took %.1f s of CPU"):format(N, cpu))
    local recs = joblog.read(journal)
    assert.are.equal(N + 1, #recs)                            -- a record per job
    local got = {}
    for _, r in ipairs(recs) do
      local i = tonumber(r.name:match("^fan%[(%d+)%]$"))
      if i then got[i] = r.values[1] end
    end
    for i = 1, N do assert(got[i] == i, ("journal: fan[%d] has %s"):format(i, tostring(got[i]))) end

    -- Resume: every job's last record is "ok" with the same definition, so nothing runs.
    t0 = os.clock()
    local again = define():run()
    cpu = os.clock() - t0
    assert.is_true(again.ok)
    assert.is_true(again.records["fan[1]"].resumed)
    assert.is_true(again.records.gather.resumed)
    assert.are.same({ n = 2, true, N }, again.records.gather.values)
    assert(cpu < 10, ("resume of %d jobs took %.1f s of CPU"):format(N, cpu))
    local n = 0
    for _ in io.lines(journal) do n = n + 1 end
    assert.are.equal(2 * (N + 1) + 2, n)   -- a start line and a record per job, a run event each time
  end)

  it("keeps a job in about a third of a kilobyte, and its record in about two thirds more", function()
    -- docs/api.md (wf:run) states the memory a job costs; the names and the one spec are the
    -- script's, made before counting. A job's table is eight slots (sixteen would be 0.5 KB).
    local n = 10000
    local names, spec = {}, { fn = function() end }
    for i = 1, n do names[i] = "j" .. i end
    local function kb() collectgarbage(); collectgarbage(); return collectgarbage("count") end
    local k0 = kb()
    local wf = corral.workflow { jobs = 2 }
    for i = 1, n do wf:job(names[i], spec) end
    local k1 = kb()
    local report = wf:run()
    local k2 = kb()
    assert.is_true(report.ok)
    local defined, ran = (k1 - k0) * 1024 / n, (k2 - k1) * 1024 / n
    assert(defined < 400, ("a job defined takes %.0f bytes"):format(defined))
    assert(ran < 700, ("a job's record takes %.0f bytes"):format(ran))
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
