-- corral: pools of processes that always end with a precise, recorded outcome.
--
-- This is the public surface; see docs/api.md. The C engine is corral.core, the event loop
-- corral.loop. Loading corral starts nothing and installs no signal handler.
local core = require "corral.core"
local loop = require "corral.loop"
local pool = require "corral.pool"
local errors = require "corral.errors"

local corral = {
  _VERSION = "corral 0.1.0",
  Error = errors.Error,
  Interrupted = errors.Interrupted,
}

function corral.pool(opts) return pool.new(opts) end
function corral.workflow(opts) return require("corral.workflow").new(opts) end

corral.as_completed = pool.as_completed
corral.go = loop.go

-- sleep(seconds): sleep while the pools keep working (timeouts, retries, refills, records);
-- inside corral.go it yields, so other coroutines run meanwhile.
local function never() return false end
function corral.sleep(seconds)
  if type(seconds) ~= "number" or seconds < 0 or seconds ~= seconds then
    error(("bad argument #1 to 'sleep' (non-negative number of seconds expected, got %s)")
      :format(type(seconds) == "number" and tostring(seconds) or type(seconds)), 2)
  end
  loop.wait_for(never, loop.now() + seconds, {})
end

-- loop(): the handle a host with its own event loop drives corral through.
local Loop = {}
Loop.__index = Loop
function Loop:pollfd() return loop.pollfd() end
function Loop:timeout() return loop.timeout() end
function Loop:step(seconds)
  if seconds ~= nil and (type(seconds) ~= "number" or seconds < 0) then
    error("bad argument #1 to 'step' (non-negative number expected)", 2)
  end
  loop.step(seconds or 0)
end
local the_loop = setmetatable({}, Loop)
function corral.loop() return the_loop end

-- signals(false): leave all signal handling to the host, process-wide.
function corral.signals(on) loop.set_signals(on) end

-- Process utilities: OS failures return nil, message, errno.
corral.getpid = core.getpid
corral.getppid = core.getppid
corral.getpgid = core.getpgid
corral.kill = core.kill
corral.killpg = core.killpg

-- interrupted(): the signal ("INT", "TERM", "HUP") of an interrupt that cancelled work, or nil.
function corral.interrupted() return pool.interrupted_work end

return corral
