-- Lifeline with lua workers: arg[1] = "lifeline-DIGITS" (the sleep marker is "300.DIGITS"),
-- arg[2] = start method. Four busy workers each wait in os.execute("sleep MARKER"); prints
-- "ready" once the four sleeps run, then waits to be SIGKILLed. arg[1] is also put in
-- package.path (last, never found), so spawned workers' command lines carry it too.
package.path = arg[0]:match("^(.*)/scripts/[^/]*$") .. "/?.lua;" .. package.path
  .. ";/nonexistent/" .. arg[1] .. "/?.lua"
local corral = require "corral"
local H = require "helpers"
local m, start = "300." .. arg[1]:match("%d+$"), arg[2]

local pool = corral.pool { executor = "lua", start = start, size = 4 }
for _ = 1, 4 do pool:submit(function(mk) os.execute("sleep " .. mk) end, m) end
assert(H.poll(function() return H.count(m) == 4 end, 20), "the tasks did not start")
print("ready")
io.stdout:flush()
pool:join()
