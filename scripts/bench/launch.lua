-- launch.lua N EXECUTOR OUTPUT: submit N commands to a pool of 2, then join.
-- EXECUTOR: exec (/bin/true as argv) or shell ("exit 3"); OUTPUT: capture (the default) or null.
-- Prints "<tasks> <seconds> <tasks not as expected> <own CPU µs per task> <watchdog CPU µs per task>":
-- own CPU is this process's (not the commands'); the watchdog is corral's lifeline process.
local corral = require "corral"
local core = require "corral.core"
local n, executor, output = tonumber(arg[1]), arg[2] or "exec", arg[3] or "capture"
local task, want
if executor == "exec" then task, want = { "/bin/true" }, "ok" else task, want = "exit 3", "failed" end
local opts = { executor = executor, size = 2 }
if output == "null" then opts.stdout, opts.stderr = "null", "null" end

-- utime + stime of a process in seconds, from /proc/PID/stat (clock ticks of 1/100 s)
local function cpu(pid)
  local f = io.open(("/proc/%s/stat"):format(pid))
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  local t = {}
  for w in s:gsub("^.*%) ", ""):gmatch("%S+") do t[#t + 1] = w end
  return (tonumber(t[12]) + tonumber(t[13])) / 100
end

local t0 = core.now()
local bad = 0
local watchdog
do
  local pool <close> = corral.pool(opts)
  local fs = {}
  for i = 1, n do fs[i] = pool:submit(task) end
  pool:join()
  for i = 1, n do if fs[i]:wait().status ~= want then bad = bad + 1 end end
  local ok, lifeline = pcall(require, "corral.launch.lifeline")
  watchdog = ok and type(lifeline.watchdog_pid) == "function" and lifeline.watchdog_pid()
end
local secs = core.now() - t0
print(("%d %.6f %d %.0f %.0f"):format(n, secs, bad, cpu("self") * 1e6 / n,
  watchdog and cpu(watchdog) * 1e6 / n or 0))
