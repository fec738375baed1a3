-- For spec/launch/cgroup_spec: a script whose cgroup-mode task leaves a setsid escapee (arg[1]: its sleep
-- marker), prints "ready" with the task's cgroup once the escapee runs, then waits to be killed.
local corral = require "corral"
local m = arg[1]:match("^marker%-(.*)$")
local pool = corral.pool { executor = "shell", size = 1, cgroup = true, stdout = "inherit" }
local f = pool:submit(("setsid sh -c 'sleep %s &'; while ! pgrep -f '^sleep %s$' >/dev/null; do sleep 0.01; done; "
  .. "echo ready $(grep ^0:: /proc/$$/cgroup); exec sleep 300"):format(m, m))
pool:join()
print("ended", f.record.status, f.record.error)
