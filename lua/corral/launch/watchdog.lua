-- corral.launch.watchdog: the far end of corral.launch.lifeline, run once the owner is gone
-- (the pipe the watchdog read reached EOF because the kernel closed the owner's write end: the
-- owner exited, crashed or was SIGKILLed), either in lua5.4 exec'd by the program
-- corral-watchdog when the slots hold what needs Lua (task cgroups, Slurm jobs, the cgroup
-- parent mark), or in a fork of the owner made by core.fork_watchdog where that program is
-- missing.
--
-- finish() then ends the groups registered in the shared slots (fd `slots_fd`, see
-- corral.launch.lifeline): TERM and CONT, up to GRACE seconds for them to go, then KILL; with
-- nothing registered it returns at once.
--
-- INT, TERM and HUP are blocked in the watchdog (held pending, never acted on): a terminal
-- cannot send them to another session, so they come only from someone signalling every
-- process, e.g. a shutdown or a service manager stopping the owner's whole cgroup. Dying then
-- would leave the owner's groups unguarded while the owner cleans up; the watchdog's one way
-- out is EOF (or KILL).
local core = require "corral.core"

local M = {}

local GRACE = 0.2           -- seconds between TERM and KILL
local JOB_BASE = 1 << 30    -- corral.launch.lifeline.JOB_BASE (not required here: it needs the loop)
local CGROUPS = -(JOB_BASE - 1)  -- corral.launch.lifeline.CGROUPS: the owner made cgroup parents
local POLL_MS = 5           -- between scans while waiting for the groups to go

-- Groups of `list` with a live (non-zombie) member: orphans may stay zombies for long when
-- nobody reaps them, and they are dead for our purpose.
local function live(list)
  local t = core.live_groups(list)
  if t then return t end
  t = {}                    -- no /proc: kill(-g, 0), zombies included
  for _, pg in ipairs(list) do if core.group_exists(pg) then t[pg] = 1 end end
  return t
end

local function end_groups(set)
  local list = {}
  for pg in pairs(set) do list[#list + 1] = pg end
  if #list == 0 then return end
  for _, pg in ipairs(list) do
    core.killpg(pg, "TERM")
    core.killpg(pg, "CONT")     -- a stopped group acts on TERM only once continued
  end
  local ep = core.epoll_create()  -- waiting on an empty epoll is our sleep
  local deadline = core.now() + GRACE
  local left = live(list)
  while next(left) and core.now() < deadline do
    core.epoll_wait(ep, POLL_MS)
    left = live(list)
  end
  for pg in pairs(left) do core.killpg(pg, "KILL") end
end

-- scancel each Slurm job (an allocation the owner made), all at once, and wait for them.
local function cancel_jobs(jobs)
  if #jobs == 0 then return end
  local ep = core.epoll_create()
  local left = {}
  for _, j in ipairs(jobs) do
    local pid, pidfd = core.spawn { argv = { "scancel", tostring(j) }, stdin = "null",
                                    stdout = "null", stderr = "null" }
    if pid then core.epoll_add(ep, pidfd); left[pidfd] = true end
  end
  local deadline = core.now() + 10
  while next(left) and core.now() < deadline do
    for _, fd in ipairs { core.epoll_wait(ep, 100) } do
      local code, sig = core.reap(fd)
      if code ~= false or sig ~= nil then core.epoll_del(ep, fd); left[fd] = nil end
    end
  end
end

-- finish(slots_fd, owner_pid): a negative slot -n is the owner's task cgroup task-n
-- (corral.launch.cgroup): killed with cgroup.kill, then removed with the owner's cgroup parents;
-- one below -JOB_BASE is a Slurm job (corral.launch.lifeline.add_job), cancelled first.
function M.finish(slots_fd, owner)
  local set, cgroups, jobs, parents = {}, {}, {}, false
  for _, pg in ipairs(core.slots_read(slots_fd) or {}) do
    if pg > 1 then set[pg] = true
    elseif pg <= -JOB_BASE then jobs[#jobs + 1] = -pg - JOB_BASE
    elseif pg == CGROUPS then parents = true
    elseif pg < 0 then cgroups[#cgroups + 1] = -pg end
  end
  cancel_jobs(jobs)
  end_groups(set)
  -- and the owner's cgroup parents, left behind when it exited without closing its Lua state
  if owner and (parents or #cgroups > 0) then
    pcall(function() require("corral.launch.cgroup").reap_owner(owner, cgroups) end)
  end
end

-- main(slots_fd, owner_pid): finish() as the program corral-watchdog execs it (it has read
-- the pipe to EOF and ended the process groups; the rest is Lua's).
M.main = M.finish

return M
