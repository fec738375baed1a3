-- Workflow resources: `cpus` and `memory` per job against the workflow's budget. Packing is
-- measured from the journal's start times and durations of real processes; bad values raise
-- naming the job, before anything runs.
local corral = require "corral"
local core = require "corral.core"
local joblog = require "corral.joblog"
local H = require "helpers"

local G, M = 1 << 30, 1 << 20

-- The journal's records by name, each with `stop` = start + duration.
local function journal(path)
  local by = {}
  for _, r in ipairs(joblog.read(path)) do
    r.stop = r.start + r.duration
    by[r.name] = r
  end
  return by
end

-- The cpus and memory held at each job's start by the jobs running then (itself included);
-- their peaks. A job counts as running from its start to its end (2 ms of clock slack: the
-- journal's start is taken before the spawn and its duration after).
local function loads(recs, share)
  local peak_c, peak_m, worst = 0, 0, nil
  for name, r in pairs(recs) do
    local c, m = 0, 0
    for other, o in pairs(recs) do
      if o.start <= r.start and o.stop > r.start + 0.002 or other == name then
        c, m = c + share[other].cpus, m + (share[other].memory or 0)
      end
    end
    if c > peak_c then peak_c, worst = c, name end
    if m > peak_m then peak_m = m end
  end
  return peak_c, peak_m, worst
end

describe("workflow resources", function()
  it("never runs more cpus or memory at once than the budget, and fills it", function()
    local d = H.tmpdir()
    local wf = corral.workflow { cpus = 4, memory = "1G", joblog = d .. "/j.jsonl" }
    local share = {}
    local shapes = { { 1, "256M" }, { 2, 256 * M }, { 3, "0.25G" }, { 1, "512M" }, { 2, "512M" },
                     { 1, 268435456 } }
    for i = 1, 12 do
      local s = shapes[(i - 1) % #shapes + 1]
      local name = "j" .. i
      wf:job(name, { shell = "sleep 0.15", cpus = s[1], memory = s[2] })
      share[name] = { cpus = s[1], memory = type(s[2]) == "number" and s[2]
                      or ({ ["256M"] = 256 * M, ["0.25G"] = 256 * M, ["512M"] = 512 * M })[s[2]] }
    end
    local report = wf:run()
    assert.is_true(report.ok)
    local recs = journal(d .. "/j.jsonl")
    local peak_c, peak_m, at = loads(recs, share)
    assert.is_true(peak_c <= 4, ("%d cpus running at %s's start"):format(peak_c, at))
    assert.is_true(peak_m <= G, ("%d bytes running"):format(peak_m))
    -- and it did run jobs side by side up to the budget (4 cpus, or 1G)
    assert.is_true(peak_c >= 3 or peak_m >= 768 * M, "peak " .. peak_c .. " cpus, " .. peak_m .. " bytes")
  end)

  it("memory alone limits: three 400M jobs in a 1G budget run two at a time", function()
    local d = H.tmpdir()
    local wf = corral.workflow { cpus = 8, memory = G, joblog = d .. "/j.jsonl" }
    local share = {}
    for i = 1, 4 do
      wf:job("m" .. i, { shell = "sleep 0.15", memory = "400M" })
      share["m" .. i] = { cpus = 1, memory = 400 * M }
    end
    assert.is_true(wf:run().ok)
    local peak_c, peak_m = loads(journal(d .. "/j.jsonl"), share)
    assert.are.equal(2, peak_c)
    assert.are.equal(800 * M, peak_m)
  end)

  it("a large job is not starved: nothing behind it starts until it has room", function()
    local d = H.tmpdir()
    local wf = corral.workflow { cpus = 2, joblog = d .. "/j.jsonl" }
    wf:job("s1", { shell = "sleep 0.1" })
    wf:job("s2", { shell = "sleep 0.4" })
    wf:job("big", { shell = "sleep 0.1", cpus = 2 })
    for i = 3, 6 do wf:job("s" .. i, { shell = "sleep 0.3" }) end
    assert.is_true(wf:run().ok)
    local recs = journal(d .. "/j.jsonl")
    -- s1 ends first with s2 still running: big does not fit, and s3.. wait behind it
    assert.is_true(recs.big.start >= recs.s2.stop - 0.002, "big started beside s2")
    for i = 3, 6 do
      assert.is_true(recs["s" .. i].start >= recs.big.stop - 0.002,
        ("s%d started at +%.3f s, before big ended (+%.3f s)"):format(i,
          recs["s" .. i].start - recs.s1.start, recs.big.stop - recs.s1.start))
    end
  end)

  it("jobs defaults to the cpus budget: cpus = 3 runs three 1-cpu jobs at once on any machine", function()
    local d = H.tmpdir()
    local wf = corral.workflow { cpus = 3, joblog = d .. "/j.jsonl" }
    local share = {}
    for i = 1, 6 do
      wf:job("t" .. i, { shell = "sleep 0.2" })
      share["t" .. i] = { cpus = 1 }
    end
    assert.is_true(wf:run().ok)
    local peak = loads(journal(d .. "/j.jsonl"), share)
    assert.are.equal(3, peak)
  end)

  it("jobs above the machine's CPUs, no cpus given: the budget follows jobs (all run at once)", function()
    local d = H.tmpdir()
    local n = core.ncpu() + 2
    local wf = corral.workflow { jobs = n, joblog = d .. "/j.jsonl" }
    local share = {}
    for i = 1, n do
      wf:job("t" .. i, { shell = "sleep 0.3" })
      share["t" .. i] = { cpus = 1 }
    end
    assert.is_true(wf:run().ok)
    assert.are.equal(n, loads(journal(d .. "/j.jsonl"), share))
  end)

  it("a job bigger than the budget is an error naming it, before anything runs", function()
    local d = H.tmpdir()
    local wf = corral.workflow { cpus = 2, memory = "1G" }
    wf:job("first", { shell = "touch " .. d .. "/ran" })
    assert.has_error(function() wf:job("wide", { shell = "true", cpus = 3 }) end,
      "bad argument to 'job' (job 'wide' needs 3 CPUs, the workflow has 2)")
    assert.has_error(function() wf:job("fat", { shell = "true", memory = G + 1 }) end,
      "bad argument to 'job' (job 'fat' needs 1073741825 bytes of memory, the workflow has 1G)")
    assert.has_error(function() wf:job("fat2", { shell = "true", memory = "1025M" }) end,
      "bad argument to 'job' (job 'fat2' needs 1025M of memory, the workflow has 1G)")
    assert.has_error(function()
      wf:each("many", { 1, 2 }, function(i) return { shell = "true", cpus = i * 2 } end)
    end, "bad argument to 'each' (job 'many[2]' needs 4 CPUs, the workflow has 2)")
    -- exactly the budget fits
    wf:job("whole", { shell = "true", cpus = 2, memory = "1024M" })
    assert.is_nil(io.open(d .. "/ran"))
  end)

  it("defaults: the machine's CPUs and memory", function()
    local wf = corral.workflow {}
    local n = core.ncpu()
    assert.has_error(function() wf:job("x", { shell = "true", cpus = n + 1 }) end,
      ("bad argument to 'job' (job 'x' needs %d CPUs, the workflow has %d)"):format(n + 1, n))
    wf:job("y", { shell = "true", cpus = n })
    local f = assert(io.open("/proc/meminfo"))
    local kb = tonumber(f:read("a"):match("MemTotal:%s*(%d+)"))
    f:close()
    wf:job("z", { shell = "true", memory = kb * 1024 })
    assert.has_error(function() wf:job("w", { shell = "true", memory = kb * 1024 + 1 }) end)
  end)

  it("bad cpus and memory raise naming the job or the option", function()
    local wf = corral.workflow { cpus = 4 }
    local function job_err(spec, msg)
      spec.shell = "true"
      assert.has_error(function() wf:job("bad", spec) end, "bad argument to 'job' (job 'bad': " .. msg .. ")")
    end
    job_err({ cpus = 0 }, "cpus must be a positive integer, got 0")
    job_err({ cpus = 1.5 }, "cpus must be a positive integer, got 1.5")
    job_err({ cpus = "2" }, "cpus must be a positive integer, got 2")
    job_err({ memory = "lots" }, 'memory must be bytes or a size like "512M", "2G"; got "lots"')
    job_err({ memory = -1 }, 'memory must be bytes or a size like "512M", "2G"; got -1')
    job_err({ memory = "2X" }, 'memory must be bytes or a size like "512M", "2G"; got "2X"')
  end)

  it("bad workflow budgets raise naming the option", function()
    assert.has_error(function() corral.workflow { cpus = 0 } end,
      "bad option 'cpus' to 'workflow' (positive integer expected, got 0)")
    assert.has_error(function() corral.workflow { memory = "lots" } end,
      "bad option 'memory' to 'workflow' (a size expected: bytes or \"512M\", \"8G\"; got \"lots\")")
    assert.has_error(function() corral.workflow { memory = 0 } end,
      "bad option 'memory' to 'workflow' (a size expected: bytes or \"512M\", \"8G\"; got 0)")
    assert.has_error(function() corral.workflow { slurm = { agents = true } } end,
      "bad option 'slurm' to 'workflow' (only with launcher = \"slurm\")")
    assert.has_error(function() corral.workflow { launcher = "mars" } end)
  end)

  it("sizes: 512M, 2G, 1.5G, 64K and plain bytes", function()
    local wf = corral.workflow { memory = "2G", cpus = 1 }
    wf:job("a", { shell = "true", memory = "2G" })
    wf:job("b", { shell = "true", memory = "2048M" })
    wf:job("c", { shell = "true", memory = "1.5G" })
    wf:job("d", { shell = "true", memory = "64K" })
    wf:job("e", { shell = "true", memory = 2 * G })
    wf:job("f", { shell = "true", memory = "2GiB" })
    assert.has_error(function() wf:job("g", { shell = "true", memory = "2097153K" }) end,
      "bad argument to 'job' (job 'g' needs 2097153K of memory, the workflow has 2G)")
  end)

  it("with cgroup mode a command job's memory is its limit", function()
    local v1, v2 = false, false
    for line in io.lines("/proc/self/mountinfo") do
      local fstype, o = line:match(" %- (%S+) %S+ (%S+)")
      if fstype == "cgroup" and (("," .. o .. ","):find(",memory,", 1, true)) then v1 = true end
      if fstype == "cgroup2" then
        local mount = line:match("^%S+ %S+ %S+ %S+ (%S+)")
        local f = io.open(mount .. "/cgroup.controllers")
        if f then v2 = (f:read("a") or ""):find("memory", 1, true) ~= nil; f:close() end
      end
    end
    if not (v1 or v2) then pending("no memory controller (cgroup v2 or v1)") return end
    local wf = corral.workflow { cgroup = "auto", cpus = 2 }
    wf:job("hog", { shell = "exec tail /dev/zero", memory = "64M" })
    wf:job("fine", { shell = "head -c 10M /dev/zero | tail | wc -c", memory = "64M" })
    local report = wf:run()
    local hog = report.records.hog
    assert.are.equal("signaled", hog.status)
    assert.is_true(hog.oom)
    assert.are.equal(("out of memory (limit %d bytes)"):format(64 * M), hog.error)
    assert.are.equal("ok", report.records.fine.status)
    -- without cgroup mode memory is the budget's only: the same hog's smaller cousin runs
    local wf2 = corral.workflow { cpus = 1 }
    wf2:job("big", { shell = "head -c 100M /dev/zero | tail | wc -c", memory = "64M" })
    local r = wf2:run().records.big
    assert.are.equal("ok", r.status)
    assert.are.equal(100 * M, tonumber(r.stdout))
  end)
end)
