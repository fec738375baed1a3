-- corral.lua.workers: a pool's lua worker processes, seen from the parent; the runner of the
-- "lua" executor. A worker is a process group (spawned `lua5.4`, or a fork of this process)
-- that speaks the wire protocol on two pipes: frames in on its fd 3, out on its fd 4 (see
-- corral.lua.worker for the protocol).
--
-- Tasks are pipelined: several are sent to a worker ahead, so a busy pool never waits a
-- round trip between tasks. How many follows the tasks' run time (see depth_after): short
-- tasks go up to 64 deep, long ones one at a time, so no worker holds more than about a
-- millisecond of work that another, idle, worker could have done. Every task still gets an
-- exact record, because the worker says when each task starts (START, with its own clock
-- reading): before that a task is "queued" (its future says "pending") — cancelling it sends
-- a cancel frame and the worker skips it (it never runs), and if the worker loses it before
-- reading it the pool runs it elsewhere; after START it is running — cancel,
-- timeout and terminate end the worker's whole group (so what the task started with
-- os.execute or io.popen dies with it), and a worker that dies under it gives "lost" with
-- the cause. A fresh worker takes over.
--
-- A task is written to its worker inside submit when the pool is not in a loop step (so it
-- starts while the script goes on); inside a step, frames are batched into one write per
-- worker at the end of the step.
local core = require "corral.core"
local loop = require "corral.loop"
local proc = require "corral.launch.proc"
local luacmd = require "corral.launch.luacmd"

local M = {}
local Worker = {}
Worker.__index = Worker
local Task = {}
Task.__index = Task

local EXIT_FRAME
local DEPTH_MAX = 64        -- tasks in one worker's pipeline, at most
local DEPTH_START = 2       -- ... before any task's run time is known
local AHEAD = 0.001         -- seconds of (estimated) work a worker may hold

-- depth_after(ws, seconds): a task ran this long; the pipeline depth for the next ones, from
-- a moving average of run times (as the parent sees them: START to reply).
local function depth_after(ws, d)
  local avg = ws.avg and ws.avg + (d - ws.avg) / 8 or d
  ws.avg = avg
  if avg * DEPTH_MAX <= AHEAD then ws.depth = DEPTH_MAX
  else ws.depth = math.max(1, math.floor(AHEAD / avg)) end
end

local function close_fd(w, key)
  local fd = w[key]
  if fd then
    loop.close(fd)
    w[key] = nil
  end
end

-- Frames wait in w.outq; w.outseq[i] is the highest task seq in w.outq[i] (0: none). Once an
-- item is fully written, w.written is its seq: a task above it never reached the worker, so if
-- the worker is gone (EPIPE: it died before reading), the task never started and runs again.
local function flush(w)
  w.flush_pending = false
  if not w.wfd then w.outq, w.outseq = {}, {}; return end
  if #w.outq > 1 and w.outoff == 0 then
    w.outq, w.outseq = { table.concat(w.outq) }, { math.max(0, table.unpack(w.outseq)) }
  end
  while w.outq[1] do
    local s = w.outq[1]
    local n = core.send(w.wfd, s, w.outoff)
    if not n then                         -- the worker is gone; its end is reported by its pidfd
      w.outq, w.outseq = {}, {}
      break
    end
    w.outoff = w.outoff + n
    if w.outoff < #s then
      if not w.wwatch then w.wwatch = true; loop.watch(w.wfd, function() flush(w) end, "w") end
      return
    end
    if w.outseq[1] > w.written then w.written = w.outseq[1] end
    table.remove(w.outq, 1)
    table.remove(w.outseq, 1)
    w.outoff = 0
  end
  if w.wwatch then w.wwatch = false; loop.unwatch(w.wfd) end
end

