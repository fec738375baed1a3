-- Lifeline scenarios for spec/launch/lifeline_spec: a shell pool of 50 'sleep & sleep' trees, then the
-- owner dies. arg[1] = the marker's digits (the marker is "300." .. digits, so this script's
-- own command line does not carry it), arg[2] = "kill" (wait to be SIGKILLed), "exit"
-- (os.exit(0) without closing the pool or the Lua state) or "churn" (keep starting short
-- tasks, so add and remove keep writing to the lifeline, until SIGKILLed).
package.path = arg[0]:match("^(.*)/scripts/[^/]*$") .. "/?.lua;" .. package.path
local corral = require "corral"
local lifeline = require "corral.launch.lifeline"
local H = require "helpers"
local m, mode = "300." .. arg[1], arg[2]

local pool = corral.pool { executor = "shell", size = 51, stdout = "null", stderr = "null" }
for _ = 1, 50 do pool:submit(("sleep %s & sleep %s"):format(m, m)) end
assert(H.poll(function() return H.count(m) == 100 end, 20), "the trees did not start")
print("watchdog " .. tostring(lifeline.watchdog_pid()))
print("ready")
io.stdout:flush()
if mode == "exit" then os.exit(0) end
if mode == "churn" then
  while true do assert(pool:submit("true"):wait().status == "ok") end
end
pool:join()
