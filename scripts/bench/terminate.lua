-- terminate.lua N D: N running `sh -c 'sleep D & sleep D'` trees in a shell pool of size N,
-- then time pool:terminate(). Prints "<processes before> <ms> <survivors>".
-- BENCH_PY names the python3 that runs procs.py (which finds the trees by D).
local corral = require "corral"
local core = require "corral.core"
local n, d = tonumber(arg[1]), arg[2]
local py = os.getenv("BENCH_PY") or "python3"
local here = arg[0]:match("^(.*)/[^/]*$") or "."

local function procs(...)
  local p = io.popen(("%s %s/procs.py %s"):format(py, here, table.concat({ ... }, " ")))
  local a, b = p:read("n", "n")
  p:close()
  return a, b
end

local pool = corral.pool { executor = "shell", size = n }
local fs = {}
for i = 1, n do fs[i] = pool:submit(("sleep %s & sleep %s"):format(d, d)) end
for i = 1, n do assert(fs[i].pid, "task without a pid") end
local before, sleeps = procs("wait", d, 2 * n)
if sleeps < 2 * n then io.stderr:write(("only %d of %d sleeps started\n"):format(sleeps, 2 * n)) end
local t0 = core.now()
pool:terminate()
local ms = (core.now() - t0) * 1000
local survivors = procs("count", d)
print(("%d %.1f %d"):format(before, ms, survivors))
