-- corral.slurm: the "slurm" launcher. A pool holds one allocation (`salloc --no-shell`, or the
-- job id it was given). By default (slurm.agents ~= false) one agent per node runs the tasks
-- (corral.slurm.agents, corral.slurm.agent); with agents = false each task is a job step in it
-- (`srun --jobid=J -n1 --exact`), as below.
--
-- exec/shell tasks: the step runs corral.slurm.shim, which reports the command's exact code,
-- signal and rusage on stderr; this module strips those lines. Stopping a step: the
-- termseq's signals go to every process of the step with `scancel --signal=SIG J.S`; the
-- last step (KILL) is SIGTERM to srun, which makes srun cancel the step at once (SIGKILL to
-- srun's group would leave the step running: docs/slurm.md).
-- lua tasks: each worker is a step running corral.lua.worker with the wire protocol on the step's
-- stdin/stdout (`srun -u`: unbuffered and byte-exact); corral.lua.workers does the rest.
-- Not for talking to slurmctld in any other way: only salloc, srun, scancel and (for the
-- agents' nodes) scontrol are used.
local core = require "corral.core"
local loop = require "corral.loop"
local proc = require "corral.launch.proc"
local group = require "corral.launch.group"
local luacmd = require "corral.launch.luacmd"
local lifeline = require "corral.launch.lifeline"
local shim = require "corral.slurm.shim"
local settings = require "corral.launch.settings"

local M = {}

local MARK = shim.MARK
local SRUN_END = group.parse("TERM,3000,KILL")   -- srun cancels its step on TERM within ms
local ID_WAIT = 1           -- seconds a stop waits for the step id before cancelling through srun

local pick = settings.pick

-- run(argv) -> code, signal, stdout, stderr: a client command (salloc, scancel) run to its end
-- by corral's own loop.
local function run(argv)
  local done, p, err
  p, err = proc.start({ argv = argv, stdin = "null", stdout = "capture", stderr = "capture",
                        termseq = SRUN_END }, function() done = true end)
  if not p then return nil, nil, "", err end
  loop.run_until(function() return done end)
  return p.code, p.signal, p:output("out"), p:output("err")
end

-- spawn(argv): a client command started and forgotten (its end is reaped by the loop).
local function spawn(argv)
  proc.start({ argv = argv, stdin = "null", stdout = "null", stderr = "null",
               termseq = SRUN_END }, function() end)
end

local function salloc_argv(size, s)
  local argv = { "salloc", "--no-shell", "-n", tostring(size), "-J", "corral" }
  if s.partition then argv[#argv + 1] = "--partition=" .. s.partition end
  if s.time then argv[#argv + 1] = "--time=" .. tostring(s.time) end
  if s.account then argv[#argv + 1] = "--account=" .. s.account end
  if s.nodes then argv[#argv + 1] = "--nodes=" .. s.nodes end
  -- agents: a failed node ends its agent, not the allocation (the pool goes on with the rest)
  if s.agents ~= false then argv[#argv + 1] = "--no-kill" end
  for _, a in ipairs(s.extra or {}) do argv[#argv + 1] = a end
  return argv
end

-- The options a step cannot honour raise here, naming the option and why.
local function refuse(o)
  local function bad(name, why) error(("bad option '%s' to 'pool' (%s)"):format(name, why), 0) end
  if o.cgroup then bad("cgroup", 'not with launcher = "slurm": Slurm\'s proctrack/cgroup tracks each step') end
  if o.limits then bad("limits", 'not with launcher = "slurm": ask Slurm (slurm.extra, e.g. "--mem=1G")') end
  if o.linger then bad("linger", 'not with launcher = "slurm": a step ends with all its processes') end
  if o.executor == "lua" and (o.start or "spawn") ~= "spawn" then
    bad("start", 'only "spawn" with launcher = "slurm": a worker is a step')
  end
end

-- setup(pool): called by corral.pool for launcher = "slurm". Makes (or adopts) the allocation;
-- raises with salloc's message when there is none.
-- with_allocation(runner): the runner, whose shutdown and kill_now also end the allocation
-- (M.release, M.kill_now are looked up at call time: defined below).
local function with_allocation(runner)
  return setmetatable({ shutdown = function(p, hard)
    runner.shutdown(p, hard)
    M.release(p)
  end, kill_now = function(p)
    runner.kill_now(p)
    M.kill_now(p)
  end }, { __index = runner })
end

function M.setup(pool)
  local o = pool.opts
  refuse(o)
  local s = o.slurm or {}
  local a = { jobid = s.jobid, srun_extra = s.srun_extra, agents = s.agents ~= false, beat = s.heartbeat or 2 }
  if not a.jobid then
    local code, sig, _, err = run(salloc_argv(pool.size, s))
    local j = err and err:match("Granted job allocation (%d+)")
    if not j then
      local how = sig and ("killed by " .. sig) or ("exit code " .. tostring(code))
      error(("cannot get a Slurm allocation: salloc failed (%s): %s"):format(how,
        (err or ""):gsub("%s+$", "")), 0)
    end
    a.jobid, a.owned = tonumber(j), true
    a.guard = lifeline.add_job(a.jobid)          -- scancel'd by the watchdog if we die
  end
  pool.slurm = a
  if a.agents then
    local agents = require "corral.slurm.agents"
    local ok, err = pcall(agents.setup, pool, run)
    if not ok then
      agents.shutdown(pool, true)
      M.release(pool)
      error(err, 0)
    end
    pool.runner = with_allocation(agents)
  elseif o.executor == "lua" then
    local workers = require "corral.lua.workers"
    pool.worker_launch = M.worker_launch
    pool.runner = with_allocation(workers)
  else
    pool.runner = M.commands
  end
end

-- release(pool): the allocation goes (when the pool made it); once, and only after every step
-- of the pool has ended.
function M.release(pool)
  local a = pool.slurm
  if not a or not a.owned or a.released then return end
  a.released = true
  run { "scancel", tostring(a.jobid) }
  lifeline.remove_job(a.jobid)
end

-- kill_now(pool): a pool collected with work running (no loop to wait on).
function M.kill_now(pool)
  local a = pool.slurm
  if a and a.owned and not a.released then
    a.released = true
    core.spawn { argv = { "scancel", tostring(a.jobid) }, stdin = "null", stdout = "null", stderr = "null" }
  end
end

-- The argv of one step in the pool's allocation; o: a task's options (cpus: -c, limits.memory:
-- --mem in MiB, rounded up).
local function srun_argv(pool, name, o)
  local a = pool.slurm
  local argv = { "srun", "--jobid=" .. a.jobid, "-n1", "-N1", "--exact", "-u", "--quiet",
                 "--job-name=" .. name }
  if o and o.cpus then argv[#argv + 1] = "--cpus-per-task=" .. o.cpus end
  local mem = o and o.limits and o.limits.memory
  if mem then argv[#argv + 1] = ("--mem=%dM"):format(math.ceil(mem / (1 << 20))) end
  for _, x in ipairs(a.srun_extra or {}) do argv[#argv + 1] = x end
  return argv
end

local function append(t, list)
  for _, x in ipairs(list) do t[#t + 1] = x end
  return t
end

-- srun exits 128 + N when its task was killed by signal N: that signal's name, else nil.
local function srun_signal(code)
  if code and code > 128 and code < 128 + 65 then
    return core.signame(code - 128) or tostring(code - 128)
  end
end

-- A worker's srun passes most signals on to its step (INT too: --quit-on-interrupt), but
-- KILL would leave the step running: that one becomes TERM, on which srun cancels the step.
local function worker_send(p, sig)
  if p.reaped then return false end
  local name = core.signame(core.signum(sig))
  return core.kill(p.pid, name == "KILL" and "TERM" or sig) and true or false
end

local function worker_kill_now(p)
  if not p.reaped then core.kill(p.pid, "TERM") end
end

-- worker_launch(pool, spec, on_end) -> proc: corral.lua.workers' hook. spec.fds[3] and [4] are the
-- worker's protocol pipes; here they become srun's stdin and stdout, and a shell in the step
-- moves them back to fds 3 and 4, with stdout going to stderr (a task's print must not mix
-- with frames).
function M.worker_launch(pool, spec, on_end)
  local o = pool.opts
  local argv = append(srun_argv(pool, "corral-worker"),
    { "--quit-on-interrupt", "/bin/sh", "-c", 'exec "$@" 3<&0 4>&1 0</dev/null 1>&2', "sh" })
  append(argv, luacmd.argv(o.interpreter, "corral.lua.worker", 3, 4, o.init))
  spec.argv = argv
  spec.stdin, spec.stdout = spec.fds[3], spec.fds[4]
  spec.fds = nil
  if spec.stderr == nil or spec.stderr == "capture" then spec.stderr = "inherit" end
  spec.termseq = SRUN_END
  local p, err, errno = proc.start(spec, function(p)
    local sig = srun_signal(p.code)          -- a worker never exits > 128 itself
    if sig then p.code, p.signal = nil, sig end
    on_end(p)
  end)
  if p then p.send, p.kill_now = worker_send, worker_kill_now end
  return p, err, errno
end

-- exec/shell tasks ---------------------------------------------------------------------------

local Step = {}
Step.__index = Step

local function flat_termseq(steps)
  local t = {}
  for _, s in ipairs(steps) do
    t[#t + 1] = s.sig
    if s.wait then t[#t + 1] = math.floor(s.wait * 1000 + 0.5) end
  end
  return t
end

-- parse(text) -> the stderr without the shim's lines, and what they said.
local function parse(text)
  local info, out, pos = {}, {}, 1
  while true do
    local i = text:find(MARK, pos, true)
    if not i then break end
    local j = text:find("\n", i, true)
    if not j then break end
    out[#out + 1] = text:sub(pos, i - 1)
    local kind, rest = text:sub(i + #MARK, j - 1):match("^(%a+) ?(.*)$")
    if kind == "step" then
      info.step, info.host = rest:match("^(%S+) (%S+)")
    elseif kind == "end" then
      local c, s, u, st, m = rest:match("^(%S+) (%S+) (%S+) (%S+) (%S+)$")
      info.ended = true
      info.code, info.signal = tonumber(c), s ~= "-" and s or nil
      info.rusage = { utime = tonumber(u), stime = tonumber(st), maxrss = tonumber(m) }
    elseif kind == "error" then
      info.error = rest
    end
    pos = j + 1
  end
  out[#out + 1] = text:sub(pos)
  return table.concat(out), info
end

-- The step is known (its id came): stop and send can use scancel.
local function step_id(self)
  if self.step then return self.step end
  local text = self.proc:output("err") or ""
  local i = text:find(MARK .. "step ", 1, true)
  if i then self.step = text:match("^(%S+)", i + #MARK + 5) end
  if self.step and self.step:find("?", 1, true) then self.step = nil end
  return self.step
end

local function deliver(self, text)
  local where = self.stderr_to
  if where == "capture" then self.err_text = text
  elseif where == "inherit" then io.stderr:write(text)
  elseif type(where) == "table" and where.path then
    local f = io.open(where.path, where.append and "ab" or "wb")   -- as spawn opens it
    if f then f:write(text); f:close() end
  elseif math.type(where) == "integer" then
    core.write(where, text)
  end
end

local function on_srun_end(self, p)
  self.finished = true
  loop.cancel_timer(self.timer)
  local text, info = parse(p:output("err") or "")
  self.host = info.host
  if info.ended then
    self.code, self.signal, self.rusage = info.code, info.signal, info.rusage
  elseif info.error then
    self.start_error = info.error
  elseif not info.step and not self.stopping then
    -- the step never started: srun (or the allocation) refused it
    local msg = text:gsub("%s+$", "")
    if msg == "" then msg = "srun " .. (p.signal and ("killed by " .. p.signal) or ("exited with code " .. tostring(p.code))) end
    self.start_error = msg
    text = ""
  else
    -- the shim was killed (the step was cancelled): srun's 128+N is all there is
    local sig = srun_signal(p.code)
    if sig then self.signal = sig
    else self.code, self.signal = p.code, p.signal end
  end
  deliver(self, text)
  self.ended_at = p.ended_at
  self.on_end(self.future, self)
end

-- commands.start(pool, future, on_end) -> step handle | nil, message
M.commands = {}

function M.commands.start(pool, f, on_end)
  local o, po = f.opts, pool.opts
  if o.linger then return nil, 'linger is not available with launcher = "slurm"' end
  if o.cgroup then return nil, 'cgroup is not available with launcher = "slurm"' end
  for k in pairs(o.limits or {}) do
    if k ~= "memory" then return nil, ('limits.%s is not available with launcher = "slurm" (limits.memory is: srun --mem)'):format(k) end
  end
  -- env is merged on the node, over the step's environment (SLURM_JOB_ID etc.), not ours:
  -- the shim gets the changes, "K=V" to set and "K" to remove.
  local changes, clear = {}, pick(o, po, "clearenv", false)
  for _, t in ipairs { (not o.clearenv) and po.env or {}, o.env or {} } do
    for k, v in pairs(t) do changes[k] = v end
  end
  local env = nil
  if next(changes) or clear then
    env = { clear = clear }
    for k, v in pairs(changes) do env[#env + 1] = v == false and k or (k .. "=" .. tostring(v)) end
    table.sort(env)
  end
  local argv = srun_argv(pool, "corral", o)
  append(argv, luacmd.argv(po.interpreter, "corral.slurm.shim", f.task, pick(o, po, "cwd"),
    env, env and env.clear or false,
    pick(o, po, "setsid", false), false, flat_termseq(f.termseq)))
  local self = setmetatable({ on_end = on_end, future = f, stderr_to = pick(o, po, "stderr", "capture"),
                              termseq = f.termseq, pool = pool }, Step)
  local p, err = proc.start({
    argv = argv, stdin = pick(o, po, "stdin", "null"), stdout = pick(o, po, "stdout", "capture"),
    stderr = "capture", termseq = SRUN_END,
  }, function(p) on_srun_end(self, p) end)
  if not p then return nil, "cannot start srun: " .. tostring(err) end
  self.proc, self.pid, self.pgid, self.started_at = p, p.pid, p.pgid, p.started_at
  return self
end

function M.commands.shutdown(pool) M.release(pool) end
M.commands.kill_now = M.kill_now

-- The last resort: srun cancels its step when it gets TERM; its group goes after that.
local function end_srun(self)
  if self.finished then return end
  self.ending = true
  self.proc:stop(SRUN_END)
end

-- stop([steps]): the termseq on every process of the step; its KILL (and a second stop: an
-- impatient user) is srun's own cancel. False when the task had already ended.
function Step:stop(steps)
  if self.finished then return false end
  if self.stopping then
    loop.cancel_timer(self.timer)
    end_srun(self)
    return true
  end
  self.stopping = true
  steps = steps or self.termseq
  local i, deadline = 0, loop.now() + ID_WAIT
  local function advance()
    if self.finished then return end
    local id = step_id(self)
    if not id and loop.now() < deadline then   -- srun forwards the shim's first line soon
      self.timer = loop.timer(0.005, advance)
      return
    end
    i = i + 1
    local s = steps[i]
    if not s or not id or s.name == "KILL" then return end_srun(self) end
    spawn { "scancel", "--quiet", "--signal=" .. s.name, id }
    self.timer = loop.timer(s.wait or 5, advance)
  end
  advance()
  return true
end

-- send(sig): one signal to the command's group, through the shim (scancel reaches the shim;
-- it passes the signal on). Before the step id came, it is sent when it comes.
function Step:send(sig)
  if self.finished or self.proc.reaped then return false end
  local name = core.signame(core.signum(sig)) or tostring(sig)
  local deadline = loop.now() + ID_WAIT
  local function go()
    if self.finished then return end
    local id = step_id(self)
    if id then return spawn { "scancel", "--quiet", "--signal=" .. name, id } end
    if loop.now() < deadline then return loop.timer(0.005, go) end
    if name == "KILL" or name == "TERM" then end_srun(self) end
  end
  go()
  return true
end

function Step:kill_now()
  if not self.finished then core.killpg(self.pgid, "TERM") end
end

function Step:output(name)
  if name == "err" then return self.err_text end
  return self.proc:output(name)
end

return M
