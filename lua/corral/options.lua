-- corral.options: checking and normalising the options of pools and tasks.
--
-- Every option has one checker; a bad value raises "bad option 'x' to 'pool' (...)" and an
-- unknown name raises naming it, so a typo never passes silently; so does an option the pool
-- would accept and then ignore (a lua pool's `start` on a command pool). Errors are raised at
-- the caller's level: the line of the user's script (corral.errors.where).
local group = require "corral.launch.group"
local errors = require "corral.errors"

local M = {}

local function fail(fname, name, msg)
  errors.raise(("bad option '%s' to '%s' (%s)"):format(name, fname, msg))
end

local function oneof(...)
  local set, list = {}, { ... }
  for _, v in ipairs(list) do set[v] = true end
  local names = '"' .. table.concat(list, '" | "') .. '"'
  return function(v, fname, name)
    if not set[v] then fail(fname, name, names .. " expected, got " .. (type(v) == "string" and ('"' .. v .. '"') or type(v))) end
    return v
  end
end

local function posint(v, fname, name)
  if math.type(v) ~= "integer" or v < 1 then
    fail(fname, name, "positive integer expected, got " .. tostring(v))
  end
  return v
end

local function count(v, fname, name)
  if math.type(v) ~= "integer" or v < 0 then
    fail(fname, name, "non-negative integer expected, got " .. tostring(v))
  end
  return v
end

local function seconds(v, fname, name)
  if type(v) ~= "number" or v <= 0 or v ~= v then
    fail(fname, name, "positive number of seconds expected, got " .. tostring(v))
  end
  return v
end

local function boolean(v, fname, name)
  if type(v) ~= "boolean" then fail(fname, name, "boolean expected, got " .. type(v)) end
  return v
end

local function str(v, fname, name)
  if type(v) ~= "string" then fail(fname, name, "string expected, got " .. type(v)) end
  return v
end

-- stdio: "capture" | "inherit" | "null" | a path (string) | an open fd (integer)
local function stdio(v, fname, name)
  if v == "capture" or v == "inherit" or v == "null" then return v end
  if math.type(v) == "integer" and v >= 0 then return v end
  if type(v) == "string" and v ~= "" then return { path = v } end
  if type(v) == "table" and type(v.path) == "string" then return v end
  fail(fname, name, '"capture" | "inherit" | "null" | path | fd expected, got ' .. tostring(v))
end

local function stdin(v, fname, name)
  if v == "capture" then fail(fname, name, "stdin cannot be captured") end
  return stdio(v, fname, name)
end

-- env: { NAME = "value" | false } merged over the parent's environment (false removes).
local function env(v, fname, name)
  if type(v) ~= "table" then fail(fname, name, "table expected, got " .. type(v)) end
  for k, x in pairs(v) do
    if type(k) ~= "string" or k == "" or k:find("[=%z]") then
      fail(fname, name, "bad variable name " .. tostring(k))
    end
    if x ~= false and type(x) ~= "string" and type(x) ~= "number" then
      fail(fname, name, ("%s: string or false expected, got %s"):format(k, type(x)))
    end
  end
  return v
end

local function termseq(v, fname, name)
  local ok, steps = pcall(group.parse, v, name)
  if not ok then fail(fname, name, (tostring(steps):match("%((.*)%)$") or steps)) end
  return steps
end

local function anything(v) return v end

local function module_fn(v, fname, name)
  if type(v) ~= "string" or not v:match("^[%w_.]+%.[%w_]+$") then
    fail(fname, name, '"module.function" expected, got ' .. tostring(v))
  end
  return v
end

-- preload: module names the fork server requires once, before it forks any worker.
local function modules(v, fname, name)
  if type(v) ~= "table" then fail(fname, name, "list of module names expected, got " .. type(v)) end
  local n = #v
  for k, x in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail(fname, name, "list of module names expected, got key " .. tostring(k))
    end
    if type(x) ~= "string" or not x:match("^[%w_.-]+$") then
      fail(fname, name, ("module name expected at [%d], got %s"):format(k, tostring(x)))
    end
  end
  return v
end

-- limits: { memory = bytes (a cgroup), cpu = seconds, nofile = n, as = bytes (rlimits) }
local function limits(v, fname, name)
  if type(v) ~= "table" then fail(fname, name, "table expected, got " .. type(v)) end
  for k, x in pairs(v) do
    if k ~= "memory" and k ~= "cpu" and k ~= "nofile" and k ~= "as" then
      fail(fname, name, "unknown limit " .. tostring(k))
    end
    if type(x) ~= "number" or x <= 0 or x ~= x or x >= 2^62 then
      fail(fname, name, k .. ": positive number expected")
    end
  end
  return v
end

-- cgroup: true (each task in its own cgroup v2, or an "error" record) | "auto" (when possible)
-- | false
local function cgroup_mode(v, fname, name)
  if v ~= true and v ~= false and v ~= "auto" then
    fail(fname, name, 'true | false | "auto" expected, got ' .. (type(v) == "string" and ('"' .. v .. '"') or tostring(v)))
  end
  return v
end

-- slurm: { partition, time, account, extra = { salloc args }, srun_extra = { srun args },
-- jobid = J (use that allocation; no salloc), agents = true (one agent per node runs the
-- tasks), nodes = N (salloc -N), heartbeat = seconds (an agent silent 3 times that is lost) }
local function strlist(v, fname, name, key)
  if type(v) ~= "table" then fail(fname, name, key .. ": list of strings expected, got " .. type(v)) end
  for k, x in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > #v or type(x) ~= "string" then
      fail(fname, name, ("%s: list of strings expected, bad item at [%s]"):format(key, tostring(k)))
    end
  end
  return v
end

local function slurm(v, fname, name)
  if type(v) ~= "table" then fail(fname, name, "table expected, got " .. type(v)) end
  local out = {}
  for k, x in pairs(v) do
    if k == "partition" or k == "account" then
      if type(x) ~= "string" or x == "" then fail(fname, name, k .. ": non-empty string expected, got " .. tostring(x)) end
    elseif k == "time" then
      if not (math.type(x) == "integer" and x > 0) and not (type(x) == "string" and x:match("^[%d:-]+$")) then
        fail(fname, name, "time: minutes (integer) or a Slurm time string (\"1:00:00\") expected, got " .. tostring(x))
      end
    elseif k == "jobid" then
      local j = math.type(x) == "integer" and x or (type(x) == "string" and x:match("^%d+$") and tonumber(x))
      if not j or j < 1 then fail(fname, name, "jobid: a job id (positive integer) expected, got " .. (type(x) == "string" and ('"' .. x .. '"') or tostring(x))) end
      x = j
    elseif k == "extra" or k == "srun_extra" then
      strlist(x, fname, name, k)
    elseif k == "agents" then
      if type(x) ~= "boolean" then fail(fname, name, "agents: boolean expected, got " .. type(x)) end
    elseif k == "nodes" then
      if math.type(x) ~= "integer" or x < 1 then fail(fname, name, "nodes: positive integer expected, got " .. tostring(x)) end
    elseif k == "heartbeat" then
      if type(x) ~= "number" or not (x > 0) then fail(fname, name, "heartbeat: seconds (positive number) expected, got " .. tostring(x)) end
    else
      fail(fname, name, "unknown key '" .. tostring(k) .. "'")
    end
    out[k] = x
  end
  return out
end

M.pool = {
  executor = oneof("shell", "exec", "lua"),
  launcher = oneof("local", "slurm"),
  size = posint, start = oneof("spawn", "fork", "forkserver"), maxtasks = posint,
  init = module_fn, interpreter = str, preload = modules,
  timeout = seconds, termseq = termseq, on_interrupt = oneof("cancel", "drain", "forward"),
  retries = count, stdout = stdio, stderr = stdio, stdin = stdin, cwd = str, env = env,
  clearenv = boolean, cgroup = cgroup_mode, limits = limits, signals = boolean, joblog = str,
  linger = boolean, setsid = boolean, slurm = slurm,
  name = function(_, fname, name) fail(fname, name, "a task's name: give it to submit") end,
}

local function tbl(v, fname, name)
  if type(v) ~= "table" then fail(fname, name, "table expected, got " .. type(v)) end
  return v
end

-- corral.workflow's options and a job's (corral.workflow.halt checks `halt`).
M.workflow = {
  jobs = posint, joblog = str, resume = boolean, retries = count, halt = anything,
  progress = boolean, keep_order = boolean, on_interrupt = oneof("cancel", "drain", "forward"),
  termseq = termseq, timeout = seconds, start = oneof("spawn", "fork", "forkserver"),
  signals = boolean, cpus = posint, memory = anything, cgroup = cgroup_mode,
  launcher = oneof("local", "slurm"), slurm = slurm,
}

-- cpus and memory are checked by corral.workflow.resources, which names the job.
M.job = {
  cmd = tbl, shell = str, fn = anything, args = tbl, after = tbl, timeout = seconds,
  retries = count, cwd = str, env = env, cpus = anything, memory = anything,
  inputs = tbl, outputs = tbl, keep_partial = boolean,   -- corral.workflow.files checks the paths
}

-- Options one kind of pool takes and the other would ignore.
local LUA_ONLY = { "start", "maxtasks", "init", "interpreter", "preload" }
local COMMANDS_ONLY = {
  stdin = "a lua worker's stdin is /dev/null",
  setsid = "command pools only: shell, exec", linger = "command pools only: shell, exec",
}

local function pool_kind(o, fname)
  if (o.executor or "shell") == "lua" then
    for name, why in pairs(COMMANDS_ONLY) do
      if o[name] ~= nil then fail(fname, name, why) end
    end
    for _, name in ipairs { "stdout", "stderr" } do
      if o[name] == "capture" then
        fail(fname, name, 'lua pools cannot capture, workers write to it directly: "inherit" (the default), "null", a path or an fd')
      end
    end
  else
    for _, name in ipairs(LUA_ONLY) do
      if o[name] ~= nil then fail(fname, name, 'lua pools only: executor = "lua"') end
    end
  end
end

M.task = {
  timeout = seconds, termseq = termseq, retries = count, stdout = stdio, stderr = stdio,
  stdin = stdin, cwd = str, env = env, clearenv = boolean, linger = boolean, setsid = boolean,
  name = str, limits = limits, cgroup = cgroup_mode,
  cpus = posint,              -- launcher = "slurm" only (corral.pool refuses it elsewhere)
}

-- verify(kind, t, fname): raises on the first bad or unknown option, as check() does, for a
-- caller that keeps the table as given (a workflow's jobs: no copy made per job).
function M.verify(kind, t, fname)
  if t == nil then return end
  if type(t) ~= "table" then
    errors.raise(("bad argument to '%s' (options table expected, got %s)"):format(fname, type(t)))
  end
  local checkers = M[kind]
  for k, v in pairs(t) do
    local c = checkers[k]
    if not c then errors.raise(("unknown option '%s' to '%s'"):format(tostring(k), fname)) end
    c(v, fname, k)
  end
end

-- check(kind, t, fname) -> a new table of normalised values; raises on the first bad one.
function M.check(kind, t, fname)
  local checkers = M[kind]
  local out = {}
  if t == nil then return out end
  if type(t) ~= "table" then
    errors.raise(("bad argument to '%s' (options table expected, got %s)"):format(fname, type(t)))
  end
  for k, v in pairs(t) do
    local c = checkers[k]
    if not c then errors.raise(("unknown option '%s' to '%s'"):format(tostring(k), fname)) end
    out[k] = c(v, fname, k)
  end
  if kind == "pool" then pool_kind(out, fname) end
  return out
end

return M
