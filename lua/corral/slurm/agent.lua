-- corral.slurm.agent: the process a pool with `slurm = { agents = true }` runs on each node of
-- its allocation, as one job step (`srun -N1 -n1 --exact -w NODE -c CPUS -u ...`). It speaks
-- the wire protocol over the step's stdin/stdout (moved to fds 3 and 4 by a shell, as for lua
-- workers) and runs the pool's tasks on its node with corral's own local launcher: exec/shell
-- tasks through corral.launch.commands (own process group, termseq, exact code/signal/rusage),
-- lua tasks in local lua workers (corral.lua.workers). At most `cpus` tasks run at once; the
-- pool may send more ahead, which wait here, unstarted.
--
-- In (tables): { op = "run", i = ID, k = "exec"|"shell"|"lua", t = argv | lua frame, o = options,
--   q = termseq }, { op = "stop", i = ID, q = termseq } (a second one hurries),
--   { op = "kill", i = ID, s = SIG }, { op = "exit" } (the pool is done with this agent).
-- Out: HELLO { op = "hello", host, pid }; { op = "start", i, at = core.time(), pid } when a
--   task starts; { op = "end", i, ... the handle's fields } when it is over (u = true: it never
--   started); the integer 1 every `beat` seconds (the pool's proof of life).
-- EOF on fd 3 (the pool or its srun is gone): every running task is ended with its termseq,
-- then the agent exits: nothing it started outlives it (corral's lifeline covers a SIGKILL).
local core = require "corral.core"
local loop = require "corral.loop"
local commands = require "corral.launch.commands"
local workers = require "corral.lua.workers"
local settings = require "corral.launch.settings"
local lifeline = require "corral.launch.lifeline"

local M = {}

local BEAT = core.encode(1)

-- main(rfd, wfd, cpus, beat, init, maxtasks, interpreter)
function M.main(rfd, wfd, cpus, beat, init, maxtasks, interpreter)
  core.sigdefault { "INT" }
  core.set_blocking(rfd, false)
  local out, flushing = {}, false
  local broken = false                   -- the pool's end of fd 4 is gone
  local tasks = {}                       -- id -> { h = handle, q = termseq, started }
  local waiting, whead, wtail = {}, 1, 0 -- ids received, not started (no room yet)
  local nrun, exiting, eof = 0, false, false
  local lpool                            -- the local lua workers' pool, made on the first lua task

  local function flush()
    flushing = false
    if broken then out = {}; return end
    local s = table.concat(out)
    out = {}
    local off = 0
    while off < #s do
      local n = core.write(wfd, s, off)
      if not n then broken = true; return end
      off = off + n
    end
  end
  local function post(frame)
    out[#out + 1] = frame
    if not flushing then flushing = true; loop.defer(flush) end
  end

  local pump

  local function finish(id, fields)
    local t = tasks[id]
    if not t then return end
    tasks[id] = nil
    if t.started then nrun = nrun - 1 end
    fields.op, fields.i = "end", id
    local ok, frame = pcall(core.encode, fields, "end", { functions = false })
    if not ok then
      frame = core.encode { op = "end", i = id, failure = "cannot return the task's values: " .. tostring(frame),
                            d = fields.d }
    end
    post(frame)
    loop.defer(pump)
  end

  local function cmd_end(id, p)
    finish(id, { code = p.code, signal = p.signal, rusage = p.rusage, out = p:output("out"),
                 err = p:output("err"), d = (p.ended_at or loop.now()) - p.started_at,
                 lost = p.lost, oom = p.oom, note = p.note, pid = p.pid })
  end

  local function lua_pool()
    if lpool then return lpool end
    lpool = { opts = { executor = "lua", init = init, maxtasks = maxtasks, interpreter = interpreter },
              size = cpus, termseq = nil, env = nil }
    lpool.on_began = function(f, t, at)
      local x = tasks[f.id]
      if not x then return end
      x.started = true
      nrun = nrun + 1
      post(core.encode { op = "start", i = f.id, at = at, pid = t.pid })
    end
    workers.init(lpool)
    return lpool
  end

  local function lua_end(f, t, values)
    finish(f.id, { u = t.unstarted or nil, v = values, failure = t.failure, tb = t.traceback,
                   lost = t.lost, code = t.code, signal = t.signal, pid = t.pid,
                   d = t.ended_at and t.started_at and (t.ended_at - t.started_at) or nil })
  end

  local function room(m)
    if m.k == "lua" then return workers.has_room(lua_pool()) end
    return nrun < cpus
  end

  local function start(id, m)
    local t = tasks[id]
    if m.k == "lua" then
      local lp = lua_pool()
      lp.termseq = m.q
      local h, err = workers.start(lp, { id = id, task = m.t }, lua_end)
      if not h then return finish(id, { se = err }) end
      t.h = h
      return
    end
    local h, err = commands.exec.start({ opts = {}, env = nil },
      { task = m.t, opts = m.o or {}, termseq = m.q }, function(_, p) cmd_end(id, p) end)
    if not h then return finish(id, { se = err }) end
    t.h, t.started = h, true
    nrun = nrun + 1
    post(core.encode { op = "start", i = id, at = core.time(), pid = h.pid })
  end

  pump = function()
    while whead <= wtail do
      local id = waiting[whead]
      local t = tasks[id]
      if t and not t.h then
        if eof or not room(t.m) then break end
        local m = t.m
        t.m = nil
        start(id, m)
      end
      waiting[whead] = nil
      whead = whead + 1
    end
  end

  local function on_msg(m)
    local op = m.op
    if op == "run" then
      tasks[m.i] = { m = m, q = m.q }
      wtail = wtail + 1
      waiting[wtail] = m.i
      pump()
    elseif op == "stop" then
      local t = tasks[m.i]
      if not t then return end
      if not t.h then return finish(m.i, { u = true }) end   -- it never started here
      t.h:stop(m.q or t.q)
    elseif op == "kill" then
      local t = tasks[m.i]
      if t and t.h then t.h:send(m.s) end
    elseif op == "exit" then
      exiting = true
      pump()
    end
  end

  -- The pool is gone (EOF or a broken frame): end everything this agent started (at most 10 s
  -- for their termseqs), then exit (main's loop sees `eof` and no task).
  local deadline
  local function orphaned()
    if eof then return end
    eof, deadline = true, loop.now() + 10
    loop.unwatch(rfd)
    for id, t in pairs(tasks) do
      if t.h then t.h:stop(t.q) else tasks[id] = nil end
    end
    loop.timer(10, function() end)     -- wakes the loop at the deadline
  end

  local buf, pos = "", 1
  local function on_readable()
    while true do
      local data = core.read(rfd, 1 << 16)
      if data == false then return end
      if not data or data == "" then return loop.defer(orphaned) end
      buf = pos > 1 and (buf:sub(pos) .. data) or (buf .. data)
      pos = 1
      while true do
        local m, nextpos = core.decode(buf, pos)
        if m == false then break end
        if m == nil or type(m) ~= "table" then
          io.stderr:write("corral agent: protocol error: ", tostring(nextpos), "\n")
          return loop.defer(orphaned)
        end
        pos = nextpos
        on_msg(m)
      end
    end
  end

  loop.watch(rfd, on_readable)
  local function tick()
    post(BEAT)
    if broken then return orphaned() end
    loop.timer(beat, tick)
  end
  post(core.encode { op = "hello", host = os.getenv("SLURMD_NODENAME") or settings.HOST, pid = core.getpid() })
  loop.timer(beat, tick)
  loop.run_until(function()
    return (exiting or eof) and (not next(tasks) or (eof and loop.now() >= deadline))
  end)
  flush()
  if lpool then workers.shutdown(lpool, eof) end
  lifeline.close()              -- else the step waits ~1 s more for the watchdog
  os.exit(0)
end

return M
