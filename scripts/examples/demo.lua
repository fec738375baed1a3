-- A first job script: run commands, read their exact outcomes, time one out, cancel a tree.
-- Run it with:  scripts/corral run scripts/examples/demo.lua
local corral = require "corral"

local pool <close> = corral.pool { executor = "shell", size = 4 }

-- Exit codes and signals come back exactly, whatever the command does.
local jobs = {
  pool:submit("echo hello from $$"),
  pool:submit("exit 3"),
  pool:submit("kill -TERM $$"),
  pool:submit("sleep 300 & sleep 300", { timeout = 0.5 }),   -- a tree that would run 5 min
}
local tree = pool:submit("sleep 300 & sleep 300; echo never")

for _, f in ipairs(jobs) do
  local r = f:wait()
  print(("%-28s %-9s code=%-4s signal=%-5s %.2fs %s"):format(r.name, r.status,
    tostring(r.code), tostring(r.signal), r.duration, (r.stdout or ""):gsub("\n", " ")))
end

-- Cancelling a running task ends its whole process group: both sleeps, not just the shell.
tree:cancel()
local r = tree:wait()
print(("%-28s %-9s signal=%s"):format(r.name, r.status, r.signal))

local s = pool:stats()
print(("%d tasks: %d ok, %d failed, %d signaled, %d timeout, %d cancelled"):format(
  s.submitted, s.ok or 0, s.failed or 0, s.signaled or 0, s.timeout or 0, s.cancelled or 0))
