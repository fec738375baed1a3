-- corral.workflow: a DAG of named jobs (commands, shell lines, Lua functions) run on corral's
-- pools, with a journal that makes a crashed or interrupted run resumable.
--
-- The journal is JSON lines (corral.joblog), one record per attempt, flushed as each attempt
-- ends; every record carries the job's name (`name`), `hash`, a digest of what the job runs,
-- and `after`, its dependencies. Start and run events (see corral.joblog) go there too.
-- Resume skips a job whose last record is "ok" with the same hash; anything else reruns.
-- Jobs whose dependencies did not succeed end "skipped"; `halt` is GNU parallel's (corral.workflow.halt).
local core = require "corral.core"
local loop = require "corral.loop"
local pool = require "corral.pool"
local joblog = require "corral.joblog"
local halt = require "corral.workflow.halt"
local errors = require "corral.errors"
local options = require "corral.options"

local M = {}
local Workflow = {}
Workflow.__index = Workflow
Workflow.__name = "corral.Workflow"

local function bad(fname, msg) errors.raise(("bad argument to '%s' (%s)"):format(fname, msg)) end

-- The options of workflow() and job() are checked by corral.options (a bad or unknown one
-- raises naming it, at the caller's line); the table itself is kept as given.
local function check_options(t, kind)
  options.check(kind, t, kind)
  return t or {}
end

-- workflow(opts) -> workflow
function M.new(opts)
  opts = check_options(opts, "workflow")
  return setmetatable({
    opts = opts, jobs = {}, order = {},
    halt = halt.parse(opts.halt),          -- raises on a malformed spec, now
  }, Workflow)
end

-- Canonical text of a value: sorted keys, typed scalars, so equal definitions hash equal.
local function canon(v, out)
  local t = type(v)
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      local ta, tb = type(a), type(b)
      if ta ~= tb then return ta < tb end
      return a < b
    end)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do canon(k, out); out[#out + 1] = "="; canon(v[k], out); out[#out + 1] = ";" end
    out[#out + 1] = "}"
  elseif t == "function" then
    out[#out + 1] = "f:" .. string.dump(v, true)   -- stripped: moving it in the file is no change
  else
    out[#out + 1] = t:sub(1, 1) .. ":" .. tostring(v)
  end
  return out
end

-- FNV-1a, 64 bits, as 16 hex digits: a stable digest without a crypto library.
local function digest(s)
  local h = -3750763034362895579                  -- 14695981039346656037 as a signed integer
  for i = 1, #s do
    h = (h ~ s:byte(i)) * 1099511628211
  end
  return ("%016x"):format(h)
end

-- job(name, spec): add a job. Exactly one of cmd (argv), shell (string), fn (function or
-- "module.fn", with args). after: names of jobs that must succeed first.
function Workflow:job(name, spec)
  if type(name) ~= "string" or name == "" then bad("job", "job name expected, got " .. tostring(name)) end
  if self.jobs[name] then bad("job", "job '" .. name .. "' is defined twice") end
  spec = check_options(spec, "job")
  local kinds = (spec.cmd and 1 or 0) + (spec.shell and 1 or 0) + (spec.fn and 1 or 0)
  if kinds ~= 1 then bad("job", "job '" .. name .. "' needs exactly one of cmd, shell, fn") end
  if spec.fn and type(spec.fn) ~= "function" and type(spec.fn) ~= "string" then
    bad("job", "job '" .. name .. "': fn must be a function or \"module.fn\"")
  end
  if spec.fn and (spec.cwd or spec.env) then
    bad("job", "job '" .. name .. "': cwd and env apply to commands, not to fn jobs")
  end
  if spec.args and not spec.fn then bad("job", "job '" .. name .. "': args go with fn") end
  local after = {}
  for i, dep in ipairs(spec.after or {}) do
    if type(dep) ~= "string" then bad("job", ("job '%s': after[%d] is not a job name"):format(name, i)) end
    after[i] = dep
  end
  local kind = spec.cmd and "exec" or spec.shell and "shell" or "lua"
  local what = { kind = kind, cmd = spec.cmd, shell = spec.shell, fn = spec.fn, args = spec.args,
                 cwd = spec.cwd, env = spec.env }
  local job = { name = name, spec = spec, kind = kind, after = after,
                hash = digest(table.concat(canon(what, {}))), index = #self.order + 1 }
  self.jobs[name] = job
  self.order[#self.order + 1] = job
  return self
end

-- Unknown dependencies and cycles are errors naming them, found before anything runs.
local function check_graph(self)
  for _, job in ipairs(self.order) do
    for _, dep in ipairs(job.after) do
      if not self.jobs[dep] then
        errors.raise(("workflow: job '%s' depends on unknown job '%s'"):format(job.name, dep))
      end
    end
  end
  local state = {}                 -- nil: unvisited, 1: on the path, 2: done
  local path = {}
  local function visit(job)
    if state[job] == 2 then return end
    if state[job] == 1 then
      local from
      for i, j in ipairs(path) do if j == job then from = i end end
      local names = {}
      for i = from, #path do names[#names + 1] = path[i].name end
      names[#names + 1] = job.name
      error("workflow: dependency cycle: " .. table.concat(names, " -> "), 0)
    end
    state[job] = 1
    path[#path + 1] = job
    for _, dep in ipairs(job.after) do visit(self.jobs[dep]) end
    path[#path] = nil
    state[job] = 2
  end
  for _, job in ipairs(self.order) do
    local ok, err = pcall(visit, job)
    if not ok then errors.raise(err) end
  end
end

-- The last journal record of each job name, for resume.
local function last_records(path)
  local recs = joblog.read(path)
  local last = {}
  for _, r in ipairs(recs or {}) do
    if type(r.name) == "string" then last[r.name] = r end
  end
  return last
end

-- What a workflow adds to each journal record: the job's hash (resume) and its dependencies
-- (`after`, omitted when none; corral report draws the critical path from it).
local function journal_extra(job)
  if not job then return nil end
  return { hash = job.hash, after = job.after[1] and job.after or nil }
end

local function pool_for(self, kind)
  self.pools = self.pools or {}
  local p = self.pools[kind]
  if not p then
    local o = self.opts
    p = pool.new {
      executor = kind, size = o.jobs or core.ncpu(), on_interrupt = o.on_interrupt,
      termseq = o.termseq, signals = o.signals, start = kind == "lua" and o.start or nil,
    }
    local log = self.log
    if log then   -- every attempt goes to the workflow's journal, with the job's hash
      p.joblog = {
        write = function(_, r)
          log:write(r, journal_extra(self.jobs[r.name]))
        end,
        started = function(_, f)
          local job = self.jobs[f.name]
          log:started(f, { hash = job and job.hash })
        end,
      }
    end
    self.pools[kind] = p
  end
  return p
end

local function submit(self, job)
  local s = job.spec
  local o = { name = job.name, timeout = s.timeout or self.opts.timeout,
              retries = s.retries or self.opts.retries, cwd = s.cwd, env = s.env }
  local p = pool_for(self, job.kind)
  if job.kind == "lua" then
    local args = s.args or {}
    return p:_submit(o, s.fn, table.unpack(args, 1, args.n or #args))
  end
  return p:_submit(o, s.cmd or s.shell)
end

-- A record for a job that did not run (skipped, halted, interrupted), journalled too.
local function unrun(self, job, status, err)
  local r = { id = 0, name = job.name, status = status, error = err, values = { n = 0 },
              attempt = 0, start = core.time(), duration = 0 }
  if self.log then self.log:write(r, journal_extra(job)) end
  return r
end

-- run() -> report { ok, counts, records = { [name] = record }, list, duration }.
-- Raises corral.Interrupted after an interrupt that cancelled the run (on_interrupt "cancel",
-- the default); the journal has every job's end first.
function Workflow:run()
  check_graph(self)
  local o = self.opts
  local t0 = loop.now()
  local prior = (o.resume and o.joblog) and last_records(o.joblog) or {}
  if o.joblog then
    local log, err = joblog.open(o.joblog)
    if not log then error(err, 2) end
    self.log = log
  end
  if self.halt then self.halt:set_total(#self.order) end
  local limit = o.jobs or core.ncpu()
  local records, list, counts = {}, {}, {}
  local running, nrunning = {}, 0          -- future -> job
  local waiting = {}                       -- future.waiters lists while blocked
  local stopped                            -- nil | reason no new job starts
  local bar
  if o.progress then
    local ok, progress = pcall(require, "corral.workflow.progress")
    if ok then bar = progress.new { total = #self.order, stream = io.stderr } end
  end
  local nfailed = 0

  local function finish(job, r)
    records[job.name] = r
    list[#list + 1] = r
    counts[r.status] = (counts[r.status] or 0) + 1
    if r.status ~= "ok" and r.status ~= "skipped" then nfailed = nfailed + 1 end
    if self.halt and not r.resumed and r.status ~= "skipped" then
      local h = self.halt:record(r.status)
      if h and not stopped then
        stopped = "halt: " .. self.halt.spec
        if h == "now" then
          for f in pairs(running) do f:cancel() end
        end
      end
    end
    if bar then bar:update { done = #list, running = nrunning, failed = nfailed } end
  end

  -- Resumed jobs first: their "ok" stands, nothing new is journalled for them.
  for _, job in ipairs(self.order) do
    local last = prior[job.name]
    if last and last.status == "ok" and last.hash == job.hash then
      last.resumed = true
      last.values = joblog.values(last)
      finish(job, last)
    end
  end

  -- The run's size for `corral status` (its ETA): the jobs this run has left to end.
  if self.log then
    self.log:event { event = "run", total = #self.order - #list, jobs = limit, start = core.time(),
                     pid = core.getpid(), host = joblog.HOST }
  end

  local function state_of(job)
    if records[job.name] then return "done" end
    for _, dep in ipairs(job.after) do
      local r = records[dep]
      if not r then return "blocked" end
      if r.status ~= "ok" then return "skip", dep end
    end
    return "ready"
  end

  while true do
    local progressed = true
    while progressed do                   -- settle skips, start what is ready
      progressed = false
      for _, job in ipairs(self.order) do
        if not records[job.name] and not job.future then
          local st, dep = state_of(job)
          if st == "skip" then
            finish(job, unrun(self, job, "skipped",
              ("dependency '%s' %s"):format(dep, records[dep].status)))
            progressed = true
          elseif (stopped or pool.interrupted_work) and st ~= "blocked" then
            -- (a job waiting for a running one waits for its end: then the rule above
            -- decides, not which of several ending jobs the loop happened to see first)
            finish(job, unrun(self, job, "cancelled", stopped or "interrupted"))
            progressed = true
          elseif st == "ready" and nrunning < limit then
            local f = submit(self, job)
            job.future = f
            running[f] = job
            nrunning = nrunning + 1
            progressed = true
          end
        end
      end
    end
    if nrunning == 0 then break end
    -- Wait for any running job to end.
    local done_f
    for f in pairs(running) do waiting[#waiting + 1] = f:_waiters() end
    loop.wait_for(function()
      for f in pairs(running) do if f:done() then done_f = f; return true end end
      return false
    end, nil, waiting)
    for i = #waiting, 1, -1 do waiting[i] = nil end
    local job = running[done_f]
    running[done_f] = nil
    nrunning = nrunning - 1
    finish(job, done_f.record)
  end

  if bar then bar:finish() end
  for _, p in pairs(self.pools or {}) do p:terminate() end
  self.pools = nil
  if self.log then self.log:close(); self.log = nil end
  if o.keep_order then
    table.sort(list, function(a, b) return self.jobs[a.name].index < self.jobs[b.name].index end)
  end
  local report = { ok = (counts.ok or 0) == #self.order, counts = counts, records = records,
                   list = list, duration = loop.now() - t0 }
  local mode = o.on_interrupt or "cancel"
  if pool.interrupted_work and mode == "cancel" and (counts.cancelled or 0) > 0 then
    error(errors.interrupted(pool.interrupted_work), 2)
  end
  return report
end

return M
