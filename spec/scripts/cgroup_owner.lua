-- For spec/launch/cgroup_spec: a script whose cgroup-mode task leaves a setsid escapee (arg[1]: its sleep
-- marker), prints "ready" with the task's cgroup once the escapee runs, then waits to be killed.
-- arg[2] "idle": one cgroup-mode task runs to its end (its cgroup removed, the pool's parent
-- cgroup stays), then the script prints "ready idle" and waits to be killed.
local corral = require "corral"
local m = arg[1]:match("^marker%-(.*)$")
local pool = corral.pool { executor = "shell", size = 1, cgroup = true, stdout = "inherit" }
if arg[2] == "idle" then
  assert(pool:submit("true"):wait().status == "ok")
  print("ready idle")
  io.stdout:flush()
  corral.sleep(300)
end
local f = pool:submit(("setsid sh -c 'sleep %s &'; while ! pgrep -f '^sleep %s$' >/dev/null; do sleep 0.01; done; "
  .. "echo ready $(grep ^0:: /proc/$$/cgroup); exec sleep 300"):format(m, m))
pool:join()
print("ended", f.record.status, f.record.error)
