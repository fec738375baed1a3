-- corral.slurm.agents: the runner of a slurm pool with `slurm = { agents = true }`, any
-- executor. One agent (corral.slurm.agent) per node of the allocation, each a job step
-- started with the pool, speaking the wire protocol over the step's stdio; a task is a frame
-- to the agent with the most room (its running and waiting tasks against its node's CPUs),
-- which runs it with corral's local launcher and sends back the handle's fields. The pool's
-- policy (timeouts, cancel, retries, terminate) works on these handles as on local ones.
--
-- An agent is lost when its srun ends, its stdout closes, a frame is broken, or it says
-- nothing for 3 heartbeats (a dead node: srun itself may wait minutes for slurmctld to call
-- the node down). Its running tasks are then "lost" with the cause (with what srun last said
-- on stderr, and a frame cut short by its end); tasks it had not started run elsewhere; its
-- srun is ended (which cancels the step). Every few heartbeats the pool asks Slurm for its
-- nodes' states (sinfo, in the background): a node drained (or failing) gets no new task, its
-- agent finishes what it holds and exits; a node down is lost at once.
local core = require "corral.core"
local loop = require "corral.loop"
local proc = require "corral.launch.proc"
local group = require "corral.launch.group"
local luacmd = require "corral.launch.luacmd"
local settings = require "corral.launch.settings"

local M = {}

local SRUN_END = group.parse("TERM,3000,KILL")
local AHEAD = 1          -- tasks an agent holds per CPU (more would pipeline, but a task sent ahead
                         -- could not be cancelled as a pending one: it never starts, at once)
local EXIT_WAIT = 2      -- seconds an agent has to exit when told, before its step is cancelled
local HELLO_WAIT = 10    -- seconds a new agent has to say hello, whatever the heartbeat
local STATE_EVERY = 5    -- heartbeats between two asks of the nodes' states (sinfo)
local ETAIL = 1024       -- bytes of srun's stderr kept to name the cause of an agent's end

local pick = settings.pick

local Handle = {}
Handle.__index = Handle

local function close_fd(a, key)
  if a[key] then loop.close(a[key]); a[key] = nil end
end

local function flush(a)
  a.flush_pending = false
  if not a.wfd then a.outq = {}; return end
  local s = table.concat(a.outq)
  a.outq = { s }
  local n = core.write(a.wfd, s, a.outoff)
  if not n then a.outq, a.outoff = {}, 0; return end   -- gone: its end says why
  a.outoff = a.outoff + n
  if a.outoff < #s then
    if not a.wwatch then a.wwatch = true; loop.watch(a.wfd, function() flush(a) end, "w") end
    return
  end
  a.outq, a.outoff = {}, 0
  a.written = a.sent                      -- every task frame so far is in the agent's pipe
  if a.wwatch then a.wwatch = false; loop.unwatch(a.wfd) end
end

-- send(a, frame): batched per loop step; at once from a script's own call (submit, cancel).
local function send(a, frame)
  a.outq[#a.outq + 1] = frame
  if a.flush_pending or a.wwatch then return end
  if loop.stepping() then
    a.flush_pending = true
    loop.defer(a.flush)
  else
    flush(a)
  end
end

local function unlist(st, a)
  for i, x in ipairs(st.list) do
    if x == a then table.remove(st.list, i); return end
  end
end

-- The last error srun (or the step's slurmstepd) wrote: "srun: error: Node failure on c1n2";
-- not its "task 0: Killed" / "Exited with exit code N", which the cause already says.
local function srun_said(a)
  local last
  for line in (a.etail or ""):gmatch("[^\n]+") do
    if line:find("error:", 1, true) and not line:find(": task %d+: ") then last = line end
  end
  return last and (last:gsub("%s+$", ""))
end

local function read_err(a)
  while a.efd do
    local data = core.read(a.efd, 1 << 16)
    if data == false then return end
    if not data or data == "" then close_fd(a, "efd"); return end
    io.stderr:write(data)
    local t = (a.etail or "") .. data
    a.etail = #t > ETAIL and t:sub(-ETAIL) or t
  end
end

-- lost(a, cause): the agent is gone; every task it held ends now: "lost" if it may have
-- started (its frame reached the agent's pipe), else it runs elsewhere. An agent that never
-- said hello started nothing.
local function lost(a, cause)
  if a.dead then return end
  loop.cancel_timer(a.eof_timer)
  read_err(a)
  local said = srun_said(a)
  cause = cause .. (a.cut and ("; " .. a.cut) or "") .. (said and (" (" .. said .. ")") or "")
  a.dead, a.cause = true, ("agent on node %s lost: %s"):format(a.node, cause)
  local st = a.pool.agents
  unlist(st, a)
  if not a.retired then st.last_cause = a.cause end
  close_fd(a, "rfd"); close_fd(a, "wfd")    -- srun's stderr stays open until it ends
  if not a.proc.finished then a.proc:stop(SRUN_END) end
  for id, h in pairs(a.tasks) do
    a.tasks[id] = nil
    h.ended_at = loop.now()
    if not a.host or (h.queued and h.seq > a.written) then h.unstarted = true else h.lost = a.cause end
    st.on_end(h.future, h)
  end
  a.n = 0
end

-- retire(a, why): the agent's node is leaving (drained): no new task goes there; the agent
-- finishes what it holds, then exits. With no agent left, a task's record says why.
local function retire(a, why)
  if a.dead or a.retired then return end
  local st = a.pool.agents
  a.retired = ("agent on node %s left: %s"):format(a.node, why)
  st.last_cause = a.retired
  unlist(st, a)
  send(a, core.encode { op = "exit" })
  if a.pool._pump_soon then a.pool:_pump_soon() end   -- tasks waiting for room may now fail
end

local function deliver(where, text)
  if not text or text == "" then return end
  if where == "inherit" then
    io.stdout:write(text)
  elseif math.type(where) == "integer" then
    local off = 0
    while off < #text do
      local n = core.write(where, text, off)
      if not n then return end
      off = off + n
    end
  end
end

local function on_frame(a, m)
  if m == 1 then return end                                   -- a heartbeat
  if type(m) ~= "table" then return "unexpected frame " .. tostring(m) end
  if m.op == "hello" then a.host, a.pid = m.host, m.pid; return end
  local h = a.tasks[m.i]
  if not h then return end
  if m.op == "start" then
    if not h.queued then return end
    h.queued, h.pid, h.pgid = false, m.pid, m.pid
    local ago = core.time() - m.at
    if ago < 0 then ago = 0 end
    h.started_at = loop.now() - ago
    a.pool.on_began(h.future, h, ago > 0 and m.at or core.time())
  elseif m.op == "end" then
    a.tasks[m.i] = nil
    a.n = a.n - h.cpus
    h.ended_at = loop.now()
    if m.d then h.started_at = h.ended_at - m.d end
    if m.u or (h.queued and not m.se) then h.unstarted = true end
    h.start_error, h.code, h.signal, h.rusage = m.se, m.code, m.signal, m.rusage
    h.lost, h.failure, h.traceback, h.oom, h.note = m.lost, m.failure, m.tb, m.oom, m.note
    if m.pid then h.pid, h.pgid = m.pid, m.pid end
    h.host = a.host or a.node
    if h.out_to == "capture" then h.out = m.out else deliver(h.out_to, m.out) end
    if h.err_to == "capture" then h.err = m.err
    elseif h.err_to == "inherit" then io.stderr:write(m.err or "")
    else deliver(h.err_to, m.err) end
    a.pool.agents.on_end(h.future, h, m.v)
  end
end

local function srun_cause(p)
  if p.signal then return "srun killed by " .. p.signal end
  local c = p.code
  if c and c > 128 and c < 128 + 65 then return "its step was killed by " .. (core.signame(c - 128) or c - 128) end
  return "srun exited with code " .. tostring(c)
end

local function on_readable(a)
  if a.reading then return end
  a.reading = true
  while a.rfd do
    local data = core.read(a.rfd, 1 << 16)
    if data == false then break end
    if not data or data == "" then
      -- srun closes its stdout as it ends: its exit status, if it comes soon, says more
      if a.rpos <= #a.rbuf then
        local _, need = core.decode(a.rbuf, a.rpos)
        a.cut = ("a frame from it cut short (%d of %s bytes came)"):format(#a.rbuf - a.rpos + 1,
          math.type(need) == "integer" and tostring(need) or "?")
      end
      close_fd(a, "rfd")
      if a.proc.finished then lost(a, srun_cause(a.proc))
      else a.eof_timer = loop.timer(1, function() lost(a, "its output closed") end) end
      break
    end
    a.heard = loop.now()
    a.rbuf = a.rpos > 1 and (a.rbuf:sub(a.rpos) .. data) or (a.rbuf .. data)
    a.rpos = 1
    while a.rfd do
      local m, nextpos = core.decode(a.rbuf, a.rpos)
      if m == false then break end
      local bad = m == nil and ("protocol error: " .. tostring(nextpos)) or nil
      if not bad then
        a.rpos = nextpos
        bad = on_frame(a, m)
      end
      if bad then lost(a, bad); break end
    end
  end
  a.reading = false
end

-- start_agent(pool, node, cpus) -> agent | nil, message
local function start_agent(pool, node, cpus)
  local o, s = pool.opts, pool.slurm
  local to_r, to_w = core.pipe()
  if not to_r then return nil, to_w end
  local from_r, from_w = core.pipe()
  if not from_r then core.close(to_r); core.close(to_w); return nil, from_w end
  local err_r, err_w = core.pipe()        -- srun's stderr: passed on, its last words kept
  if not err_r then
    for _, fd in ipairs { to_r, to_w, from_r, from_w } do core.close(fd) end
    return nil, err_w
  end
  core.set_blocking(to_w, false)
  core.set_blocking(err_r, false)
  local argv = { "srun", "--jobid=" .. s.jobid, "-N1", "-n1", "--exact", "-w", node,
                 "-c", tostring(cpus), "-u", "--quiet", "--job-name=corral-agent" }
  for _, x in ipairs(s.srun_extra or {}) do argv[#argv + 1] = x end
  for _, x in ipairs { "/bin/sh", "-c", 'exec "$@" 3<&0 4>&1 0</dev/null 1>&2', "sh" } do argv[#argv + 1] = x end
  for _, x in ipairs(luacmd.argv(o.interpreter, "corral.slurm.agent", 3, 4, cpus, s.beat, o.init,
                                 o.maxtasks, o.interpreter)) do argv[#argv + 1] = x end
  local a = { pool = pool, node = node, cpus = cpus, cap = cpus * AHEAD, n = 0, tasks = {},
              sent = 0, written = 0,
              wfd = to_w, rfd = from_r, efd = err_r, rbuf = "", rpos = 1, outq = {}, outoff = 0, heard = loop.now() }
  a.flush = function() flush(a) end
  local p, err = proc.start({ argv = argv, stdin = to_r, stdout = from_w, stderr = err_w,
                              termseq = SRUN_END }, function(p)
    a.proc = p
    on_readable(a)
    lost(a, srun_cause(p))
    read_err(a)
    close_fd(a, "efd")
    loop.wake_all(pool.agents.waiters)
  end)
  core.close(to_r); core.close(from_w); core.close(err_w)
  if not p then core.close(to_w); core.close(from_r); core.close(err_r); return nil, err end
  a.proc = p
  loop.watch(from_r, function() on_readable(a) end)
  loop.watch(err_r, function() read_err(a) end)
  return a
end

-- nodes(jobid) -> { { node, cpus }, ... } of the allocation, from `scontrol show job -d`.
local function nodes(run, jobid)
  local code, _, out, err = run { "scontrol", "show", "job", "-d", "-o", tostring(jobid) }
  if code ~= 0 then return nil, "scontrol show job failed: " .. tostring(err) end
  local list = {}
  for expr, ids in out:gmatch("Nodes=(%S+) CPU_IDs=(%S+)") do
    local n = 0
    for item in ids:gmatch("[^,]+") do
      local lo, hi = item:match("^(%d+)-(%d+)$")
      n = n + (lo and (tonumber(hi) - tonumber(lo) + 1) or 1)
    end
    local c2, _, names = run { "scontrol", "show", "hostnames", expr }
    if c2 ~= 0 then return nil, "scontrol show hostnames failed" end
    for name in names:gmatch("%S+") do list[#list + 1] = { name, n } end
  end
  if #list == 0 then return nil, "no nodes in: " .. out end
  return list
end

-- setup(pool, run): one agent per node of pool.slurm's allocation. Raises when none starts.
function M.setup(pool, run)
  local st = { list = {}, all = {}, waiters = {} }
  pool.agents = st
  local list, err = nodes(run, pool.slurm.jobid)
  if not list then error("cannot start the Slurm agents: " .. err, 0) end
  for _, x in ipairs(list) do
    local a, e = start_agent(pool, x[1], x[2])
    if not a then error("cannot start the Slurm agent on " .. x[1] .. ": " .. tostring(e), 0) end
    st.list[#st.list + 1] = a
    st.all[a] = true
  end
  st.timer = loop.timer(pool.slurm.beat, function() M.check(pool) end)
end

-- on_states(pool, text): sinfo's "NODE|STATE|REASON" lines. A node drained, draining or
-- failing retires its agent; a node down loses it (slurmctld cancels its steps anyway).
local LEAVING = { drain = true, drained = true, draining = true, fail = true, failing = true }
local function on_states(pool, text)
  local st = pool.agents
  for node, state, reason in text:gmatch("([^|\n]+)|([^|\n]*)|([^\n]*)") do
    local base = state:lower():match("^[a-z]+") or ""
    if base == "down" or LEAVING[base] then
      reason = reason:gsub("%s+$", "")
      local why = ("node %s in Slurm%s"):format(base, (reason ~= "" and reason ~= "none") and (" (reason: " .. reason .. ")") or "")
      for a in pairs(st.all) do
        if a.node == node and not a.dead then
          if base == "down" then lost(a, why) else retire(a, why) end
        end
      end
    end
  end
end

-- ask_states(pool): sinfo for the nodes of the live agents, in the background (one at a time).
local function ask_states(pool)
  local st = pool.agents
  if st.asking or st.closed then return end
  local names = {}
  for a in pairs(st.all) do if not a.dead then names[#names + 1] = a.node end end
  if #names == 0 then return end
  st.asking = proc.start({ argv = { "sinfo", "-h", "-N", "-n", table.concat(names, ","), "-o", "%N|%T|%E" },
                           stdin = "null", stdout = "capture", stderr = "null", termseq = SRUN_END },
    function(p)
      st.asking = nil
      if not st.closed and p.code == 0 then on_states(pool, p:output("out") or "") end
    end) or nil
end

-- check(pool): an agent silent for 3 heartbeats is lost (its node, or the way to it); every
-- STATE_EVERY heartbeats, the nodes' states are asked of Slurm.
function M.check(pool)
  local st = pool.agents
  local limit = 3 * pool.slurm.beat
  local list = {}
  for a in pairs(st.all) do if not a.dead then list[#list + 1] = a end end
  for _, a in ipairs(list) do
    on_readable(a)                     -- what came while the script was away from the loop
    -- before its hello, the step's start counts too (srun, slurmstepd, lua5.4): 10 s at least
    local lim = a.host and limit or math.max(limit, HELLO_WAIT)
    if not a.dead and loop.now() - a.heard > lim then
      lost(a, ("no word from it for %g s"):format(lim))
    end
  end
  st.beats = (st.beats or 0) + 1
  if st.beats % STATE_EVERY == 0 then ask_states(pool) end
  st.timer = loop.timer(pool.slurm.beat, function() M.check(pool) end)
end

-- A task counts its `cpus` (a per-task option, default 1) against its agent's CPUs.
local function cpus_of(f) return f and f.opts and f.opts.cpus or 1 end

-- The agent with the most room for a task of c CPUs, by share of its CPUs in use; nil when
-- none has c free; and the most CPUs any agent has.
local function choose(st, c)
  local best, load, most = nil, math.huge, 0
  for _, a in ipairs(st.list) do
    if a.n + c <= a.cap then
      local l = a.n / a.cpus
      if l < load then best, load = a, l end
    end
    if a.cap > most then most = a.cap end
  end
  return best, most
end

-- f: the task at the head of the pool's queue; one no agent could ever take is "room" too,
-- so that start() gives it its "error" record instead of holding the queue forever.
function M.has_room(pool, f)
  local st = pool.agents
  if #st.list == 0 then return true end          -- start() says why no task can run
  local c = cpus_of(f)
  local a, most = choose(st, c)
  return a ~= nil or c > most
end

function M.start(pool, f, on_end)
  local st = pool.agents
  st.on_end = on_end
  local c = cpus_of(f)
  local a, most = choose(st, c)
  if not a then
    if #st.list == 0 then return nil, "no Slurm agent left: " .. tostring(st.last_cause) end
    if c > most then
      return nil, ("the task needs %d CPUs, the largest Slurm agent has %d (the CPUs of its node in the allocation)"):format(c, most)
    end
    return nil, "no Slurm agent has room"
  end
  local o, po = f.opts, pool.opts
  local kind, opts = po.executor, nil
  if kind ~= "lua" then
    if o.linger then return nil, 'linger is not available with launcher = "slurm"' end
    if o.cgroup or o.limits then return nil, 'cgroup and limits are not available with launcher = "slurm"' end
    -- env: the changes, applied on the node over the step's environment
    local env, clear = {}, pick(o, po, "clearenv", false)
    for _, t in ipairs { (not o.clearenv) and po.env or {}, o.env or {} } do
      for k, v in pairs(t) do env[k] = v end
    end
    local function where(name)
      local v = pick(o, po, name, "capture")
      return type(v) == "table" and v or "capture", v
    end
    opts = { cwd = pick(o, po, "cwd"), env = next(env) and env or nil, clearenv = clear or nil,
             setsid = pick(o, po, "setsid", false) or nil }
    local out_to, err_to
    opts.stdout, out_to = where("stdout")
    opts.stderr, err_to = where("stderr")
    local sin = pick(o, po, "stdin", "null")
    if sin ~= "null" and type(sin) ~= "table" then   -- the agent's stdin is the protocol
      return nil, ("stdin %s is not available with Slurm agents (a path is, or agents = false)"):format(
        sin == "inherit" and '"inherit"' or ("fd " .. tostring(sin)))
    end
    opts.stdin = sin
    opts.out_to, opts.err_to = out_to, err_to
  end
  st.next = (st.next or 0) + 1
  local id = st.next
  local h = setmetatable({ agent = a, id = id, future = f, started_at = loop.now(), queued = true, cpus = c,
                           host = a.node, out_to = opts and opts.out_to, err_to = opts and opts.err_to },
                         Handle)
  if opts then opts.out_to, opts.err_to = nil, nil end
  a.tasks[id] = h
  a.n = a.n + c
  a.sent = a.sent + 1
  h.seq = a.sent
  send(a, core.encode { op = "run", i = id, k = kind, t = f.task, o = opts, q = f.termseq })
  return h
end

function Handle:stop(steps)
  if self.ended_at or self.agent.dead then return false end
  if self.queued and self.stop_sent then return false end
  self.stop_sent = true
  send(self.agent, core.encode { op = "stop", i = self.id, q = steps })
  return true
end

function Handle:send(sig)
  if self.ended_at or self.queued or self.agent.dead then return false end
  send(self.agent, core.encode { op = "kill", i = self.id, s = core.signame(core.signum(sig)) or sig })
  return true
end

-- Collected with work running: the agent's srun gets TERM, which cancels its step.
function Handle:kill_now()
  local p = self.agent.proc
  if p and not p.finished then core.killpg(p.pgid, "TERM") end
end

function Handle:output(name)
  if name == "out" then return self.out end
  if name == "err" then return self.err end
end

function Handle:poll()
  if self.agent.rfd then on_readable(self.agent) end
end

-- shutdown(pool, hard): every agent is told to exit (hard: its step is cancelled); returns once
-- their sruns have ended.
function M.shutdown(pool, hard)
  local st = pool.agents
  if not st then return end
  loop.cancel_timer(st.timer)
  st.closed = true
  if st.asking and not st.asking.finished then st.asking:stop(SRUN_END) end
  local function live()
    for a in pairs(st.all) do if not a.proc.finished then return true end end
    return false
  end
  for a in pairs(st.all) do
    if not a.proc.finished then
      if hard or a.dead then a.proc:stop(SRUN_END) else send(a, core.encode { op = "exit" }) end
    end
  end
  if not loop.run_until(function() return not live() end, loop.now() + EXIT_WAIT) then
    for a in pairs(st.all) do if not a.proc.finished then a.proc:stop(SRUN_END) end end
    loop.run_until(function() return not live() end)
  end
end

function M.kill_now(pool)
  local st = pool.agents
  for a in pairs(st and st.all or {}) do
    if a.proc and not a.proc.finished then core.killpg(a.proc.pgid, "TERM") end
  end
end

return M
