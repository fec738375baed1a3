-- Lifeline after a normal end: arg[1] = the marker's digits. Starts `sleep 300.DIGITS` in a
-- session of its own (no pool's), registers its group with the lifeline, prints "ready" and
-- returns: the interpreter closes the Lua state, then exits, and the watchdog must end it.
local core = require "corral.core"
local lifeline = require "corral.launch.lifeline"
local pid = assert(core.spawn { argv = { "sleep", "300." .. arg[1] }, setsid = true,
                                stdout = "null" })
lifeline.add(pid)
print("ready")
io.stdout:flush()
