-- Run under a parent that ignores SIGINT: the command must still die of SIGINT.
local corral = require "corral"
local pool <close> = corral.pool { executor = "exec", size = 1 }
local f = pool:submit { "sleep", "30" }
while f:status() ~= "running" do corral.loop():step(0.01) end
f:kill("INT")
local r = f:wait()
print(r.status .. " " .. tostring(r.signal))
