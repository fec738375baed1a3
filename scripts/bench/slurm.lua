-- slurm.lua N RUNS: the slurm launcher against plain srun, on the cluster named by SLURM_CONF
-- (scripts/bench/slurm.sh brings one up). Prints a markdown section for docs/benchmarks.md.
--   steps/s: N `true` tasks through corral.pool{ launcher = "slurm", executor = "exec",
--            size = 2|4|8 } (salloc included), against N sequential `srun -n1 true` (a new
--            job each) and N sequential steps `srun --jobid=J -n1 --exact true` in one salloc;
--   terminate: 8 running `sh -c 'sleep M & sleep M'` steps until pool:terminate() returns,
--            and until no process with the marker is left;
--   owner SIGKILLed: from SIGKILL of a script holding a pool of 2 running trees until
--            squeue no longer lists its allocation.
-- The median of RUNS runs is reported; runs alternate between the tools.
local corral = require "corral"
local core = require "corral.core"
local H = require "helpers"

local N, RUNS = tonumber(arg[1]) or 200, tonumber(arg[2]) or 3

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

local function corral_pool(size)
  local t0 = core.now()
  local bad = 0
  do
    local pool <close> = corral.pool { launcher = "slurm", executor = "exec", size = size }
    local fs = {}
    for i = 1, N do fs[i] = pool:submit { "true" } end
    for i = 1, N do if fs[i]:wait().status ~= "ok" then bad = bad + 1 end end
  end
  assert(bad == 0, bad .. " tasks were not ok")
  return N / (core.now() - t0)
end

local function terminate()
  local m = H.sleep_marker()
  local pool = corral.pool { launcher = "slurm", size = 8 }
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

local function owner_killed()
  local m = H.sleep_marker()
  local c = H.run_script("slurm_owner.lua", (m:gsub("^300%.", "")))
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
for _ = 1, RUNS do
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
