-- launch.lua N EXECUTOR OUTPUT: submit N commands to a pool of 2, then join.
-- EXECUTOR: exec (/bin/true as argv) or shell ("exit 3"); OUTPUT: capture (the default) or null.
-- Prints "<tasks> <seconds> <tasks not as expected>".
local corral = require "corral"
local core = require "corral.core"
local n, executor, output = tonumber(arg[1]), arg[2] or "exec", arg[3] or "capture"
local task, want
if executor == "exec" then task, want = { "/bin/true" }, "ok" else task, want = "exit 3", "failed" end
local opts = { executor = executor, size = 2 }
if output == "null" then opts.stdout, opts.stderr = "null", "null" end
local t0 = core.now()
local bad = 0
do
  local pool <close> = corral.pool(opts)
  local fs = {}
  for i = 1, n do fs[i] = pool:submit(task) end
  pool:join()
  for i = 1, n do if fs[i]:wait().status ~= want then bad = bad + 1 end end
end
print(("%d %.6f %d"):format(n, core.now() - t0, bad))
