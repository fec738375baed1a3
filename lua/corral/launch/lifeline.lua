-- corral.launch.lifeline: if this process dies, even by SIGKILL, the process groups it started must
-- not outlive it by more than a second.
--
-- The groups live in shared memory (core.slots: int32 slots in a memfd): registering one is a
-- store, no syscall, and wakes nobody, which matters when thousands of short tasks a second
-- each add and remove a group. The first add starts a watchdog: the small program
-- corral-watchdog beside the engine (engine/bin/corral-watchdog.c; it execs
-- corral.launch.watchdog in lua5.4 only for what needs Lua: task cgroups, Slurm jobs), started
-- without waiting for its exec (core.clone_watchdog, x86_64; else, or refused, as by
-- posix_spawn, which waits), or where the program is missing a fork of this process
-- (core.fork_watchdog, no exec, also named corral-watchdog). CORRAL_WATCHDOG=spawn or =fork
-- picks the second or the third way (the specs use it). It runs in its own session (so a
-- terminal's Ctrl-C and hangup never reach it), holding the memfd as fd 3 and, as stdin, the
-- read end of a pipe whose only write end is here.
-- Nothing is ever written to that pipe: the watchdog sleeps in read() until the kernel closes
-- the write end, which happens exactly when this process ends, however it ends. Then it reads
-- the slots and ends every group still registered (TERM and CONT, up to 200 ms, then KILL).
-- After a normal exit with every pool closed the slots are empty and it just exits.
--
-- The write end and the memfd are close-on-exec (commands and spawned workers never see them)
-- and fork_worker closes them in forked workers. The watchdog's pidfd is watched by the loop:
-- a watchdog that died is reaped and replaced (the slots still hold the set). When a
-- replacement dies within a second of its start too (a broken install), a warning goes to
-- stderr and the lifeline stays off. When the Lua state closes with no group registered
-- (every pool closed) the watchdog is told to go and reaped first (close()); else nothing
-- waits for it: once this process is gone, init (or the nearest subreaper) reaps it. It is no
-- pool's process group.
--
-- Fork safety: the state belongs to the pid that started it. In a child forked from this Lua
-- state (core.getpid() differs) the lifeline counts as not started, and the parent's fd
-- numbers (which may name other files there) are left alone.
local core = require "corral.core"
local loop = require "corral.loop"

local M = {}

local MIN_LIFE = 1            -- a replacement that dies sooner (seconds) is not replaced

local groups = {}             -- pgid -> slot index: what the watchdog must end if we die
local free, nfree = {}, 0     -- free slot indices
local slots = nil             -- core.slots, created with the first watchdog
local st = nil                -- { pid, pidfd, wfd, started_at, retry } while one runs
local broken = false          -- gave up: no watchdog would stay up
local owner = core.self_pid() -- the process this state belongs to

local start

local function warn(msg)
  io.stderr:write("corral: lifeline: ", msg, "\n")
end

-- The watchdog has been reaped (code, sig as from core.reap): replace it if it was healthy.
local function gone(code, sig)
  local s = st
  st = nil
  loop.unwatch(s.pidfd)
  core.close(s.pidfd); core.close(s.wfd)
  local how = code and ("exited with code " .. code)
    or math.type(sig) == "integer" and ("was killed by " .. (core.signame(sig) or sig))
    or ("was lost (" .. tostring(sig) .. ")")
  if s.retry and core.now() - s.started_at < MIN_LIFE then
    broken = true
    warn("the watchdog " .. how .. " at start; process groups will not be ended if this "
      .. "process dies")
    return
  end
  warn("the watchdog " .. how .. "; starting a new one")
  if next(groups) then start(true) end          -- the slots still hold the set
end

-- Loop callback on the watchdog's pidfd: it ended while we live.
local function on_watchdog_end()
  if not st then return end
  local code, sig = core.reap(st.pidfd)
  if code == false and sig == nil then return end        -- still running (spurious wake-up)
  gone(code or nil, sig)
end

-- Free slots first(n)..last; slot indices are handed out from the end of the free list.
local function add_free(first, last)
  for i = last, first, -1 do nfree = nfree + 1; free[nfree] = i end
end

-- The watchdog program beside the engine (corral/corral-watchdog, built by make), or false.
local helper
local function helper_path()
  if helper == nil then
    local so = package.searchpath("corral.core", package.cpath)
    local path = so and so:gsub("core%.so$", "corral-watchdog")
    helper = path and core.mtime(path) and path or false
  end
  return helper
end

local function luacmd() return require "corral.launch.luacmd" end

function start(retry)
  if not slots then
    local err
    slots, err = core.slots(256)
    if not slots then
      broken = true
      warn("cannot create the shared slots: " .. tostring(err))
      return
    end
    add_free(1, 256)
  end
  local rfd, wfd = core.pipe()
  if not rfd then
    warn("cannot create a pipe: " .. tostring(wfd))
    return
  end
  local pid, pidfd
  local how = os.getenv("CORRAL_WATCHDOG")
  if how ~= "fork" and helper_path() then
    local argv = luacmd().argv(nil, "corral.launch.watchdog", 3, owner)
    table.insert(argv, 1, helper_path())
    if how ~= "spawn" then pid, pidfd = core.clone_watchdog(rfd, slots:fd(), argv) end
    if not pid then
      pid, pidfd = core.spawn { argv = argv, setsid = true, stdin = rfd, stdout = "null",
                                stderr = "inherit", fds = { [3] = slots:fd() } }
    end
  else
    pid, pidfd = core.fork_watchdog(rfd, slots:fd())
  end
  if pid == 0 then
    -- The watchdog, a copy of this process, once this process is gone: it must end here,
    -- never unwind into the code that called add() (see core.fork_watchdog).
    local ok, e = pcall(function() require("corral.launch.watchdog").finish(3, owner) end)
    if not ok then io.stderr:write("corral: lifeline: watchdog: ", tostring(e), "\n") end
    core.exit_now(ok and 0 or 70)
  end
  core.close(rfd)
  if not pid then
    core.close(wfd)
    broken = true
    warn("cannot start the watchdog: " .. tostring(pidfd))
    return
  end
  st = { pid = pid, pidfd = pidfd, wfd = wfd, started_at = core.now(), retry = retry }
  loop.watch(pidfd, on_watchdog_end)
  -- When the Lua state closes (a script's normal end) with nothing registered, the watchdog
  -- goes first: no process of this script's outlives its exit. (Made after the first pool,
  -- so finalized before it and before the loop.)
  if not M.at_close then M.at_close = setmetatable({}, { __gc = function() pcall(M.close) end }) end
end

-- In a forked child everything inherited describes the parent's lifeline: forget it.
local function check_fork()
  local me = core.self_pid()
  if me ~= owner then
    owner, groups, st, broken = me, {}, nil, false
    slots, free, nfree = nil, {}, 0     -- the mapping is the parent's: never write to it
  end
end

-- add(pgid): the group must not survive this process. Called per task: a getpid and a store.
-- A negative value -n stands for the task cgroup task-n of corral.launch.cgroup.
function M.add(pgid)
  check_fork()
  if groups[pgid] or broken then return end
  if not st then
    start()
    if not slots then return end
  end
  if nfree == 0 then
    local n = slots:count()
    if not slots:grow(2 * n) then return warn("cannot grow the shared slots") end
    add_free(n + 1, 2 * n)
  end
  local i = free[nfree]
  free[nfree], nfree = nil, nfree - 1
  slots:set(i, pgid)
  groups[pgid] = i
end

-- remove(pgid): the group is finished (reaped and empty); forget it.
function M.remove(pgid)
  check_fork()
  local i = groups[pgid]
  if not i then return end
  groups[pgid] = nil
  slots:set(i, 0)
  nfree = nfree + 1
  free[nfree] = i
end

-- Slurm jobs share the slots with groups: job J is stored as -(JOB_BASE + J), below every task
-- cgroup id (-n). The watchdog scancels them (corral.slurm registers the allocations it made).
M.JOB_BASE = 1 << 30

-- add_job(jobid) / remove_job(jobid): an allocation to scancel if this process dies.
function M.add_job(jobid)
  if jobid >= (1 << 31) - M.JOB_BASE then
    return warn(("Slurm job id %d is too large for the lifeline; it will not be cancelled "
      .. "if this process dies"):format(jobid))
  end
  M.add(-(M.JOB_BASE + jobid))
end

function M.remove_job(jobid) M.remove(-(M.JOB_BASE + jobid)) end

-- CGROUPS, once added (corral.launch.cgroup, with its first parent), tells the watchdog this
-- process made cgroup parents, which it then removes (else it does not look for any): above
-- every Slurm job, below every task cgroup id.
M.CGROUPS = -(M.JOB_BASE - 1)

-- close(): for a process about to exit whose parent waits for all its descendants (a Slurm
-- step waits ~1 s more for a watchdog still alive when its task exits: corral.slurm.agent).
-- With no group registered, the watchdog is told to go (its pipe closed) and reaped, waiting
-- at most 1 s. False when groups are still registered (the watchdog stays).
function M.close()
  check_fork()
  if next(groups) then return false end
  local s = st
  if not s then return true end
  st = nil
  loop.unwatch(s.pidfd)
  core.close(s.wfd)
  local ep = core.epoll_create()
  core.epoll_add(ep, s.pidfd)
  core.epoll_wait(ep, 1000)
  core.reap(s.pidfd)
  core.close(s.pidfd)
  core.close(ep)
  return true
end

-- watchdog_pid() -> pid of this process's watchdog, or nil when none is running.
function M.watchdog_pid()
  check_fork()
  return st and st.pid or nil
end

return M
