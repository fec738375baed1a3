-- corral.lifeline: if this process dies, even by SIGKILL, the process groups it started must
-- not outlive it by more than a second.
--
-- The first add spawns a watchdog: `lua5.4` running corral.watchdog, in its own session (so a
-- terminal's Ctrl-C and hangup never reach it), stdin the read end of a pipe whose only write
-- end is here. That end is close-on-exec (commands and spawned workers never see it) and
-- fork_worker closes it in forked workers, so it closes exactly when this process ends, however
-- it ends. add/remove write "+PGID\n" / "-PGID\n" (under PIPE_BUF: one atomic write; with
-- the getpid of the fork check, two syscalls per call). On EOF the watchdog ends every group
-- still registered (TERM and CONT, up to 200 ms, then KILL); after a normal exit with every
-- pool closed its set is empty and it just exits. Nothing here waits for it: once this
-- process is gone, init (or the nearest subreaper) reaps it. It is no pool's process group,
-- and nothing but this module reaps it.
--
-- This process also keeps the pipe's read end, so a write never raises SIGPIPE (fatal to a Lua
-- script) if someone killed the watchdog; the write end is non-blocking, and the watchdog's
-- pidfd is watched by the loop, so a watchdog that died is reaped and replaced, with the
-- current set. When a replacement dies within a second of its start too (a broken install),
-- a warning goes to stderr and the lifeline stays off.
--
-- Fork safety: the state belongs to the pid that started it. In a child forked from this Lua
-- state (core.getpid() differs) the lifeline counts as not started, and the parent's fd
-- numbers (which may name other files there) are left alone.
local core = require "corral.core"
local loop = require "corral.loop"

local M = {}

local MIN_LIFE = 1            -- a replacement that dies sooner (seconds) is not replaced

local groups = {}             -- pgid -> true: what the watchdog must end if we die
local st = nil                -- { pid, pidfd, rfd, wfd, started_at, retry } while one runs
local broken = false          -- gave up: no watchdog would stay up
local owner = core.getpid()   -- the process this state belongs to

local start

local function warn(msg)
  io.stderr:write("corral: lifeline: ", msg, "\n")
end

-- The watchdog has been reaped (code, sig as from core.reap): replace it if it was healthy.
local function gone(code, sig)
  local s = st
  st = nil
  loop.unwatch(s.pidfd)
  core.close(s.pidfd); core.close(s.wfd); core.close(s.rfd)
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
  if next(groups) then start(true) end
end

-- Loop callback on the watchdog's pidfd: it ended while we live.
local function on_watchdog_end()
  if not st then return end
  local code, sig = core.reap(st.pidfd)
  if code == false and sig == nil then return end        -- still running (spurious wake-up)
  gone(code or nil, sig)
end

-- Write all of `s`. A full pipe (a watchdog slow to read) is waited out; a dead watchdog is
-- replaced, and the replacement is sent the whole set, which already holds this change.
local function send(s)
  local off, len = 0, #s
  while off < len do
    local n = core.write(st.wfd, s, off)
    if not n then
      -- Cannot happen with our fds intact (EPIPE is ruled out by the read end we hold). If
      -- someone closed them, the numbers may name other files now: forget them, don't close.
      warn("write to the watchdog failed; starting a new one")
      loop.unwatch(st.pidfd)
      st = nil
      return start(true)
    end
    off = off + n
    if off < len then
      local ep = core.epoll_create()
      if ep then
        core.epoll_add(ep, st.wfd, "w")
        core.epoll_add(ep, st.pidfd)
        core.epoll_wait(ep, 100)
        core.close(ep)
      end
      local code, sig = core.reap(st.pidfd)
      if code ~= false or sig ~= nil then return gone(code or nil, sig) end
    end
  end
end

function start(retry)
  local rfd, wfd = core.pipe()
  if not rfd then
    warn("cannot create a pipe: " .. tostring(wfd))
    return
  end
  core.set_blocking(wfd, false)
  local code = ("package.path=%q package.cpath=%q require('corral.watchdog').main()")
    :format(package.path, package.cpath)
  local pid, pidfd = core.spawn {
    argv = { "lua5.4", "-e", code }, setsid = true,
    stdin = rfd, stdout = "null", stderr = "inherit",
  }
  if not pid then
    core.close(rfd); core.close(wfd)
    broken = true
    warn("cannot start the watchdog: " .. tostring(pidfd))
    return
  end
  st = { pid = pid, pidfd = pidfd, rfd = rfd, wfd = wfd, started_at = core.now(),
         retry = retry }
  loop.watch(pidfd, on_watchdog_end)
  local lines, n = {}, 0
  for pgid in pairs(groups) do n = n + 1; lines[n] = "+" .. pgid .. "\n" end
  if n > 0 then send(table.concat(lines)) end
end

-- In a forked child everything inherited describes the parent's lifeline: forget it.
local function check_fork()
  local me = core.getpid()
  if me ~= owner then
    owner, groups, st, broken = me, {}, nil, false
  end
end

-- add(pgid): the group must not survive this process. Called per task: a getpid and a write.
function M.add(pgid)
  check_fork()
  groups[pgid] = true
  if st then send("+" .. pgid .. "\n")
  elseif not broken then start() end                     -- sends the set, pgid included
end

-- remove(pgid): the group is finished (reaped and empty); forget it.
function M.remove(pgid)
  check_fork()
  if not groups[pgid] then return end
  groups[pgid] = nil
  if st then send("-" .. pgid .. "\n") end
end

-- watchdog_pid() -> pid of this process's watchdog, or nil when none is running.
function M.watchdog_pid()
  check_fork()
  return st and st.pid or nil
end

return M
