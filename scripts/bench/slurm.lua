-- slurm.lua N RUNS: the slurm launcher against plain srun, on the cluster named by SLURM_CONF
-- (scripts/bench/slurm.sh brings one up). Prints a markdown section for docs/benchmarks.md.
--   steps/s: N `true` tasks through corral.pool{ launcher = "slurm", executor = "exec",
--            size = 2|4|8 } (salloc included), against N sequential `srun -n1 true` (a new
--            job each) and N sequential steps `srun --jobid=J -n1 --exact true` in one salloc;
--   terminate: 8 running `sh -c 'sleep M & sleep M'` steps until pool:terminate() returns,
--            and until no process with the marker is left;
--   owner SIGKILLed: from SIGKILL of a script holding a pool of 2 running trees until
--            squeue no longer lists its allocation.
--   agents: M (default 2000) `true` tasks (exec) through slurm = { agents = true } on 1 node
--            (size 8) and on 3 nodes (size 9, 3 per node), against a local exec pool of size 8
--            and the best step pattern (a corral slurm pool of steps, size 8), in the same run;
--            terminate of 200 running `sleep M & sleep M` trees through agents on 3 nodes;
--            the owning script SIGKILLed with agents; an idle agent's memory (Pss,
--            Private_Dirty) beside an idle local lua worker's.
-- The median of RUNS runs is reported; runs alternate between the tools.
local corral = require "corral"
local core = require "corral.core"
local H = require "helpers"

local N, RUNS, M = tonumber(arg[1]) or 200, tonumber(arg[2]) or 3, tonumber(arg[3]) or 2000

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok, "failed: " .. cmd)
end

local function srun_loop()
  local t0 = core.now()
  for _ = 1, N do sh("srun -n1 true") end
  return N / (core.now() - t0)
end

local function salloc()
  local p = io.popen("salloc --no-shell -n1 -J bench 2>&1")
  local j = p:read("a"):match("Granted job allocation (%d+)")
  p:close()
  return assert(j, "salloc failed")
end

local function step_loop()
  local t0 = core.now()
  local j = salloc()
  for _ = 1, N do sh("srun --jobid=" .. j .. " -n1 --exact true") end
  sh("scancel " .. j)
  return N / (core.now() - t0)
end

-- n (default M) exec `true` tasks through a pool with options o, pool creation and close
-- included.
local function rate_of(o, n)
  n = n or M
  local t0 = core.now()
  local bad = 0
  do
    local pool <close> = corral.pool(o)
    local fs = {}
    for i = 1, n do fs[i] = pool:submit { "true" } end
    for i = 1, n do if fs[i]:wait().status ~= "ok" then bad = bad + 1 end end
  end
  assert(bad == 0, bad .. " tasks were not ok")
  return n / (core.now() - t0)
end

-- a pool of steps (a step per task), N tasks
local function corral_pool(size)
  return rate_of({ launcher = "slurm", executor = "exec", size = size, slurm = { agents = false } }, N)
end

local KINDS = {
  { "local exec pool, size 8", { executor = "exec", size = 8 } },
  { "slurm agents, 1 node, size 8", { executor = "exec", size = 8, launcher = "slurm",
    slurm = { agents = true, nodes = 1 } } },
  { "slurm agents, 3 nodes, size 9 (3 per node)", { executor = "exec", size = 9, launcher = "slurm",
    slurm = { agents = true, nodes = 3, extra = { "--ntasks-per-node=3" } } } },
  -- a step per task: N tasks, not M (its rate is steady after a few; 2000 steps take minutes)
  { "slurm steps (a step per task), size 8, N tasks", { executor = "exec", size = 8, launcher = "slurm",
    slurm = { agents = false } }, true },
}

local function agents_terminate()
  local m = H.sleep_marker()
  local pool = corral.pool { launcher = "slurm", size = 200, slurm = { agents = true, nodes = 3 } }
  for _ = 1, 200 do pool:submit(("sleep %s & sleep %s"):format(m, m)) end
  assert(H.poll(function() return H.count(m) == 400 end, 60), "the 200 trees did not start")
  local t0 = core.now()
  pool:terminate()
  local t1 = core.now() - t0
  H.poll(function() return H.count(m) == 0 end, 10)
  local t2 = core.now() - t0
  assert(H.count(m) == 0, "survivors")
  H.cleanup(m)
  return t1, t2
end

local function smaps(pid)
  local f = assert(io.open(("/proc/%d/smaps_rollup"):format(pid)))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("\nPss:%s+(%d+) kB")), tonumber(s:match("\nPrivate_Dirty:%s+(%d+) kB"))
end

-- An idle agent (on this machine: the one-machine cluster) and an idle local lua worker.
local function memory()
  local pool <close> = corral.pool { executor = "exec", launcher = "slurm", size = 1,
                                     slurm = { agents = true, nodes = 1 } }
  pool:submit({ "true" }):wait()
  local a = pool.agents.list[1]
  assert(H.poll(function() return a.pid ~= nil end), "no hello from the agent")
  local lp <close> = corral.pool { executor = "lua", size = 1 }
  lp:submit(function() end):wait()
  local w = lp.workers.list[1]
  local ap, ad = smaps(a.pid)
  local wp, wd = smaps(w.pid)
  return ap, ad, wp, wd
