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
local graph = require "corral.workflow.graph"
local files = require "corral.workflow.files"
local resources = require "corral.workflow.resources"
local errors = require "corral.errors"
local options = require "corral.options"

local M = {}
local EMPTY = {}
local Workflow = {}
Workflow.__index = Workflow
Workflow.__name = "corral.Workflow"

local function bad(fname, msg) errors.raise(("bad argument to '%s' (%s)"):format(fname, msg)) end

-- The options of workflow() and job() are checked by corral.options (a bad or unknown one
-- raises naming it, at the caller's line); the table itself is kept as given. fname: the
-- function named in the error (each() checks its jobs' options as "job" options).
local function check_options(t, kind, fname)
  options.verify(kind, t, fname or kind)
  return t or {}
end

-- workflow(opts) -> workflow
function M.new(opts)
  opts = check_options(opts, "workflow")
  local budget = resources.budget(opts)   -- cpus, memory: raises on a bad one, now
  return setmetatable({
    budget = budget, limit = opts.jobs or budget.cpus,
    opts = opts, jobs = {}, order = {}, groups = {},
    halt = halt.parse(opts.halt),          -- raises on a malformed spec, now
  }, Workflow)
end

-- A function's bytecode stripped of debug info (the line it starts on is still in it), dumped
-- once per function: a fan-out defines thousands of jobs with the same one.
local dumped = setmetatable({}, { __mode = "k", __index = function(t, f)
  local s = "f:" .. string.dump(f, true)
  t[f] = s
  return s
end })

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  return a < b
end

-- Canonical text of a value: sorted keys, typed scalars, so equal definitions hash equal.
-- Its pieces go to out[n + 1], ...; returns the new n.
local function canon(v, out, n)
  local t = type(v)
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, key_less)
    n = n + 1; out[n] = "{"
    for _, k in ipairs(keys) do
      n = canon(k, out, n)
      n = n + 1; out[n] = "="
      n = canon(v[k], out, n)
      n = n + 1; out[n] = ";"
    end
    n = n + 1; out[n] = "}"
  elseif t == "function" then
    n = n + 1; out[n] = dumped[v]
  elseif t == "string" then
    n = n + 1; out[n] = "s:" .. v
  else
    n = n + 1; out[n] = t:sub(1, 1) .. ":" .. tostring(v)
  end
  return n
end

-- The canonical text of what a job runs: canon{ args =, cmd =, cwd =, env =, fn =, inputs =,
-- kind =, outputs =, shell = } without building that table (the keys are written in canon's
-- sorted order), as pieces out[1..n]; returns n.
local WHAT = { "args", "cmd", "cwd", "env", "fn", "inputs", "kind", "outputs", "shell" }
local KEY = {}
for i, k in ipairs(WHAT) do KEY[i] = "s:" .. k end
local function definition(spec, kind, out)
  out[1] = "{"
  local n = 1
  for i = 1, #WHAT do
    local k = WHAT[i]
    local v = k == "kind" and kind or spec[k]
    if v ~= nil then
      n = n + 1; out[n] = KEY[i]
      n = n + 1; out[n] = "="
      n = canon(v, out, n)
      n = n + 1; out[n] = ";"
    end
  end
  n = n + 1; out[n] = "}"
  return n
end

-- FNV-1a, 64 bits, as 16 hex digits: a stable digest without a crypto library. Eight bytes
-- per s:byte call.
local P = 1099511628211
local function fnv(s)
  local h = -3750763034362895579                  -- 14695981039346656037 as a signed integer
  local n = #s
  local i = 1
  while i + 7 <= n do
    local a, b, c, e, f, g, k, l = s:byte(i, i + 7)
    h = (((((((((((((((h ~ a) * P) ~ b) * P) ~ c) * P) ~ e) * P) ~ f) * P) ~ g) * P) ~ k) * P) ~ l) * P
    i = i + 8
  end
  for j = i, n do h = (h ~ s:byte(j)) * P end
  return ("%016x"):format(h)
end

-- hash(spec, kind) -> the digest of the job's definition. Its pieces go to one of two scratch
-- tables (nothing allocated per job for them); pieces equal one by one to the last
-- definition's (a fan-out's jobs often are: the same function, the same strings) give the last
-- digest without joining or hashing the text again.
local pieces, last_pieces, last_n, last_digest = {}, {}, -1, nil
local function hash(spec, kind)
  local n = definition(spec, kind, pieces)
  if n == last_n then
    local same = true
    for i = 1, n do
      if pieces[i] ~= last_pieces[i] then same = false; break end
    end
    if same then return last_digest end
  end
  last_digest = fnv(table.concat(pieces, "", 1, n))
  last_n = n
  pieces, last_pieces = last_pieces, pieces
  return last_digest
