-- Ctrl-C scenarios with lua tasks: arg[1] = on_interrupt, arg[2] = flavour, arg[3] = start
-- method, arg[4] = "m=" .. a unique sleep marker (prefixed so that this script's own command
-- line is not counted as a survivor). Prints a REC line per task, like interrupt.lua.
local corral = require "corral"
local mode, flavour, start, m = arg[1], arg[2], arg[3], arg[4]:match("^m=(.*)$")

local tasks = {
  loop = function() print("ready"); io.stdout:flush(); while true do end end,
  execute = function(mk)
    print("ready"); io.stdout:flush()
    local _, how, code = os.execute("sleep " .. mk)
    return how, code
  end,
  popen = function(mk)
    print("ready"); io.stdout:flush()
    local p = io.popen("sleep " .. mk)
    p:read("a")
    return p:close()
  end,
  finish = function()
    print("ready"); io.stdout:flush()
    os.execute("sleep 2")
    return 5
  end,
}

local pool = corral.pool { executor = "lua", start = start, size = 2, on_interrupt = mode }
local fs = {}
for i = 1, 4 do fs[i] = pool:submit(tasks[flavour], m) end

local ok, err = pcall(pool.join, pool)
for _, f in ipairs(fs) do
  local r = f.record
  io.write(("REC id=%d status=%s v1=%s v2=%s error=%s\n"):format(r.id, r.status,
    tostring(r.values[1]), tostring(r.values[2]), tostring(r.error):gsub("%s", "_")))
end
io.write(ok and "JOIN returned\n" or "JOIN raised\n")
io.stdout:flush()
pool:terminate()
if not ok then error(err, 0) end
