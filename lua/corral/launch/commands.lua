-- corral.launch.commands: the runner of the "exec" and "shell" executors on this machine: a
-- command in its own process group (corral.launch.proc), with its cgroup and rlimits.
--
-- Every runner (this one, corral.lua.workers, corral.slurm) has the same shape: start(pool,
-- future, on_end) returns a handle with pid, pgid, started_at, stop(termseq), send(sig),
-- kill_now(), output(name), and calls on_end(future, handle [, values]) once the task is over;
-- the handle then has code, signal, rusage, ended_at, and for lua tasks failure or lost. Or
-- start returns nil, message when the task cannot start.
local proc = require "corral.launch.proc"
local settings = require "corral.launch.settings"
-- corral.launch.cgroup is required by the first task that asks for a cgroup or a memory limit.

local M = {}

local pick = settings.pick

local commands = {}

-- The task's limits: its own over the pool's, key by key. memory -> a cgroup; the others ->
-- rlimits set in the child (cpu in whole seconds, rounded up).
local function limits(o, po)
  local l = {}
  for _, t in ipairs { po.limits or {}, o.limits or {} } do
    for k, v in pairs(t) do l[k] = v end
  end
  if not next(l) then return nil, nil end
  local r
  for k, v in pairs(l) do
    if k ~= "memory" then
      r = r or {}
      r[k] = math.ceil(v)
    end
  end
  return l.memory and math.ceil(l.memory), r
end

function commands.start(pool, f, on_end)
  local o, po = f.opts, pool.opts
  local env = pool.env
  if o.env or o.clearenv then env = settings.environment(o.env, o.clearenv, pool.env) end
  local memory, rlimits = limits(o, po)
  local mode, cg = pick(o, po, "cgroup", false), nil
  if mode or memory then
    local err
    cg, err = require("corral.launch.cgroup").create(mode, memory)
    if cg == nil then return nil, err end
  end
  return proc.start({
    cgroup = cg or nil, rlimits = rlimits,
    argv = f.task, env = env,
    cwd = pick(o, po, "cwd"),
    stdin = pick(o, po, "stdin", "null"),
    stdout = pick(o, po, "stdout", "capture"),
    stderr = pick(o, po, "stderr", "capture"),
    setsid = pick(o, po, "setsid", false),
    linger = pick(o, po, "linger", false),
    termseq = f.termseq,
  }, function(p) on_end(f, p) end)
end

-- The pool is closing: corral's cgroup parent goes once no pool has a task cgroup left.
function commands.shutdown()
  local cgroup = package.loaded["corral.launch.cgroup"]    -- not loaded: no cgroup was made
  if cgroup then cgroup.release() end
end

M.exec = commands
M.shell = commands

return M