end

-- define(self, name, spec, fname): add a job for job() and each(); errors name the script's
-- line that called them (corral.errors.raise).
local function define(self, name, spec, fname)
  if type(name) ~= "string" or name == "" then bad(fname, "job name expected, got " .. tostring(name)) end
  if self.jobs[name] or self.groups[name] then bad(fname, "job '" .. name .. "' is defined twice") end
  spec = check_options(spec, "job", fname)
  local kinds = (spec.cmd and 1 or 0) + (spec.shell and 1 or 0) + (spec.fn and 1 or 0)
  if kinds ~= 1 then bad(fname, "job '" .. name .. "' needs exactly one of cmd, shell, fn") end
  if spec.fn and type(spec.fn) ~= "function" and type(spec.fn) ~= "string" then
    bad(fname, "job '" .. name .. "': fn must be a function or \"module.fn\"")
  end
  if spec.fn and (spec.cwd or spec.env) then
    bad(fname, "job '" .. name .. "': cwd and env apply to commands, not to fn jobs")
  end
  if spec.args and not spec.fn then bad(fname, "job '" .. name .. "': args go with fn") end
  local after = EMPTY                     -- shared by the jobs without any: never written to
  local deps = spec.after
  if deps and deps[1] ~= nil then
    after = {}
    for i, dep in ipairs(deps) do
      if type(dep) ~= "string" then bad(fname, ("job '%s': after[%d] is not a job name"):format(name, i)) end
      after[i] = dep
    end
  end
  local kind = spec.cmd and "exec" or spec.shell and "shell" or "lua"
  -- Eight fields, the run's `p` and the graph's `dependents` among them: a table of eight
  -- slots, not sixteen (a job is the largest thing a workflow keeps per job). What only some
  -- jobs have comes on top: files (inputs, outputs), a share other than 1 CPU and no memory
  -- (cpus, memory), `declared` (the names as written, when after names a group or files add
  -- dependencies) and `gathers`.
  local job = { name = name, spec = spec, kind = kind, after = after, hash = hash(spec, kind),
                index = #self.order + 1, p = nil, dependents = nil }
  if files.define(job, spec, fname) then self.files = true end   -- inputs, outputs
  local cpus, memory = resources.job(self.budget, name, spec, fname)
  if cpus ~= 1 then job.cpus = cpus end
  if memory ~= 0 then job.memory = memory end
  self.jobs[name] = job
  self.order[#self.order + 1] = job
  return job
end

-- job(name, spec): add a job. Exactly one of cmd (argv), shell (string), fn (function or
-- "module.fn", with args). after: names of jobs (or of each() groups) that must succeed first.
function Workflow:job(name, spec)
  define(self, name, spec, "job")
  return self
end

-- each(name, items, make): one job per item, make(item, i) -> its spec; named name[i] unless
-- the spec has a `name`. `after = { name }` elsewhere waits for all of them, and an fn job
-- gets, after its args, the list of their first values in item order.
function Workflow:each(name, items, make)
  if type(name) ~= "string" or name == "" then bad("each", "group name expected, got " .. tostring(name)) end
  if self.jobs[name] or self.groups[name] then bad("each", "'" .. name .. "' is defined twice") end
  if type(items) ~= "table" then bad("each", ("group '%s': list of items expected, got %s"):format(name, type(items))) end
  if type(make) ~= "function" then bad("each", ("group '%s': function expected, got %s"):format(name, type(make))) end
  local members = {}
  self.groups[name] = members
  for i, item in ipairs(items) do
    local spec = make(item, i)
    if type(spec) ~= "table" then
      bad("each", ("group '%s': item %d gave %s, not a job spec"):format(name, i, type(spec)))
    end
    local jname = spec.name
    if jname ~= nil then                  -- the name is ours, not a job option
      local copy = {}
      for k, v in pairs(spec) do if k ~= "name" then copy[k] = v end end
      spec = copy
    end
    members[i] = define(self, jname or ("%s[%d]"):format(name, i), spec, "each").name
  end
  return self
end

-- The last journal record of each job name, for resume; and the last of an attempt that ran
-- (not a skipped, halted or interrupted job's), for jobs with outputs.
local function last_records(path)
  local recs = joblog.read(path)
  local last, ran = {}, {}
  for _, r in ipairs(recs or {}) do
    if type(r.name) == "string" then
      last[r.name] = r
      if type(r.attempt) == "number" and r.attempt > 0 then ran[r.name] = r end
    end
  end
  return last, ran
end

-- What a workflow adds to each journal record: the job's hash (resume) and its dependencies
-- (`after`, omitted when none; corral report draws the critical path from it).
-- One table, refilled for each record (joblog copies it into the line): a run writes a record
-- per job.
local extra = { hash = nil, after = nil, cpus = nil, memory = nil }
local function journal_extra(job)
  if not job then return nil end
  -- cpus and memory: what the job held of the budget, for corral report (memory when any)
  local cpus, memory = resources.share(job)
  extra.hash, extra.after, extra.cpus = job.hash, job.after[1] and job.after or nil, cpus
  extra.memory = memory > 0 and memory or nil
  return extra
end
local start_extra = { hash = nil }

local function pool_for(self, kind)
  self.pools = self.pools or {}
  local p = self.pools[kind]
  if not p then
    local o = self.opts
    p = pool.new(resources.pool_options(self, kind, {
      executor = kind, on_interrupt = o.on_interrupt,
      termseq = o.termseq, signals = o.signals, start = kind == "lua" and o.start or nil,
    }))
    resources.pool_made(self, p)
    local log = self.log
    -- Every attempt goes to the workflow's journal, with the job's hash. The job is found
    -- from the future among the running ones (a small table) rather than by name among all
    -- (a large one: a cache miss per look); a command job starts inside submit, before it is
    -- among the running, hence the second look.
    local function job_of(f, name) return self.running and self.running[f] or self.jobs[name] end
    if log or self.files then
      p.joblog = {
        write = function(_, r, _, f)
          local job = job_of(f, r.name)
          if job and job.outputs then files.ended(job, r) end   -- missing outputs, partial ones
          if log then log:write(r, journal_extra(job)) end
        end,
        started = log and function(_, f)
          local job = job_of(f, f.name)
          start_extra.hash = job and job.hash
          log:started(f, start_extra)
        end,
      }
    end
    self.pools[kind] = p
  end
  return p
end

-- The args of an fn job after groups: its own, then per group the list of the members' first
-- values in item order (every member ended "ok", or the job would have been skipped).
local function gathered_args(job, records)
  local s = job.spec
  local own = s.args or {}
  local n = own.n or #own
  local args = table.move(own, 1, n, 1, {})
  for _, members in ipairs(job.gathers) do
    local list = {}
    for i, m in ipairs(members) do list[i] = records[m].values[1] end
    n = n + 1
    args[n] = list
  end
  args.n = n
  return args
end

-- The task options, one table refilled for each job: the pool keeps a checked copy
-- (corral.options.check), not this one.
local task_opts = { name = nil, timeout = nil, retries = nil, cwd = nil, env = nil, cpus = nil,
                    limits = nil }
local function submit(self, job, records)
  local s = job.spec
  local o = task_opts
  o.name, o.timeout, o.retries = job.name, s.timeout or self.opts.timeout, s.retries or self.opts.retries
  o.cwd, o.env, o.cpus, o.limits = s.cwd, s.env, nil, nil
  local kind, task = resources.task_options(self, job, o)   -- cpus, memory: where they go
  local p = pool_for(self, kind)
  if job.kind == "lua" then
    local args = job.gathers and gathered_args(job, records) or s.args or EMPTY
    return p:_submit(o, s.fn, table.unpack(args, 1, args.n or #args))
  end
  return p:_submit(o, task or s.cmd or s.shell)
end

-- A record for a job that did not run (skipped, halted, interrupted), journalled too.
local function unrun(self, job, status, err)
  local r = { id = 0, name = job.name, status = status, error = err, values = { n = 0 },
              attempt = 0, start = core.time(), duration = 0 }
  if self.log then self.log:write(r, journal_extra(job)) end
  return r
end

-- The graph checked (with the files' implied dependencies) -> the jobs in dependency order.
local function checked(self)
  if self.files then files.link(self.order) end
  return graph.check(self.jobs, self.order, self.groups)
end

-- The journal's last records: for resume, and for the definition of jobs with outputs (read
-- then without resume too: make's rule is "with the journal's hash").
local function prior_records(self)
  local o = self.opts
  if o.joblog and (o.resume or self.files) then return last_records(o.joblog) end
  return {}, {}
end

-- decide(self, topo, prior, ran) -> { [name] = plan entry }: each job's action and reason, in
-- dependency order (a job with outputs runs when a dependency will).
local function decide(self, topo, prior, ran)
  local resume = self.opts.resume
  local entry = {}
  for _, job in ipairs(topo) do
    local deps_run = false
    for _, dep in ipairs(job.after) do
      if entry[dep].action == "run" then deps_run = true; break end
    end
    local action, reason = "run", "never ran"
    local last = prior[job.name]
    if job.outputs then
      action, reason = files.decide(job, ran[job.name], deps_run)
    elseif not resume or not last then
      if deps_run then reason = "dependency will run" end
    elseif last.status == "ok" and last.hash == job.hash then
      action, reason = "skip", "resumed"
    elseif last.hash ~= job.hash then
      reason = "definition changed"
    else
      reason = "last run " .. tostring(last.status)
    end
    entry[job.name] = { name = job.name, action = action, reason = reason }
  end
  return entry
end

local function in_order(self, entry)
  local out = {}
  for i, job in ipairs(self.order) do out[i] = entry[job.name] end
  return out
end

-- plan() -> { { name, action = "run" | "skip", reason }, ... } in definition order: what run()
-- would do, from the graph, the files and the journal, without running anything.
function Workflow:plan()
  local topo = checked(self)
  return in_order(self, decide(self, topo, prior_records(self)))
end

-- run() -> report { ok, counts, records = { [name] = record }, list, duration }.
-- Raises corral.Interrupted after an interrupt that cancelled the run (on_interrupt "cancel",
-- the default); the journal has every job's end first.
--
-- Linear in jobs + dependencies: each job keeps `p`, the index in its `after` of the first
-- dependency not yet known to be "ok", moved on only when that dependency ends (so a job is
-- skipped as soon as the first dependency that did not succeed is decided, as before); jobs
-- whose `p` passes the end go on a ready queue; ended futures arrive on a queue of their own.
function Workflow:run()
  local topo = checked(self)
  local o = self.opts
  local t0 = loop.now()
  local prior, ran = prior_records(self)
  -- With files every job is decided before any runs; a dry run (corral run --dry-run) stops here.
  local entry = (self.files or pool.dry_run) and decide(self, topo, prior, ran)
  if pool.dry_run then
    local report = require("corral.workflow.dryrun").show(in_order(self, entry), 2)
    return report                        -- not a tail call: show() names the script's line
  end
  -- INT, TERM and HUP stay caught for the whole run, not only while a pool has work: a pool
  -- between two jobs would give them back and take them again (a signalfd and its epoll
  -- registration made and closed, the mask set and reset: seven system calls a time, about
  -- once per job at `jobs = 2`). The pools' handlers act on them; this one has nothing to do
  -- (the scheduler waits only while a job runs, so a pool with work hears every signal).
  local held = o.signals ~= false and loop.catch_signals(function() end) or nil
  local _ <close> = held and setmetatable({}, { __close = held }) or nil
  if o.joblog then
    local log, err = joblog.open(o.joblog, { buffered = true })   -- written once a loop turn
    if not log then error(err, 2) end
    self.log = log
  end
  local order = self.order
  if self.halt then self.halt:set_total(#order) end
  local limit = self.limit
  local use = resources.use(self.budget)   -- the running jobs' cpus and memory
  -- records and list at their final size: filled one job at a time, they would be rehashed
  -- (every name again) at each power of two
  local records, list, counts = core.newtable(0, #order), core.newtable(#order, 0), {}
  local running, nrunning = {}, 0          -- future -> job
  self.running = running
  local stopped                            -- nil | reason no new job starts
  local bar
  if o.progress then
    local ok, progress = pcall(require, "corral.workflow.progress")
    if ok then bar = progress.new { total = #order, stream = io.stderr } end
  end
  local nfailed = 0
  local ready, rhead, rtail = {}, 1, 0     -- jobs whose dependencies all ended "ok"
  local ended, ehead, etail = {}, 1, 0     -- jobs ended, their dependents not yet looked at
  local done, dhead, dtail = {}, 1, 0      -- futures settled, not yet taken in
  local waiters = {}
  local wait_on = { waiters }              -- what the run waits on (one list, made once)
  local function on_settle(f)
    dtail = dtail + 1
    done[dtail] = f
    loop.wake_all(waiters)
  end
  local function any_done() return dhead <= dtail end

  local function finish(job, r)
    job.p = 0                              -- ended: no dependency's end moves it (after[0] is nil)
    records[job.name] = r
    list[#list + 1] = r
    etail = etail + 1
    ended[etail] = job
    counts[r.status] = (counts[r.status] or 0) + 1
    if r.status ~= "ok" and r.status ~= "skipped" then nfailed = nfailed + 1 end
    if self.halt and not r.resumed and not r.uptodate and r.status ~= "skipped" then
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

  -- advance(job): move job.p past dependencies that ended "ok"; a job that can go on is
  -- queued, one after a dependency that did not succeed is skipped.
  local function advance(job)
    local after, p = job.after, job.p
    while p <= #after do
      local dep = after[p]
      local r = records[dep]
      if not r then job.p = p; return end
      if r.status ~= "ok" then
        job.p = p
        return finish(job, unrun(self, job, "skipped", ("dependency '%s' %s"):format(dep, r.status)))
      end
      p = p + 1
    end
    job.p = p                              -- past the end: queued (or started, or ended)
    rtail = rtail + 1
    ready[rtail] = job
  end

  -- Resumed jobs first: their "ok" stands, nothing new is journalled for them.
  -- Up-to-date jobs (outputs) likewise: a record of their own, not journalled.
  for _, job in ipairs(order) do
    job.p = 1
    local last = prior[job.name]
    local e = entry and entry[job.name]
    if e and e.reason == "up to date" then
      finish(job, files.uptodate(job, ran[job.name]))
    elseif (not e or e.reason == "resumed") and o.resume
        and last and last.status == "ok" and last.hash == job.hash then
      last.resumed = true
      last.values = joblog.values(last)
      finish(job, last)
    end
  end
  for i = 1, etail do ended[i] = nil end   -- their dependents are all looked at just below
  ehead, etail = 1, 0

  -- The run's size for `corral status` (its ETA): the jobs this run has left to end.
  if self.log then
    self.log:event { event = "run", total = #order - #list, jobs = limit, start = core.time(),
                     pid = core.getpid(), host = joblog.HOST }
  end
  for _, job in ipairs(order) do
    if job.p ~= 0 then advance(job) end    -- (not resumed, not up to date)
  end

  while true do
    -- Dependents of the jobs that ended: only a job waiting on exactly this one can move.
    while ehead <= etail do
      local job = ended[ehead]
      ended[ehead] = nil
      ehead = ehead + 1
      local name = job.name
      for _, d in ipairs(job.dependents or EMPTY) do
        if d.after[d.p] == name then advance(d) end   -- (queued: p past the end; ended: 0)
      end
    end
    ehead, etail = 1, 0                    -- (see below)
    -- Start what is ready; after a halt or an interrupt, cancel it instead.
    -- (a job waiting for a running one waits for its end: then the rule above decides)
    while rhead <= rtail do
      local job = ready[rhead]
      if stopped or pool.interrupted_work then
        finish(job, unrun(self, job, "cancelled", stopped or "interrupted"))
      elseif nrunning < limit and use:take(job) then   -- the head waits for room: no starving
        local f = submit(self, job, records)
        running[f] = job
        nrunning = nrunning + 1
        if f:done() then on_settle(f) else f:_on_settle(on_settle) end
      else
        break
      end
      ready[rhead] = nil
      rhead = rhead + 1
    end
    if rhead > rtail then rhead, rtail = 1, 0 end   -- (see below)
    if ehead <= etail then goto continue end
    if nrunning == 0 then break end
    loop.wait_for(any_done, nil, wait_on)
    while dhead <= dtail do
      local f = done[dhead]
      done[dhead] = nil
      dhead = dhead + 1
      local job = running[f]
      running[f] = nil
      nrunning = nrunning - 1
      use:give(job)
      finish(job, f.record)
    end
    -- An emptied queue starts again at 1: its few entries stay in the table's array part (at
    -- ever higher indices they would go to its hash part, rebuilt every few insertions).
    dhead, dtail = 1, 0
    ::continue::
  end

  if bar then bar:finish() end
  resources.terminate(self.pools or {})
  self.pools, self.running = nil, nil
  if self.log then self.log:close(); self.log = nil end
  if o.keep_order then
    local jobs = self.jobs
    table.sort(list, function(a, b) return jobs[a.name].index < jobs[b.name].index end)
  end
  local report = { ok = (counts.ok or 0) == #order, counts = counts, records = records,
                   list = list, duration = loop.now() - t0 }
  local mode = o.on_interrupt or "cancel"
  if pool.interrupted_work and mode == "cancel" and (counts.cancelled or 0) > 0 then
    error(errors.interrupted(pool.interrupted_work), 2)
  end
  return report
end

return M
