-- corral.pool: a bounded set of running tasks, a queue, and the policy around them
-- (timeouts, retries, cancel, interrupt, terminate). Executor-agnostic: an executor's runner
-- starts a task and reports its end; the pool turns that into one final record per task.
local core = require "corral.core"
local loop = require "corral.loop"
local options = require "corral.options"
local future = require "corral.future"
local errors = require "corral.errors"
local executors = require "corral.executors"
local settings = require "corral.launch.settings"
-- The runners (corral.launch.commands, corral.lua.workers, corral.slurm), the journal and
-- chunked maps are required where first used: a script loads only what it uses.

local M = {}
local Pool = {}
Pool.__index = Pool
Pool.__name = "corral.Pool"

local HOST = settings.HOST

-- Interrupts that cancelled work anywhere in this Lua state (read by `corral run`).
M.interrupted_work = nil

-- Set by `corral run --dry-run`: no task starts; each ends "cancelled" ("dry run: not run")
-- when it would have started (a workflow's run() shows its plan instead: corral.workflow).
M.dry_run = nil

local NO_OPTS = {}                  -- a lua task submitted without options (read only)

local RETRYABLE = { failed = true, signaled = true, timeout = true, lost = true }

function M.new(opts)
  local o = options.check("pool", opts, "pool")
  o.executor = o.executor or "shell"
  if o.preload and o.start ~= "forkserver" then
    errors.raise("bad option 'preload' to 'pool' (only used with start = \"forkserver\")")
  end
  if o.executor == "lua" and (o.cgroup or o.limits) then
    errors.raise(("bad option '%s' to 'pool' (command pools only: shell, exec)"):format(o.cgroup and "cgroup" or "limits"))
  end
  if o.slurm and o.launcher ~= "slurm" then
    errors.raise("bad option 'slurm' to 'pool' (only with launcher = \"slurm\")")
  end
  local self = setmetatable({
    opts = o,
    kind = executors[o.executor],
    size = o.size or core.ncpu(),
    termseq = o.termseq or require("corral.launch.group").parse("TERM,200,KILL"),
    on_interrupt = o.on_interrupt or "cancel",
    retries = o.retries or 0,
    signals = o.signals ~= false,
    env = settings.environment(o.env, o.clearenv),
    queue = {}, qhead = 1, qtail = 0, npending = 0,
    running = {}, nrunning = 0,
    counts = { submitted = 0 },
    idle_waiters = {},
    next_id = 0, catching = false,
  }, Pool)
  self.on_signal = function(sig) return self:_on_signal(sig) end
  self.returns_record = self.kind.returns_record
  self.on_end = function(f, h, values) return self:_ended(f, h, values) end
  self.on_began = function(f, h, at) f.start = at; return self:_began(f, h) end
  self.on_batch = function(f, h, r) return f.chunk:batch(f, h, r) end
  self.pump_deferred = function() self.pump_pending = false; self:_pump() end
  local workers = o.executor == "lua" and require "corral.lua.workers"
  self.runner = workers or require("corral.launch.commands")[o.executor]
  if workers then workers.init(self) end
  if o.launcher == "slurm" then require("corral.slurm").setup(self)
  elseif workers then workers.prestart(self) end
  if o.joblog then
    local log, err = require("corral.joblog").open(o.joblog)
    if not log then error(err, 2) end
    self.joblog = log
  end
  return self
end

local function idle(self) return self.nrunning == 0 and self.npending == 0 end

-- Signals are caught only while the pool has work, so an idle script keeps its usual Ctrl-C.
local function update_signals(self)
  if idle(self) then
    if self.catching then
      loop.remove_signal_handler(self.on_signal)
      self.catching = false
    end
    loop.wake_all(self.idle_waiters)
  elseif self.signals and not self.catching then
    loop.add_signal_handler(self.on_signal)
    self.catching = true
  end
end

local function settle(self, f, record)
  if f.chunk then                         -- a chunk of a map: its items have the records
    f.chunk:ended(f, record)
    return f:settle(record)
  end
  local c = self.counts
  c[record.status] = (c[record.status] or 0) + 1
  if self.joblog then self.joblog:write(record, nil, f) end   -- (no extra fields; the future)
  f:settle(record)
end

local function base_record(self, f, status, err)
  return {
    id = f.id, name = f.name, status = status, error = err, values = { n = 0 },
    host = HOST, attempt = f.attempt or 0, start = core.time(), duration = 0,
  }
end

-- A task that never ran (cancelled while pending, or refused by the OS at start).
local function settle_unrun(self, f, status, err, interrupted)
  local r = base_record(self, f, status, err)
  r.interrupted = interrupted
  settle(self, f, r)
end

local function outcome(f, h)
  if f.cancelled then return "cancelled", f.cancel_reason end
  if f.timed_out then return "timeout", ("timed out after %gs"):format(f.timeout) end
  if h.start_error then return "error", h.start_error end      -- a slurm step never started
  if h.lost then return "lost", h.lost end
  if h.failure then return "failed", h.failure end
  if h.signal then return "signaled" end
  if h.code and h.code ~= 0 then return "failed" end
  return "ok"
end

-- _ended(f, h [, values]): the runner's on_end; a lua task's values come with it.
function Pool:_ended(f, h, values)
  self.running[f] = nil
  self.nrunning = self.nrunning - 1
  if f.timer then loop.cancel_timer(f.timer) end
  f.handle = nil
  if h.unstarted then                     -- a lua task that never began in its worker
    f.attempt = f.attempt - 1
    if f.cancelled then
      settle_unrun(self, f, "cancelled", f.cancel_reason, f.interrupted)
    elseif self.stopping then
      settle_unrun(self, f, "cancelled", self.stopping == "terminate" and "terminated" or "interrupted",
        self.stopping == "cancel" and self.interrupted or nil)
    else                                  -- its worker went away: run it elsewhere, first
      f.state = "pending"
      self.npending = self.npending + 1
      self.qhead = self.qhead - 1
      self.queue[self.qhead] = f
    end
    return self:_pump_soon()
  end
  local status, err = outcome(f, h)
  -- Only the fields every record has, then those this one has: a record is allocated at the
  -- size it needs (map makes one per task).
  local r = {
    id = f.id, name = f.name, status = status, values = values or { n = 0 }, pid = h.pid,
    host = h.host or HOST, attempt = f.attempt, start = f.start,
    duration = (h.ended_at or loop.now()) - h.started_at,
  }
  if h.code then r.code = h.code end
  if h.signal then r.signal = h.signal end
  if err or h.note then r.error = err or h.note end
  if h.rusage then r.rusage = h.rusage end
  if h.oom then r.oom = h.oom end
  if h.traceback then r.traceback = h.traceback end
  if f.interrupted then r.interrupted = f.interrupted end
  r.stdout, r.stderr = h:output("out"), h:output("err")   -- nil for lua tasks: no key
  if RETRYABLE[status] and f.attempt <= f.retries and not self.stopping then
    if self.joblog then self.joblog:write(r, nil, f) end
    f.state = "pending"
    f.timed_out = nil
    self.npending = self.npending + 1
    self.qhead = self.qhead - 1           -- a retry goes to the front of the queue
    self.queue[self.qhead] = f
  else
    settle(self, f, r)
  end
  self:_pump_soon()
end

function Pool:_start(f)
  f.attempt = (f.attempt or 0) + 1
  f.start = core.time()
  if M.dry_run then return settle_unrun(self, f, "cancelled", "dry run: not run") end
  local h, err = self.runner.start(self, f, self.on_end)
  if not h then
    settle_unrun(self, f, "error", err)
    return
  end
  f.handle, f.state, f.pid, f.pgid = h, "running", h.pid, h.pgid
  self.running[f] = h
  self.nrunning = self.nrunning + 1
  if not h.queued then self:_began(f, h) end
end

-- _began(f, h): the attempt runs now. A lua task begins when its worker starts it (the runner
-- calls pool.on_began then, with the worker's clock reading): its record's start, its start
-- event in the journal and its timeout all count from there.
function Pool:_began(f, h)
  if self.joblog and self.joblog.started and not f.chunk then self.joblog:started(f) end   -- for corral status
  if f.timeout then
    f.timer = loop.timer(f.timeout, function()
      if f.handle == h and h:stop(f.termseq) then f.timed_out = true end
    end)
  end
end

-- Room for one more task (f, the head of the queue: Slurm agents place it by its cpus):
-- `size` running for commands; lua workers also take tasks ahead.
function Pool:_room(f)
  if self.runner.has_room then return self.runner.has_room(self, f) end
  return self.nrunning < self.size
end

-- After a task ends: the pump runs once at the end of this loop step, whatever number of
-- tasks ended in it (a worker's reply brings many); at once when the pool is now idle, so
-- joiners wake and the signals are given back without waiting for another step.
function Pool:_pump_soon()
  if idle(self) then return self:_pump() end
  if self.pump_pending then return end
  self.pump_pending = true
  loop.defer(self.pump_deferred)
end

function Pool:_pump()
  local q = self.queue
  while self.qhead <= self.qtail do
    local f = q[self.qhead]
    if f.state == "pending" then
      if self.stopping or not self:_room(f) then break end
      self.npending = self.npending - 1
      self:_start(f)
    end
    q[self.qhead] = nil
    self.qhead = self.qhead + 1
  end
  update_signals(self)
end

-- submit(task [, opts]) -> future. A command pool's task is an argv table ("exec") or a
-- string ("shell"), with per-task options.
-- A lua pool's task is a function or "module.fn" followed by its arguments.
function Pool:submit(task, ...)
  if self.closed then error("submit on a closed pool", 2) end
  if self.kind.lua then
    local frame, name = self.kind.prepare(task, "submit", ...)
    return self:_enqueue(frame, name, NO_OPTS)
  end
  local argv, name = self.kind.prepare(task, "submit")
  return self:_enqueue(argv, name, options.check("task", (...), "submit"))
end

-- _submit(opts, task, ...): submit with checked per-task options, lua tasks included (the
-- workflow's path: a lua task's name, timeout and retries).
function Pool:_submit(o, task, ...)
  if self.closed then error("submit on a closed pool", 2) end
  local argv, name = self.kind.prepare(task, "submit", ...)
  return self:_enqueue(argv, name, options.check("task", o, "submit"))
end

function Pool:_enqueue(task, name, o)
  if o.cpus and self.opts.launcher ~= "slurm" then
    errors.raise("bad option 'cpus' to 'submit' (only with launcher = \"slurm\")")
  end
  self.next_id = self.next_id + 1
  local f = future.new(self, self.next_id, o.name or name, task, o, o.timeout or self.opts.timeout,
    o.termseq or self.termseq, o.retries or self.retries)
  self.counts.submitted = self.counts.submitted + 1
  if self.stopping then
    f.cancelled = true
    settle_unrun(self, f, "cancelled", "interrupted", self.stopping == "cancel" and self.interrupted or nil)
    return f
  end
  return self:_queue(f)
end

-- _queue(f): f waits for room (a chunk of a map comes here directly).
function Pool:_queue(f)
  self.qtail = self.qtail + 1
  self.queue[self.qtail] = f
  self.npending = self.npending + 1
  -- Tasks already waiting means no room: the next task end pumps (map submits thousands).
  if self.npending == 1 then self:_pump() end
  return f
end

function Pool:_cancel(f, reason, interrupted)
  if f.state == "pending" then
    f.cancelled = true
    f.state = "cancelled"       -- _pump drops it from the queue
    self.npending = self.npending - 1
    settle_unrun(self, f, "cancelled", reason or "cancelled before start", interrupted)
    update_signals(self)
    return true
  end
  local h = f.handle
  if f.state == "running" and h then
    if h:stop(f.termseq) then
      if not f.timed_out then
        f.cancelled, f.cancel_reason, f.interrupted = true, reason or "cancelled", interrupted
      end
      return true
    end
  end
  return false
end

function Pool:_kill(f, sig)
  local h = f.handle
  if f.state == "running" and h then return h:send(sig) end
  return false
end

local function pending_futures(self)
  local list = {}
  for i = self.qhead, self.qtail do
    local f = self.queue[i]
    if f and f.state == "pending" then list[#list + 1] = f end
  end
  return list
end

-- cancel_all(reason, interrupted): pending ones never start; running groups get termseq.
local function cancel_all(self, reason, interrupted, running_too)
  for _, f in ipairs(pending_futures(self)) do self:_cancel(f, reason, interrupted) end
  for f, h in pairs(self.running) do      -- queued in a worker: not started, cancel like pending
    if running_too or h.queued then self:_cancel(f, reason, interrupted) end
  end
end

-- INT follows on_interrupt; TERM and HUP always cancel. A repeated signal escalates:
-- drain -> cancel -> KILL.
function Pool:_on_signal(sig)
  local mode = sig == "INT" and self.on_interrupt or "cancel"
  if mode == "forward" then
    for _, h in pairs(self.running) do h:send("INT") end
    return
  end
  if self.stopping == "cancel" then
    for f, h in pairs(self.running) do
      if not f.cancelled and not f.timed_out then
        f.cancelled, f.cancel_reason, f.interrupted = true, "interrupted", sig
      end
      h:stop(f.termseq); h:stop(f.termseq)   -- started, then hurried to its last signal
    end
    return
  end
  if mode == "drain" and not self.stopping then
    self.stopping = "drain"
    M.interrupted_work = M.interrupted_work or sig
    cancel_all(self, "interrupted", nil, false)
    return
  end
  self.stopping = "cancel"
  self.interrupted = sig
  M.interrupted_work = M.interrupted_work or sig
  cancel_all(self, "interrupted", sig, true)
end

-- join([seconds]): wait until every submitted task has its final record.
function Pool:join(seconds)
  local ok = loop.wait_for(function() return idle(self) end,
    seconds and loop.now() + seconds, { self.idle_waiters })
  if self.interrupted and self.stopping == "cancel" then error(errors.interrupted(self.interrupted), 2) end
  return ok
end

function Pool:close()
  self.closed = true
end

-- terminate(): cancel pending tasks, end every running group, return once all are reaped.
function Pool:terminate()
  self.closed = true
  local was = self.stopping
  self.stopping = self.stopping or "terminate"
  cancel_all(self, "terminated", nil, true)
  loop.run_until(function() return idle(self) end)
  if self.runner.shutdown then self.runner.shutdown(self, true) end
  if was == nil then self.stopping = nil end
  if self.joblog and self.joblog.close then self.joblog:close() end   -- nothing more can end
  return true
end

function Pool:stats()
  local c = self.counts
  local s = { size = self.size, submitted = c.submitted, running = self.nrunning,
              pending = self.npending }
  local done = 0
  for k, v in pairs(c) do
    if k ~= "submitted" then s[k] = v; done = done + v end
  end
  s.done = done
  return s
end

-- map / imap / imap_unordered / as_completed --------------------------------

local function submit_list(self, a, b, fname)
  local fs = {}
  if self.returns_record then
    if type(a) ~= "table" then error(("bad argument #1 to '%s' (list of tasks expected)"):format(fname), 3) end
    for i, t in ipairs(a) do fs[i] = self:submit(t) end
  else
    if type(b) ~= "table" then error(("bad argument #2 to '%s' (list expected)"):format(fname), 3) end
    for i, x in ipairs(b) do fs[i] = self:submit(a, x) end
  end
  return fs
end

local function value_of(self, f, r)
  if self.returns_record then return r end
  return r.values[1]
end

-- A failure ends the whole map: cancel the rest, wait for their groups, then raise.
local function fail_rest(fs, r)
  for _, f in ipairs(fs) do f:cancel() end
  for _, f in ipairs(fs) do f:wait() end
  error(errors.task_error(r), 3)
end

-- on_settle(fs, fn): fn(f) once for each future of fs as it ends (at once for ended ones).
local function on_settle(fs, fn)
  for _, f in ipairs(fs) do
    if f:done() then fn(f) else f:_on_settle(fn) end
  end
end

-- map: the values (records) in list order; the first task to end not "ok", in the order they
-- end, cancels the rest and raises.
-- chunked(self, fn, list, opts, fname) -> chunk size | nil; fn's name
local function chunked(self, fn, list, opts, fname)
  if self.returns_record then
    if list ~= nil then
      error(("bad argument #2 to '%s' (a command pool's %s takes only the list of tasks)"):format(fname, fname), 3)
    end
    return nil
  end
  if type(list) ~= "table" then return nil end      -- submit_list names the bad argument
  local size = require("corral.chunks").size(self, #list, opts, fname)
  if not size then return nil end
  local _, name = self.kind.prepare(fn, fname)
  return size, name
end

function Pool:map(a, b, opts)
  local size, name = chunked(self, a, b, opts, "map")
  if size then return require("corral.chunks").map(self, a, b, size, name) end
  local fs = submit_list(self, a, b, "map")
  local left, failed, waiters = #fs, nil, {}
  on_settle(fs, function(f)
    left = left - 1
    if not failed and f.record.status ~= "ok" then failed = f end
    if failed or left == 0 then loop.wake_all(waiters) end
  end)
  loop.wait_for(function() return failed ~= nil or left == 0 end, nil, { waiters })
  if failed then fail_rest(fs, failed.record) end
  local out = {}
  for i, f in ipairs(fs) do out[i] = value_of(self, f, f.record) end
  return out
end

function Pool:imap(a, b, opts)
  local size, name = chunked(self, a, b, opts, "imap")
  if size then return require("corral.chunks").imap(self, a, b, size, name) end
  local fs = submit_list(self, a, b, "imap")
  local i = 0
  return function()
    i = i + 1
    local f = fs[i]
    if not f then return nil end
    local r = f:wait()
    if r.status ~= "ok" then fail_rest(fs, r) end
    return i, value_of(self, f, r)
  end
end

-- as_completed(futures): an iterator over them in the order they end.
function M.as_completed(fs)
  local ended, head, tail, waiters = {}, 1, 0, {}
  local n = #fs
  on_settle(fs, function(f)
    tail = tail + 1
    ended[tail] = f
    loop.wake_all(waiters)
  end)
  return function()
    if head > n then return nil end
    loop.wait_for(function() return head <= tail end, nil, { waiters })
    local f = ended[head]
    ended[head] = nil
    head = head + 1
    return f
  end
end

function Pool:as_completed(fs) return (M.as_completed(fs)) end

function Pool:imap_unordered(a, b, opts)
  local size, name = chunked(self, a, b, opts, "imap_unordered")
  if size then return require("corral.chunks").imap_unordered(self, a, b, size, name) end
  local fs = submit_list(self, a, b, "imap_unordered")
  local index = {}
  for i, f in ipairs(fs) do index[f] = i end
  local nextf = M.as_completed(fs)
  return function()
    local f = nextf()
    if not f then return nil end
    local r = f:wait()
    if r.status ~= "ok" then fail_rest(fs, r) end
    return index[f], value_of(self, f, r)
  end
end

-- <close>: join on a normal exit, terminate on an error; then the pool's workers exit.
function Pool:__close(err)
  local ok, e = true, nil
  if err ~= nil then self:terminate() else ok, e = pcall(self.join, self) end
  self.closed = true
  if self.runner.shutdown then self.runner.shutdown(self, not ok) end
  if self.joblog and self.joblog.close then self.joblog:close() end
  if not ok then error(e, 0) end
end

-- Collected (or the Lua state closing) with work still running: nothing may survive it.
function Pool:__gc()
  for _, h in pairs(self.running or {}) do h:kill_now() end
  if self.runner and self.runner.kill_now then self.runner.kill_now(self) end
  if self.catching then loop.remove_signal_handler(self.on_signal); self.catching = false end
end

return M