-- send(w, frame [, seq]): inside a loop step, queued and written with whatever else this step
-- sends to w; outside one (a script's submit), written now.
local function send(w, frame, seq)
  w.outq[#w.outq + 1] = frame
  w.outseq[#w.outseq + 1] = seq or 0
  if w.flush_pending or w.wwatch then return end
  if loop.stepping() then
    w.flush_pending = true
    loop.defer(w.flush)
  else
    flush(w)
  end
end

-- ws.list: the workers that take tasks (neither retiring nor dead), in start order.
local function unlist(ws, w)
  local list = ws.list
  for i = 1, #list do
    if list[i] == w then table.remove(list, i); ws.live = ws.live - 1; return end
  end
end

local function retire(pool, w)
  w.retiring = true
  unlist(pool.workers, w)
  send(w, EXIT_FRAME)
end

local function queue_pop(w)
  local t = w.q[w.qhead]
  w.q[w.qhead], w.qhead = nil, w.qhead + 1
  local ws = w.pool.workers
  ws.inflight = ws.inflight - 1
  return t
end

-- After a task left the worker's queue: retire the worker at maxtasks once it is drained.
local function after_task(w)
  local pool = w.pool
  local max = pool.opts.maxtasks
  if max and w.nsent >= max and w.qhead > w.qtail and not w.retiring and not w.proc.stopping then
    retire(pool, w)
  end
end

-- A worker's clock reading (core.time() there) on this process's monotonic clock; one from a
-- worker on another host whose clock runs ahead counts as now.
local function since(at)
  local ago = core.time() - at
  return ago > 0 and ago or 0
end

-- A running chunk is asked to stop first: the worker ends it between two items (those not run
-- never start); one whose item does not end within CHUNK_GRACE seconds ends with the worker's
-- group.
local CHUNK_GRACE = 0.05

local function arm_grace(t)
  t.grace = loop.timer(CHUNK_GRACE, function()
    t.grace = nil
    if not t.ended_at then t.worker.proc:stop(t.cancel_steps) end
  end)
end

-- START: the worker began its next task at `at`.
local function on_start(w, at)
  local t = w.q[w.qhead]
  if not t or not t.queued then return end
  t.queued = false
  w.nstarted = (w.nstarted or 0) + 1
  local ago = since(at)
  t.started_at = loop.now() - ago
  if t.cancel_requested then             -- the cancel came too late to skip it: end the worker
    if t.chunk then arm_grace(t) else w.proc:stop(t.cancel_steps) end
  end
  w.pool.on_began(t.future, t, ago > 0 and at or core.time())
end

local function on_skip(w)
  local t = w.q[w.qhead]
  if not t or not t.queued then return end
  queue_pop(w)
  t.ended_at, t.unstarted = loop.now(), true
  after_task(w)
  w.pool.workers.on_end(t.future, t)
end

-- finish(w, t, ended [, values]): task t's end, at the worker's clock reading `ended`.
local function finish(w, t, ended, values)
  queue_pop(w)
  t.ended_at = loop.now() - (ended and since(ended) or 0)
  depth_after(w.pool.workers, t.ended_at - t.started_at)
  w.ntasks = w.ntasks + 1
  after_task(w)
  w.pool.workers.on_end(t.future, t, values)
end

local function on_reply(w, r)
  local t = w.q[w.qhead]
  if not t or t.queued then return end
  local ended = r.t
  r.t = nil
  local values
  if r.n then                            -- the values themselves
    values = r
  else
    local e = r.e
    if type(e) == "string" and r.tb then e = e .. "\n" .. r.tb end
    t.failure = e == nil and "error object is nil" or e
    t.traceback = r.tb
  end
  finish(w, t, ended, values)
end

-- A batch of a chunk's items (see corral.lua.worker): handed to the pool as it comes; the
-- last one (z) ends the task like a reply.
local function on_batch(w, r)
  local t = w.q[w.qhead]
  if not t or t.queued then return end
  w.pool.on_batch(t.future, t, r)
  if not r.z then return end
  if t.grace then loop.cancel_timer(t.grace) end
  finish(w, t, r.t[#r.t])
end

-- A frame from the worker: START (a float: its start time), SKIP (2), a reply table or a
-- chunk's batch (k); anything else breaks the protocol.
local function on_frame(w, r)
  if math.type(r) == "float" then on_start(w, r)
  elseif r == 2 then on_skip(w)
  elseif type(r) == "table" then
    if r.k then on_batch(w, r)
    elseif r.i then w.init_error = tostring(r.i)     -- its init failed; it exits next
    else on_reply(w, r) end
  else return "unexpected frame " .. tostring(r) end
end

local function on_readable(w)
  if w.reading then return end            -- a status() poll from inside a frame's handling
  w.reading = true
  while w.rfd do
    local data = core.read(w.rfd, 1 << 16)
    if data == false then break end
    if not data or data == "" then close_fd(w, "rfd"); break end
    w.rbuf = w.rpos > 1 and (w.rbuf:sub(w.rpos) .. data) or (w.rbuf .. data)
    w.rpos = 1
    while true do
      local r, nextpos = core.decode(w.rbuf, w.rpos)
      if r == false then break end
      if r == nil then               -- protocol error: the worker cannot be trusted any more
        w.protocol_error = nextpos
        close_fd(w, "rfd")
        w.proc:stop()
        break
      end
      w.rpos = nextpos
      local bad = on_frame(w, r)
      if bad then
        w.protocol_error = bad
        close_fd(w, "rfd")
        w.proc:stop()
        break
      end
    end
  end
  w.reading = false
end

local function cause_of(p)
  if p.signal then return "killed by " .. p.signal end
  if p.code then return "worker exited with code " .. p.code end
  return "worker lost: " .. tostring(p.error)
end

local function on_worker_end(w)
  on_readable(w)                      -- frames written just before the end still count
  close_fd(w, "rfd")
  close_fd(w, "wfd")
  w.dead = true
  local pool, p = w.pool, w.proc
  local ws = pool.workers
  ws.all[w] = nil
  if not w.retiring then unlist(ws, w) end
  -- The running task (if any) is lost; queued ones never started: the pool runs them again,
  -- unless this worker never started any task (its init failed, its interpreter exits at
  -- once): then they end "error" with the cause, and nothing respawns it for ever.
  local broken = not w.nstarted and not pool.stopping
  while w.qhead <= w.qtail do
    local t = queue_pop(w)
    t.ended_at = p.ended_at or loop.now()
    if not t.queued and t.seq <= w.written then
      t.code, t.signal, t.rusage = p.code, p.signal, p.rusage
      t.lost = w.protocol_error and ("protocol error: " .. w.protocol_error) or cause_of(p)
    elseif broken and not t.cancel_requested then
      t.code, t.signal = p.code, p.signal
      t.start_error = w.init_error and ("worker " .. w.init_error)
        or ("the worker ended before it started a task: " .. cause_of(p))
    else
      t.unstarted = true
    end
    ws.on_end(t.future, t)
  end
  loop.wake_all(ws.waiters)
end

local function stdio(v)
  if v == nil or v == "capture" then return "inherit" end
  return v
end

local function new_worker(pool)
  local o = pool.opts
  -- Tasks go down a socket, not a pipe: core.send's MSG_NOSIGNAL makes a gone worker EPIPE
  -- without blocking SIGPIPE around every write. Replies come up a pipe.
  local to_w, to_r = core.socketpair()     -- to_w, ours, non-blocking
  if not to_w then return nil, to_r end
  local from_r, from_w = core.pipe()
  if not from_r then core.close(to_r); core.close(to_w); return nil, from_w end
  local w = setmetatable({ pool = pool, wfd = to_w, rfd = from_r, rbuf = "", rpos = 1,
                           outq = {}, outseq = {}, outoff = 0, written = 0, ntasks = 0, nsent = 0,
                           q = {}, qhead = 1, qtail = 0 }, Worker)
  w.flush = function() flush(w) end
  local spec = { termseq = pool.termseq, stdin = "null", stdout = stdio(o.stdout),
                 stderr = stdio(o.stderr), env = pool.env, cwd = o.cwd, fds = { [3] = to_r, [4] = from_w } }
  local p, err, errno
  if (o.start or "spawn") == "fork" then
    io.stdout:flush()
    local pid, pidfd = core.fork_worker(spec.fds)
    if pid == 0 then
      -- The child is a copy of this process: an error must end it here, never unwind into
      -- the pool code that called us (it would run the parent's loop on the child's fds).
      local ok, e = pcall(require("corral.lua.worker").main, 3, 4, o.init, core.exit_now)
      if not ok then io.stderr:write("corral worker: ", tostring(e), "\n") end
      core.exit_now(ok and 0 or 70)
    end
    if pid then p = proc.watch(pid, pidfd, nil, nil, spec, function() on_worker_end(w) end)
    else err, errno = pidfd, nil end
  elseif o.start == "forkserver" then
    -- A fork of the pool's server process, made our child (see corral.lua.forkserver).
    local fs = pool.forkserver
    if not fs then
      fs = require("corral.lua.forkserver").new { preload = o.preload, init = o.init,
        interpreter = o.interpreter, env = spec.env, cwd = spec.cwd, stdout = spec.stdout,
        stderr = spec.stderr, termseq = spec.termseq }
      pool.forkserver = fs
    end
    local pid, pidfd = fs:fork(spec.fds)
    if pid then p = proc.watch(pid, pidfd, nil, nil, spec, function() on_worker_end(w) end)
    else err = pidfd end
  elseif pool.worker_launch then         -- another launcher (corral.slurm: a job step)
    p, err, errno = pool.worker_launch(pool, spec, function() on_worker_end(w) end)
  else
    spec.argv = luacmd.argv(o.interpreter, "corral.lua.worker", 3, 4, o.init)
    spec.block_int = true       -- until worker.main makes SIGINT fatal again (see there)
    p, err, errno = proc.start(spec, function() on_worker_end(w) end)
  end
  core.close(to_r)
  core.close(from_w)
  if not p then
    core.close(to_w); core.close(from_r)
    return nil, err, errno
  end
  w.proc, w.pid = p, p.pid
  loop.watch(from_r, function() on_readable(w) end)
  local ws = pool.workers
  ws.all[w] = true
  ws.list[#ws.list + 1] = w
  ws.live = ws.live + 1
  return w
end

-- A worker that can take one more task now: an idle one first, then a new one while the pool
-- has fewer than `size`, then the least loaded with room in its pipeline.
local function pick(pool, ws)
  local max = pool.opts.maxtasks
  local best, load = nil, ws.depth
  local list = ws.list
  for i = 1, #list do
    local w = list[i]
    if not w.proc.stopping and (not max or w.nsent < max) then
      local n = w.qtail - w.qhead + 1
      if n == 0 then return w end
      if n < load then best, load = w, n end
    end
  end
  if ws.live < pool.size then return nil, true end
  return best
end

-- has_room(pool): can start() take a task now (the pool asks before each start)? The pick
-- is kept for the start() that follows.
function M.has_room(pool)
  local ws = pool.workers
  if ws.live >= pool.size and ws.inflight >= ws.live * ws.depth then return false end  -- all full
  local w, new = pick(pool, ws)
  ws.picked = w or new or nil
  return w ~= nil or new == true
end

-- start(pool, future, on_end) -> task handle | nil, message; on_end(future, handle, values)
-- when the task is over. The handle is `queued` until the worker starts it; then
-- pool.on_began(future, handle) is called (the pool stamps the start and starts the timeout
-- there).
function M.start(pool, f, on_end)
  local ws = pool.workers
  local w, new = ws.picked, nil
  ws.picked = nil
  if w == true then w, new = nil, true
  elseif not w then w, new = pick(pool, ws) end
  if not w then
    if not new then return nil, "no lua worker has room" end
    local err
    w, err = new_worker(pool)
    if not w then return nil, "cannot start a lua worker: " .. tostring(err) end
  end
  ws.on_end = on_end
  -- Every field the handle will hold (8: the smallest table part that fits them), so it is
  -- allocated once at its final size. Its values go to on_end, not into the handle.
  local t = setmetatable({ worker = w, pid = w.pid, pgid = w.pid, started_at = loop.now(),
                           future = f, seq = w.nsent + 1, queued = true, ended_at = nil }, Task)
  if f.chunk then t.chunk = true end
  w.nsent = w.nsent + 1
  ws.inflight = ws.inflight + 1
  w.qtail = w.qtail + 1
  w.q[w.qtail] = t
  send(w, f.task, t.seq)
  return t
end

-- prestart(pool): a new pool's workers, started with it so its first tasks need not wait for
-- them. One that cannot start now is tried again when a task needs it (and then the task's
-- record says why).
function M.prestart(pool)
  local ws = pool.workers
  while ws.live < pool.size do
    if not new_worker(pool) then break end
  end
end

-- shutdown(pool, hard): idle workers are told to exit (hard: every worker's group is ended);
-- returns once every worker process of the pool is gone.
function M.shutdown(pool, hard)
  local ws = pool.workers
  if not ws then return end
  for w in pairs(ws.all) do
    if hard then w.proc:stop()
    elseif w.qhead > w.qtail and not w.retiring then
      retire(pool, w)
    end
  end
  loop.run_until(function() return next(ws.all) == nil end)
  if pool.forkserver then                -- its workers are gone: the server can go too
    pool.forkserver:close(hard)
    pool.forkserver = nil
  end
end

function M.kill_now(pool)
  for w in pairs(pool.workers and pool.workers.all or {}) do w.proc:kill_now() end
  if pool.forkserver then pool.forkserver:kill_now() end
end

-- stop(steps): a queued task is skipped by the worker (cancel frame); a running one ends
-- with the worker's group. True when it had an effect.
function Task:stop(steps)
  self:poll()                  -- a reply already in the pipe: the task ended as it said
  if self.ended_at then return false end
  if self.queued or (self.chunk and not self.cancel_requested) then
    if self.cancel_requested then return false end
    self.cancel_requested, self.cancel_steps = true, steps
    send(self.worker, core.encode { c = self.seq })
    if not self.queued then arm_grace(self) end
    return true
  end
  return self.worker.proc:stop(steps)
end

function Task:send(sig)
  if self.ended_at or self.queued then return false end
  return self.worker.proc:send(sig)
end

function Task:kill_now() self.worker.proc:kill_now() end

-- poll(): read what the worker has said (a START or a reply), without waiting; for a
-- future's status().
function Task:poll()
  if self.worker.rfd then on_readable(self.worker) end
end
function Task:output() return nil end

-- init(pool): the pool's worker state (pool.workers).
function M.init(pool)
  EXIT_FRAME = EXIT_FRAME or core.encode { exit = true }
  -- all: every worker process not yet reaped; inflight: tasks sent, not yet answered.
  pool.workers = { all = {}, list = {}, live = 0, waiters = {}, inflight = 0,
                   depth = DEPTH_START, avg = nil }
end

return M
