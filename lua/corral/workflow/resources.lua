-- corral.workflow.resources: a workflow's CPU and memory budget, and each job's share of it.
--
-- `corral.workflow{ cpus = N, memory = "8G" }` is the budget (default: this machine's CPUs, or
-- `jobs` when larger, and MemTotal; on Slurm the CPUs the same way and no memory budget unless given); `wf:job(name,
-- { cpus = 2, memory = "2G" })` a job's share (default 1 CPU and 0 bytes). A job starts only
-- while the running jobs' shares and its own fit the budget.
--
-- Not starving a large job: the scheduler takes ready jobs strictly in queue order, and when
-- the job at the head does not fit it starts nothing behind it until enough running jobs have
-- ended (head-of-line blocking, what Slurm's plain FIFO scheduler does). corral does not know
-- how long a job will run, so it cannot backfill a small job without risking to delay the
-- large one indefinitely; the cost is idle CPUs while the large job waits for room.
--
-- Not for enforcing anything: the pools do that (a memory limit in cgroup mode, srun -c --mem).
local core = require "corral.core"
local errors = require "corral.errors"

local M = {}

local UNITS = { [""] = 1, K = 1 << 10, M = 1 << 20, G = 1 << 30, T = 1 << 40, P = 1 << 50 }

-- size(v) -> bytes (an integer) | nil: a number of bytes, or "512M", "2G", "1.5G", "64K",
-- "100" (binary units, as Slurm's --mem; "2GB", "2GiB" and "2g" read the same).
function M.size(v)
  if math.type(v) == "integer" then return v >= 0 and v or nil end
  if type(v) == "number" then
    if v >= 0 and v < 2^62 and v == math.floor(v) then return math.tointeger(v) end
    return nil
  end
  if type(v) ~= "string" then return nil end
  local num, unit = v:match("^%s*(%d+%.?%d*)%s*(%a*)%s*$")
  if not num then return nil end
  unit = unit:upper():gsub("I?B$", "")
  local mult = UNITS[unit]
  if not mult then return nil end
  local n = tonumber(num) * mult
  if n >= 2^62 then return nil end
  return math.ceil(n)
end

-- The machine's memory: MemTotal of /proc/meminfo, in bytes (nil when unreadable).
local function machine_memory()
  local f = io.open("/proc/meminfo")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local kb = text:match("MemTotal:%s*(%d+)%s*kB")
  return kb and tonumber(kb) * 1024
end

local function human(bytes)
  for _, u in ipairs { "P", "T", "G", "M", "K" } do
    local m = UNITS[u]
    if bytes >= m and bytes % m == 0 then return ("%d%s"):format(bytes // m, u) end
  end
  return ("%d bytes"):format(bytes)
end

local function bad(fname, msg) errors.raise(("bad argument to '%s' (%s)"):format(fname, msg)) end

-- budget(opts) -> { cpus, memory } for corral.workflow(opts); raises on a bad cpus or memory.
-- memory is nil when there is no memory budget (Slurm without one).
function M.budget(opts)
  local cpus, memory = opts.cpus, nil
  if opts.slurm and opts.launcher ~= "slurm" then
    errors.raise("bad option 'slurm' to 'workflow' (only with launcher = \"slurm\")")
  end
  if opts.cgroup and opts.launcher == "slurm" then
    errors.raise("bad option 'cgroup' to 'workflow' (not with launcher = \"slurm\": Slurm tracks each step)")
  end
  if cpus ~= nil and (math.type(cpus) ~= "integer" or cpus < 1) then
    errors.raise(("bad option 'cpus' to 'workflow' (positive integer expected, got %s)"):format(tostring(cpus)))
  end
  if opts.memory ~= nil then
    memory = M.size(opts.memory)
    if not memory or memory == 0 then
      errors.raise(("bad option 'memory' to 'workflow' (a size expected: bytes or \"512M\", \"8G\"; got %s)")
        :format(type(opts.memory) == "string" and ('"' .. opts.memory .. '"') or tostring(opts.memory)))
    end
  elseif opts.launcher ~= "slurm" then
    memory = machine_memory()
  end
  -- no cpus given: this machine's, or `jobs` when it asks for more (jobs = 8 of I/O-bound
  -- 1-CPU jobs on 2 cores still runs 8 at once, as it did before there was a budget)
  return { cpus = cpus or math.max(core.ncpu(), opts.jobs or 0), memory = memory }
end

-- job(budget, name, spec, fname) -> cpus, memory of a job; raises naming the job when a value
-- is malformed or the job could never fit the budget.
function M.job(budget, name, spec, fname)
  local cpus, mem = spec.cpus, spec.memory
  if cpus == nil then cpus = 1
  elseif math.type(cpus) ~= "integer" or cpus < 1 then
    bad(fname, ("job '%s': cpus must be a positive integer, got %s"):format(name, tostring(cpus)))
  end
  if mem == nil then mem = 0
  else
    local m = M.size(mem)
    if not m then
      bad(fname, ("job '%s': memory must be bytes or a size like \"512M\", \"2G\"; got %s"):format(name,
        type(mem) == "string" and ('"' .. mem .. '"') or tostring(mem)))
    end
    mem = m
  end
  if cpus > budget.cpus then
    bad(fname, ("job '%s' needs %d CPUs, the workflow has %d"):format(name, cpus, budget.cpus))
  end
  if budget.memory and mem > budget.memory then
    bad(fname, ("job '%s' needs %s of memory, the workflow has %s"):format(name, human(mem), human(budget.memory)))
  end
  return cpus, mem
end

-- A run's accounting: what the running jobs hold.
local Use = {}
Use.__index = Use

function M.use(budget)
  return setmetatable({ cpus = budget.cpus, memory = budget.memory or math.huge, ucpus = 0, umemory = 0 }, Use)
end

-- share(job) -> cpus, memory the job holds: a job keeps them only when they are not the
-- defaults, 1 CPU and no memory (its table stays at eight slots: see the workflow's define).
function M.share(job) return job.cpus or 1, job.memory or 0 end
local share = M.share

-- take(job) -> true when the job fits beside the running ones (and is now counted), else false.
function Use:take(job)
  local c, m = share(job)
  if self.ucpus + c > self.cpus or self.umemory + m > self.memory then return false end
  self.ucpus, self.umemory = self.ucpus + c, self.umemory + m
  return true
end

function Use:give(job)
  local c, m = share(job)
  self.ucpus, self.umemory = self.ucpus - c, self.umemory - m
end

-- Where a job's share goes --------------------------------------------------------------------
-- Locally the workflow's scheduler is the only gate (a pool's size is the workflow's `jobs`,
-- which defaults to the cpus budget), and with `cgroup` on a command job's memory is also its
-- limit (limits.memory: a memory cgroup). On Slurm (`launcher = "slurm"`) every pool of the
-- workflow runs in one allocation of `cpus` CPUs (`salloc -n cpus`): the first pool's; the
-- others join it with `srun --overlap` (the workflow, not Slurm, shares the CPUs out). Shell
-- jobs run as `/bin/sh -c` on the exec pool there, so a command workflow is one pool.

local function on_slurm(wf) return wf.opts.launcher == "slurm" end
local function agents(wf) return not (wf.opts.slurm and wf.opts.slurm.agents == false) end

-- pool_options(wf, kind, base) -> base with what the budget and the launcher add.
function M.pool_options(wf, kind, base)
  local o = wf.opts
  base.size = wf.limit
  if kind ~= "lua" then base.cgroup = o.cgroup end
  if on_slurm(wf) then
    base.launcher = "slurm"
    local s = {}
    for k, v in pairs(o.slurm or {}) do s[k] = v end
    if wf.jobid then
      s.jobid = wf.jobid
      s.srun_extra = table.move(s.srun_extra or {}, 1, #(s.srun_extra or {}), 1, { "--overlap" })
    end
    base.slurm = s
    base.size = wf.budget.cpus                 -- the allocation's CPUs
  end
  return base
end

-- pool_made(wf, pool): the first Slurm pool's allocation is the workflow's.
function M.pool_made(wf, pool)
  if on_slurm(wf) and not wf.jobid then wf.jobid, wf.owner = pool.slurm.jobid, pool end
end

-- task_options(wf, job, o) -> the pool kind to run the job on, and its task when that differs
-- from the job's own; o (the task's options) gets cpus and limits.memory where they apply.
function M.task_options(wf, job, o)
  local kind = job.kind
  local cpus, mem = share(job)
  if on_slurm(wf) then
    o.cpus = cpus
    -- steps: srun --mem; agents: the workflow's accounting only (an agent's step holds its node)
    if mem > 0 and kind ~= "lua" and not agents(wf) then o.limits = { memory = mem } end
    if kind == "shell" then return "exec", { "/bin/sh", "-c", job.spec.shell } end
    return kind
  end
  if mem > 0 and kind ~= "lua" and wf.opts.cgroup then o.limits = { memory = mem } end
  return kind
end

-- terminate(pools): every pool ends; the one that owns the Slurm allocation last. An idle
-- Slurm pool first lets its agents exit on their own (terminate would cancel their steps).
local function finish(p)
  if p.slurm and p.nrunning == 0 and p.npending == 0 and p.runner.shutdown then
    p.closed = true
    p.runner.shutdown(p, false)
  end
  p:terminate()
end

function M.terminate(pools)
  local owner
  for _, p in pairs(pools) do
    if p.slurm and p.slurm.owned then owner = p else finish(p) end
  end
  if owner then finish(owner) end
end

return M
