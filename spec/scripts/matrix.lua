-- One task of a given type for spec/pool/matrix_spec's "parent" rows: arg[1] = type, arg[2] = "m=" ..
-- a unique sleep marker. Prints "PID <pid of the worker or command>" and "ready" once the task
-- runs, then waits for it; the spec signals this script.
local corral = require "corral"
local core = require "corral.core"
local kind, m = arg[1], arg[2]:match("^m=(.*)$")

local executor = ({ exec = "exec", shell = "shell" })[kind] or "lua"
local pool <close> = corral.pool { executor = executor, size = 1 }
local f
if kind == "exec" then
  f = pool:submit { "sleep", m }
elseif kind == "shell" then
  f = pool:submit(("sleep %s & sleep %s; wait"):format(m, m))
elseif kind == "lua_pure" then
  f = pool:submit(function() while true do end end)
elseif kind == "lua_execute" then
  f = pool:submit(function(mk) os.execute("sleep " .. mk) end, m)
else
  f = pool:submit(function(mk) local p = io.popen("sleep " .. mk); p:read("a") end, m)
end
local loop = require "corral.loop"
loop.run_until(function() return f:status() == "running" end)
io.write("PID ", f.pid, "\nready\n")
io.stdout:flush()
local ok, err = pcall(f.wait, f)       -- raises corral.Interrupted after Ctrl-C's cancel
io.write("REC status=", f.record.status, "\n")
io.stdout:flush()
if not ok then error(err, 0) end
