-- corral.slurm.shim: the process a Slurm step runs for an exec/shell task
-- (`srun ... lua5.4 -e "require('corral.slurm.shim').main(...)"`, see corral.slurm).
--
-- srun's exit status cannot tell `exit 137` from a SIGKILL, and without slurmdbd a step's own
-- outcome is not kept anywhere else. So the step is this shim: it starts the command in a
-- process group of its own (stdio inherited: srun forwards it), waits for it, ends what the
-- command left in its group (the task owns its group, as locally), and reports on stderr, in
-- lines the launcher strips:
--   MARK "step" J.S HOST        first, so the launcher can signal the step with scancel
--   MARK "end" CODE SIG UTIME STIME MAXRSS    (CODE or SIG is "-")
--   MARK "error" MESSAGE        the command could not start (e.g. no such program)
-- MARK starts with a zero byte and a control byte, which text output does not contain.
-- `scancel --signal=SIG J.S` reaches only the process group of the step's task, this shim:
-- it holds the catchable signals (its children get a clean mask from spawn) and passes each
-- on to the command's group, then reports what they did to the command. KILL ends the shim
-- too; the launcher then falls back to srun's exit status (128 + N, ambiguous).
local core = require "corral.core"

local M = {}

M.MARK = "\0\1corral-shim "

-- After one of these, CONT as well (as corral.launch.group does), so a stopped command acts on it.
local ENDING = { HUP = true, INT = true, QUIT = true, TERM = true }

local HELD = { "HUP", "INT", "QUIT", "USR1", "USR2", "PIPE", "ALRM", "TERM", "TSTP", "TTIN",
               "TTOU", "XCPU", "XFSZ", "VTALRM", "PROF", "CONT" }

local function say(s)
  local off = 0
  while off < #s do
    local n = core.write(2, s, off)
    if not n then return end
    off = off + n
  end
end

local function hostname()
  return os.getenv("SLURMD_NODENAME") or require("corral.launch.settings").HOST
end

-- A live (non-zombie) member in the group: orphans of the command may stay zombies for a
-- while, until the step's reaper gets to them.
local function live(pgid)
  local t = core.live_groups { pgid }
  if t then return t[pgid] ~= nil end
  return core.group_exists(pgid)
end

-- End what the command left running in its group: termseq = { sig, ms, sig, ms, ..., sig }.
local function end_group(pgid, termseq, ep)
  for i = 1, #termseq, 2 do
    if not live(pgid) then return end
    core.killpg(pgid, termseq[i])
    core.killpg(pgid, "CONT")
    local deadline = core.now() + (termseq[i + 1] or 5000) / 1000
    while live(pgid) and core.now() < deadline do core.epoll_wait(ep, 5) end
  end
end

-- The command's environment: this step's (or none, clear), then the changes ("K=V" sets,
-- "K" removes).
local function environment(changes, clear)
  if not changes and not clear then return nil end
  local vars = clear and {} or core.environ()
  for _, kv in ipairs(changes or {}) do
    local k, v = kv:match("^([^=]*)=(.*)$")
    if k then vars[k] = v else vars[kv] = nil end
  end
  local list = {}
  for k, v in pairs(vars) do list[#list + 1] = k .. "=" .. v end
  return list
end

-- main(argv, cwd, env, clear, setsid, linger, termseq): env is a list of changes or nil.
function M.main(argv, cwd, env, clear, setsid, linger, termseq)
  env = environment(env, clear)
  local sigfd = core.sigcatch(HELD)
  say(("%sstep %s.%s %s\n"):format(M.MARK, os.getenv("SLURM_JOB_ID") or "?",
    os.getenv("SLURM_STEP_ID") or "?", hostname()))
  local pid, pidfd = core.spawn { argv = argv, cwd = cwd, env = env, setsid = setsid,
                                  stdin = "inherit", stdout = "inherit", stderr = "inherit" }
  if not pid then
    say(("%serror %s\n"):format(M.MARK, tostring(pidfd):gsub("\n", " ")))
    os.exit(0)
  end
  local ep = core.epoll_create()
  core.epoll_add(ep, pidfd)
  core.epoll_add(ep, sigfd)
  local code, sig, utime, stime, maxrss
  repeat
    core.epoll_wait(ep, -1)
    for _, n in ipairs { core.sigread(sigfd) } do
      local name = core.signame(n)
      core.killpg(pid, n)
      if ENDING[name] then core.killpg(pid, "CONT") end
    end
    code, sig, utime, stime, maxrss = core.reap(pidfd)
  until code ~= false or sig ~= nil
  if code == nil then
    say(("%serror exit status lost: %s\n"):format(M.MARK, tostring(sig)))
    os.exit(0)
  end
  local ep2 = core.epoll_create()
  if not linger then end_group(pid, termseq or { 15, 200, 9 }, ep2) end
  say(("%send %s %s %.17g %.17g %d\n"):format(M.MARK, code and tostring(code) or "-",
    sig and (core.signame(sig) or tostring(sig)) or "-", utime, stime, maxrss))
  os.exit(0)
end

return M
