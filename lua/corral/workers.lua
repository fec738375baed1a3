-- corral.workers: a pool's lua worker processes, seen from the parent; the runner of the
-- "lua" executor. A worker is a process group (spawned `lua5.4`, or a fork of this process)
-- that speaks the wire protocol on two pipes: tasks in on its fd 3, replies out on its fd 4.
-- One task runs in a worker at a time. Cancel, timeout and terminate end the worker's whole
-- group (so what a task started with os.execute or io.popen dies with it) and a fresh worker
-- takes its place. A worker that dies under a task gives that task "lost" with the cause.
local core = require "corral.core"
local loop = require "corral.loop"
local proc = require "corral.proc"

local M = {}
local Worker = {}
Worker.__index = Worker
local Task = {}
Task.__index = Task

local EXIT_FRAME

local function close_fd(w, key)
  local fd = w[key]
  if fd then
    loop.unwatch(fd)
    core.close(fd)
    w[key] = nil
  end
end

local function flush(w)
  while w.outq[1] do
    local s = w.outq[1]
    local n = core.write(w.wfd, s, w.outoff)
    if not n then                         -- the worker is gone; its end is reported by its pidfd
      w.outq = {}
      break
    end
    w.outoff = w.outoff + n
    if w.outoff < #s then
      if not w.wwatch then w.wwatch = true; loop.watch(w.wfd, function() flush(w) end, "w") end
      return
    end
    table.remove(w.outq, 1)
    w.outoff = 0
  end
  if w.wwatch then w.wwatch = false; loop.unwatch(w.wfd) end
end

local function send(w, frame)
  w.outq[#w.outq + 1] = frame
  if #w.outq == 1 then flush(w) end
end

local function set_idle(pool, w)
  local ws = pool.workers
  if w.dead or w.retiring then return end
  ws.idle[#ws.idle + 1] = w
end

local function retire(pool, w)
  w.retiring = true
  pool.workers.live = pool.workers.live - 1
  send(w, EXIT_FRAME)
end

local function on_reply(w, r)
  local t = w.task
  if not t then return end              -- a reply after the task was given up: ignore
  w.task = nil
  t.ended_at = loop.now()
  if r.ok then
    t.values = r.v
  else
    local e = r.e
    if type(e) == "string" and r.tb then e = e .. "\n" .. r.tb end
    t.failure = e == nil and "error object is nil" or e
    t.traceback = r.tb
  end
  t.ended = true
  w.ntasks = w.ntasks + 1
  local pool = w.pool
  if w.proc.stopping then
    -- being ended (cancel or timeout raced the reply): not reusable
  elseif pool.opts.maxtasks and w.ntasks >= pool.opts.maxtasks then
    retire(pool, w)
  else
    set_idle(pool, w)
  end
  t.on_end(t)
end

local function on_readable(w)
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
        return
      end
      w.rpos = nextpos
      on_reply(w, r)
    end
  end
end

local function cause_of(p)
  if p.signal then return "killed by " .. p.signal end
  if p.code then return "worker exited with code " .. p.code end
  return "worker lost: " .. tostring(p.error)
end

local function on_worker_end(w)
  on_readable(w)                      -- replies written just before the end still count
  close_fd(w, "rfd")
  close_fd(w, "wfd")
  w.dead = true
  local pool, p = w.pool, w.proc
  local ws = pool.workers
  ws.all[w] = nil
  if not w.retiring then ws.live = ws.live - 1 end
  for i = #ws.idle, 1, -1 do if ws.idle[i] == w then table.remove(ws.idle, i) end end
  local t = w.task
  if t then
    w.task = nil
    t.ended, t.ended_at = true, p.ended_at
    t.code, t.signal, t.rusage = p.code, p.signal, p.rusage
    t.lost = w.protocol_error and ("protocol error: " .. w.protocol_error) or cause_of(p)
    t.on_end(t)
  end
  loop.wake_all(ws.waiters)
end

local function worker_code(pool)
  local init = pool.opts.init
  return ("package.path=%q package.cpath=%q require('corral.worker').main(3, 4, %s)")
    :format(package.path, package.cpath, init and ("%q"):format(init) or "nil")
end

local function stdio(v)
  if v == nil or v == "capture" then return "inherit" end
  return v
end

local function new_worker(pool)
  local o = pool.opts
  local to_r, to_w = core.pipe()
  if not to_r then return nil, to_w end
  local from_r, from_w = core.pipe()
  if not from_r then core.close(to_r); core.close(to_w); return nil, from_w end
  core.set_blocking(to_w, false)
  local w = setmetatable({ pool = pool, wfd = to_w, rfd = from_r, rbuf = "", rpos = 1,
                           outq = {}, outoff = 0, ntasks = 0 }, Worker)
  local spec = { termseq = pool.termseq, stdin = "null", stdout = stdio(o.stdout),
                 stderr = stdio(o.stderr), env = pool.env, cwd = o.cwd, fds = { [3] = to_r, [4] = from_w } }
  local p, err, errno
  if (o.start or "spawn") == "fork" then
    io.stdout:flush()
    local pid, pidfd = core.fork_worker(spec.fds)
    if pid == 0 then
      require("corral.worker").main(3, 4, o.init, core.exit_now)
      core.exit_now(0)
    end
    if pid then p = proc.watch(pid, pidfd, nil, nil, spec, function() on_worker_end(w) end)
    else err, errno = pidfd, nil end
  else
    spec.argv = { o.interpreter or "lua5.4", "-e", worker_code(pool) }
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
  pool.workers.all[w] = true
  pool.workers.live = pool.workers.live + 1
  return w
end

local function state(pool)
  local ws = pool.workers
  if not ws then
    ws = { all = {}, idle = {}, live = 0, waiters = {} }
    pool.workers = ws
  end
  return ws
end

-- start(pool, future, on_end) -> task handle | nil, message
function M.start(pool, f, on_end)
  local ws = state(pool)
  local w = table.remove(ws.idle)
  if not w then
    local err
    w, err = new_worker(pool)
    if not w then return nil, "cannot start a lua worker: " .. tostring(err) end
  end
  local t = setmetatable({ worker = w, pid = w.pid, pgid = w.pid, started_at = loop.now(),
                           on_end = on_end }, Task)
  w.task = t
  send(w, f.frame)
  return t
end

-- shutdown(pool, hard): idle workers are told to exit (hard: every worker's group is ended);
-- returns once every worker process of the pool is gone.
function M.shutdown(pool, hard)
  local ws = pool.workers
  if not ws then return end
  for w in pairs(ws.all) do
    if hard then w.proc:stop()
    elseif not w.task and not w.retiring then
      for i = #ws.idle, 1, -1 do if ws.idle[i] == w then table.remove(ws.idle, i) end end
      retire(pool, w)
    end
  end
  loop.run_until(function() return next(ws.all) == nil end)
end

function M.kill_now(pool)
  for w in pairs(pool.workers and pool.workers.all or {}) do w.proc:kill_now() end
end

function Task:stop(steps)
  if self.ended then return false end
  return self.worker.proc:stop(steps)
end

function Task:send(sig)
  if self.ended then return false end
  return self.worker.proc:send(sig)
end

function Task:kill_now() self.worker.proc:kill_now() end
function Task:output() return nil end

EXIT_FRAME = nil
function M.init()
  EXIT_FRAME = EXIT_FRAME or core.encode { exit = true }
end

return M
