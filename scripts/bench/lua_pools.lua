-- lua_pools.lua START...: Lua function pools of 2 workers, per start method. Prints one line
-- per start method:
--   <start> <ready ms> <map tasks/s> <round trip p50 µs> <p99 µs> <worker Pss kB> <Private_Dirty kB>
--   <default map 20000 items/s> <default map 1M items/s>
-- or "<start> unavailable <message>" when the pool refuses the start method.
-- ready: from corral.pool{} until both workers have answered a task; memory: the mean of the
-- two workers' /proc/PID/smaps_rollup once idle; map: pool:map of 20000 no-op tasks on the
-- warm pool, one task per item (chunksize = 1); default map: pool:map(noop, list) at its
-- defaults (chunks) of 20000 and of 1000000 items; round trip: 1000 sequential
-- submit():result() after 100 warm-up ones. Each map phase ends with a full collection inside
-- its timing, so it pays for the garbage it made and not for the phase before's: Lua collects
-- in steps taken on later allocations, where Python frees by reference count as it goes (so
-- its side needs no collection inside the timing; both collect before the first map phase).
local corral = require "corral"
local core = require "corral.core"

local NMAP, NBIG, NRT, NWARM = 20000, 1000000, 1000, 100

local function getpid() return require("corral.core").getpid() end
local function noop(x) return x end

local function smaps(pid)
  local f = assert(io.open(("/proc/%d/smaps_rollup"):format(pid)))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("\nPss:%s+(%d+) kB")), tonumber(s:match("\nPrivate_Dirty:%s+(%d+) kB"))
end

local function bench(start)
  local t0 = core.now()
  local ok, pool = pcall(corral.pool, { executor = "lua", size = 2, start = start })
  if not ok then
    print(("%s unavailable %s"):format(start, tostring(pool):gsub("\n", " ")))
    return
  end
  local pids, npids = {}, 0
  while npids < 2 do
    local a, b = pool:submit(getpid), pool:submit(getpid)
    for _, pid in ipairs { a:result(), b:result() } do
      if not pids[pid] then pids[pid] = true; npids = npids + 1 end
    end
  end
  local ready = (core.now() - t0) * 1000

  for _ = 1, NWARM do pool:submit(noop, 1):result() end
  os.execute("sleep 0.3")
  local pss, pd = 0, 0
  for pid in pairs(pids) do
    local a, b = smaps(pid)
    pss, pd = pss + a / 2, pd + b / 2
  end

  local rt = {}
  for i = 1, NRT do
    local t = core.now()
    pool:submit(noop, i):result()
    rt[i] = (core.now() - t) * 1e6
  end
  table.sort(rt)

  local list = {}
  for i = 1, NMAP do list[i] = i end
  collectgarbage()
  local tm = core.now()
  local out = pool:map(noop, list, { chunksize = 1 })
  collectgarbage()                        -- the phase pays for its own garbage
  local tps = NMAP / (core.now() - tm)
  assert(#out == NMAP and out[NMAP] == NMAP, "map returned wrong values")

  -- map at its defaults (chunks), 20000 and a million items
  local dtps = {}
  for k, n in ipairs { NMAP, NBIG } do
    local big = {}
    for i = 1, n do big[i] = i end
    tm = core.now()
    out = pool:map(noop, big)
    collectgarbage()
    dtps[k] = n / (core.now() - tm)
    assert(#out == n and out[n] == n, "map returned wrong values")
  end

  pool:__close()                          -- what `local pool <close>` does: join, workers exit
  print(("%s %.1f %.0f %.0f %.0f %.0f %.0f %.0f %.0f"):format(start, ready, tps,
    rt[math.ceil(NRT * 0.5)], rt[math.ceil(NRT * 0.99)], pss, pd, dtps[1], dtps[2]))
end

for _, start in ipairs(arg) do bench(start) end
