-- For spec/slurm/launcher_spec: a slurm pool running 2 'sleep & sleep' trees, then waiting to be SIGKILLed.
-- arg[1] = the marker's digits (the marker is "300." .. digits, so this script's own command
-- line does not carry it); arg[2] = "agents" (on 2 nodes) or "steps" (the default).
-- Prints "job J" and "ready" once the trees run.
package.path = arg[0]:match("^(.*)/scripts/[^/]*$") .. "/?.lua;" .. package.path
local corral = require "corral"
local H = require "helpers"
local m = "300." .. arg[1]

local pool = corral.pool { executor = "shell", launcher = "slurm", size = 2,
                           slurm = arg[2] == "agents" and { agents = true, nodes = 2 } or { agents = false } }
for _ = 1, 2 do pool:submit(("sleep %s & sleep %s"):format(m, m)) end
assert(H.poll(function() return H.count(m) == 4 end, 20), "the trees did not start")
print("job " .. pool.slurm.jobid)
print("ready")
io.stdout:flush()
pool:join()
