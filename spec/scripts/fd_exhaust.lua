-- Run under `ulimit -n 30` by spec/pool/badinput_spec: more tasks than free fds.
local corral = require "corral"
local pool <close> = corral.pool { executor = "shell", size = 20 }
local fs = {}
for i = 1, 40 do fs[i] = pool:submit("sleep 0.2; echo " .. i) end
local counts, err = {}, nil
for _, f in ipairs(fs) do
  local r = f:wait()
  counts[r.status] = (counts[r.status] or 0) + 1
  err = err or (r.status == "error" and r.error)
end
io.write(("ok=%d error=%d total=%d\n"):format(counts.ok or 0, counts.error or 0, #fs))
io.write("ERR ", tostring(err), "\n")
io.write("AFTER ", pool:submit("echo fine"):wait().status, "\n")