end

local function terminate()
  local m = H.sleep_marker()
  local pool = corral.pool { launcher = "slurm", size = 8, slurm = { agents = false } }
  for _ = 1, 8 do pool:submit(("sleep %s & sleep %s"):format(m, m)) end
  assert(H.poll(function() return H.count(m) == 16 end, 30))
  local t0 = core.now()
  pool:terminate()
  local t1 = core.now() - t0
  H.poll(function() return H.count(m) == 0 end, 10)
  local t2 = core.now() - t0
  assert(H.count(m) == 0, "survivors")
  return t1, t2
end

local function jobs()
  local t = {}
  local p = io.popen("squeue -h -o %i")
  for l in p:lines() do t[tonumber(l)] = true end
  p:close()
  return t
end

local function owner_killed(agents)
  local m = H.sleep_marker()
  local c = H.run_script("slurm_owner.lua", (m:gsub("^300%.", "")), agents or "steps")
  assert(c:expect("ready", 1, 30), "the owner did not start")
  local j = tonumber(c.lines[1]:match("^job (%d+)"))
  local t0 = core.now()
  core.pidfd_kill(c.pidfd, "KILL")
  H.poll(function() return not jobs()[j] end, 20)
  local gone = core.now() - t0
  H.poll(function() return H.count(m) == 0 end, 10)
  local clean = core.now() - t0
  c:wait(5)
  H.cleanup(m)
  return gone, clean
end

local rates = { srun = {}, step = {}, [2] = {}, [4] = {}, [8] = {} }
local term, term0, own, own0 = {}, {}, {}, {}
local ka = {}
for i = 1, #KINDS do ka[i] = {} end
local aterm, aterm0, aown, aown0 = {}, {}, {}, {}
for _ = 1, RUNS do
  for i, k in ipairs(KINDS) do ka[i][#ka[i] + 1] = rate_of(k[2], k[3] and N or M) end
  local x, y = agents_terminate()
  aterm[#aterm + 1], aterm0[#aterm0 + 1] = x, y
  x, y = owner_killed("agents")
  aown[#aown + 1], aown0[#aown0 + 1] = x, y
  rates.srun[#rates.srun + 1] = srun_loop()
  rates.step[#rates.step + 1] = step_loop()
  for _, s in ipairs { 2, 4, 8 } do rates[s][#rates[s] + 1] = corral_pool(s) end
  local a, b = terminate()
  term[#term + 1], term0[#term0 + 1] = a, b
  a, b = owner_killed()
  own[#own + 1], own0[#own0 + 1] = a, b
end

local base = median(rates.srun)
local function row(name, r)
  local m = median(r)
  print(("| %s | %.1f | %.2f |"):format(name, m, m / base))
end
print("| what | steps/s | × srun loop |")
print("|---|---:|---:|")
row("`srun -n1 true`, one after another (a new job each)", rates.srun)
row("`srun --jobid=J -n1 --exact true`, one after another, in one salloc", rates.step)
for _, s in ipairs { 2, 4, 8 } do
  row(("corral slurm pool, exec `true`, size %d (salloc and release included)"):format(s), rates[s])
end
print()
print(("terminate of 8 running `sh -c 'sleep M & sleep M'` steps: returns after %.0f ms, "
  .. "0 survivors after %.0f ms (median of %d)."):format(median(term) * 1000, median(term0) * 1000, RUNS))
print(("owner SIGKILLed (a pool of 2 running trees): allocation gone from squeue after %.2f s, "
  .. "0 processes of it left after %.2f s (median of %d)."):format(median(own), median(own0), RUNS))

print()
print(("%d `true` tasks (exec; %d for slurm steps), pool creation and close included, median of %d runs:")
  :format(M, N, RUNS))
print()
print("| what | tasks/s | × local exec pool | × slurm steps |")
print("|---|---:|---:|---:|")
local lbase, sbase = median(ka[1]), median(ka[#KINDS])
for i, k in ipairs(KINDS) do
  local m = median(ka[i])
  print(("| %s | %.1f | %.2f | %.1f |"):format(k[1]:gsub("N tasks", N .. " tasks"), m, m / lbase, m / sbase))
end
print()
print(("agents, terminate of 200 running `sh -c 'sleep M & sleep M'` trees on 3 nodes: returns after "
  .. "%.0f ms, 0 survivors after %.0f ms (median of %d)."):format(median(aterm) * 1000, median(aterm0) * 1000, RUNS))
print(("agents, owner SIGKILLed (2 running trees): allocation gone from squeue after %.2f s, "
  .. "0 processes of it left after %.2f s (median of %d)."):format(median(aown), median(aown0), RUNS))
local ap, ad, wp, wd = memory()
print(("idle agent: Pss %d kB, Private_Dirty %d kB; idle local lua worker: Pss %d kB, "
  .. "Private_Dirty %d kB."):format(ap, ad, wp, wd))
