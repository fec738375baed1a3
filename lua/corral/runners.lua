-- corral.runners: how each executor kind starts a task. A runner's start(pool, future, on_end)
-- returns a handle with pid, pgid, started_at, stop(termseq), send(sig), kill_now(),
-- output(name), and after on_end: code, signal, rusage, ended_at, and for lua tasks values,
-- failure or lost. Or it returns nil, message when the task cannot start.
local proc = require "corral.proc"
local options = require "corral.options"

local M = {}

local function pick(task, pool, name, default)
  local v = task[name]
  if v == nil then v = pool[name] end
  if v == nil then v = default end
  return v
end

local commands = {}

function commands.start(pool, f, on_end)
  local o, po = f.opts, pool.opts
  local env = pool.env
  if o.env or o.clearenv then env = options.environment(o.env, o.clearenv, pool.env) end
  return proc.start({
    argv = f.argv, env = env,
    cwd = pick(o, po, "cwd"),
    stdin = pick(o, po, "stdin", "null"),
    stdout = pick(o, po, "stdout", "capture"),
    stderr = pick(o, po, "stderr", "capture"),
    setsid = pick(o, po, "setsid", false),
    linger = pick(o, po, "linger", false),
    termseq = f.termseq,
  }, on_end)
end

M.exec = commands
M.shell = commands

return M
