-- One measurement for scripts/bench/workflow.sh: the parent CPU a workflow of N no-op fn jobs
-- costs, and what the same tasks cost on a bare lua pool (the floor it is compared with).
--
--   corral run scripts/bench/workflow.lua MODE N [JOURNAL]
--     pool-fan   N tasks on a lua pool of 2, kept 2 in flight (what a fan-out asks of a pool)
--     pool-chain N tasks one after another (what a chain asks); both with signals held as
--                wf:run holds them
--     pool-keep  pool-fan keeping every task's record, as the workflow's report does (what
--                holding N records costs a script, apart from any scheduling)
--     fan        N jobs + one job after all of them, jobs = 2
--     chain      N jobs, each after the one before, jobs = 2
--     resume     the fan again, resume = true, on the journal a finished fan left: all resumed
--     shell DIR  N shell jobs `echo i > DIR/i.txt`, jobs = 2 (against Snakemake)
--     plan DIR   the same jobs, wf:plan() instead of run (against `snakemake -n`)
-- Prints "<N> <parent CPU s> <wall s> <KB per job after defining> <KB per job after run> <ok>".
local corral = require "corral"
local loop = require "corral.loop"

local mode, n, path = arg[1], math.tointeger(tonumber(arg[2])), arg[3]
assert(mode and n and n > 0, "usage: workflow.lua MODE N [JOURNAL|DIR]")
local noop = function() end

local function pool_run(inflight, keep)
  local p = corral.pool { executor = "lua", size = 2 }
  p:submit(noop):wait()                        -- workers up before the clock starts
  -- INT, TERM and HUP held for the whole run, as wf:run holds them: a pool alone gives them
  -- back each time it is idle (between two tasks here) and takes them again, seven system
  -- calls a time, which the workflow does not pay: the floor would be inflated by them.
  local release = loop.catch_signals(function() end)
  local t0, w0 = os.clock(), loop.now()
  local sent, ended, busy, waiters = 0, 0, 0, {}
  local kept = keep and {} or nil
  local function on_end(f)
    if kept then kept[#kept + 1] = f.record end
    busy = busy - 1; ended = ended + 1; loop.wake_all(waiters)
  end
  while ended < n do
    while busy < inflight and sent < n do
      sent, busy = sent + 1, busy + 1
      local f = p:_submit({ name = "j" .. sent }, noop)
      if f:done() then on_end(f) else f:_on_settle(on_end) end
    end
    local before = ended
    loop.wait_for(function() return ended > before end, nil, { waiters })
  end
  local cpu, wall = os.clock() - t0, loop.now() - w0
  release()
  p:close()
  return cpu, wall, 0, 0, true
end

local function wf_run()
  collectgarbage()
  local k0 = collectgarbage("count")
  local t0, w0 = os.clock(), loop.now()
  local opts = { jobs = 2, joblog = path, resume = mode == "resume" or nil }
  if mode == "shell" or mode == "plan" then opts.joblog = nil end
  local wf = corral.workflow(opts)
  if mode == "chain" then
    wf:job("j1", { fn = noop })
    for i = 2, n do wf:job("j" .. i, { fn = noop, after = { "j" .. (i - 1) } }) end
  elseif mode == "shell" or mode == "plan" then
    for i = 1, n do wf:job("j" .. i, { shell = ("echo %d > %s/%d.txt"):format(i, path, i) }) end
  else
    local names = {}
    for i = 1, n do names[i] = "j" .. i; wf:job(names[i], { fn = noop }) end
    wf:job("gather", { fn = noop, after = names })
  end
  local k1 = collectgarbage("count")
  local report = mode == "plan" and { ok = #wf:plan() == n } or wf:run()
  local cpu, wall = os.clock() - t0, loop.now() - w0
  collectgarbage()
  local k2 = collectgarbage("count")
  return cpu, wall, (k1 - k0) / n, (k2 - k0) / n, report.ok
end

local cpu, wall, kdef, krun, ok
if mode == "pool-fan" then cpu, wall, kdef, krun, ok = pool_run(2)
elseif mode == "pool-chain" then cpu, wall, kdef, krun, ok = pool_run(1)
elseif mode == "pool-keep" then cpu, wall, kdef, krun, ok = pool_run(2, true)
elseif mode == "fan" or mode == "chain" or mode == "resume" or mode == "shell"
    or mode == "plan" then
  cpu, wall, kdef, krun, ok = wf_run()
else error("unknown mode " .. tostring(mode)) end
io.write(("%d %.4f %.4f %.3f %.3f %s\n"):format(n, cpu, wall, kdef, krun, tostring(ok)))
