-- Lifeline after a clean end: arg[1] = "pool" (run a pool to completion, close it, exit
-- normally) or "none" (load corral, make a pool, submit nothing). Prints the watchdog's pid
-- ("watchdog nil" when none was started) and how many watchdog processes are its children.
local corral = require "corral"
local core = require "corral.core"
local lifeline = require "corral.launch.lifeline"

-- Child processes of this one named corral-watchdog (the lifeline's watchdog).
local function watchdogs()
  local names, me = {}, core.getpid()
  local p = io.popen("ls /proc")
  for name in p:lines() do if name:match("^%d+$") then names[#names + 1] = name end end
  p:close()
  local n = 0
  for _, name in ipairs(names) do
    local f = io.open("/proc/" .. name .. "/stat")
    local s = f and f:read("a") or ""
    if f then f:close() end
    if tonumber(s:match("%)%s+%S+%s+(%d+)")) == me then
      local c = io.open("/proc/" .. name .. "/comm", "rb")
      if c and (c:read("a") or ""):find("corral-watchdog", 1, true) then n = n + 1 end
      if c then c:close() end
    end
  end
  return n
end

do
  local pool <close> = corral.pool { executor = "shell", size = 2 }
  if arg[1] == "pool" then
    for i = 1, 4 do pool:submit("exit " .. i) end
  end
end
local pid = lifeline.watchdog_pid()
local is_watchdog = false
if pid then   -- the fork names itself: give it up to 5 s to have done so
  local deadline = core.now() + 5
  repeat
    local f = io.open("/proc/" .. pid .. "/comm", "rb")
    is_watchdog = f and (f:read("a") or ""):find("corral-watchdog", 1, true) ~= nil
    if f then f:close() end
  until is_watchdog or core.now() > deadline
end
print("watchdog " .. tostring(pid) .. " " .. tostring(is_watchdog))
print("watchdogs " .. watchdogs())
io.stdout:flush()
