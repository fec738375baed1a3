-- corral: pools of processes that always end with a precise, recorded outcome.
--
-- This is the public surface; see docs/api.md. The C engine is corral.core, the event loop
-- corral.loop. Loading corral starts nothing and installs no signal handler.
--
-- It loads only the engine, corral.errors and corral.loader: the loop, the pool core and what they use are
-- required by the first function that needs them, so `require "corral"` and a short script
-- pay only for what they use (spec/startup_spec.lua; the cost: docs/benchmarks.md, F).
local core = require "corral.core"
local errors = require "corral.errors"
require("corral.loader").install()   -- what follows loads precompiled when it can

local function loop() return require "corral.loop" end

local corral = {
  _VERSION = "corral 0.1.0",
  Error = errors.Error,
  Interrupted = errors.Interrupted,
}

function corral.pool(opts) return require("corral.pool").new(opts) end
function corral.workflow(opts) return require("corral.workflow").new(opts) end

-- Tail calls: an argument error still names the caller's line (error level 2).
function corral.as_completed(fs) return require("corral.pool").as_completed(fs) end
function corral.go(fn, ...) return loop().go(fn, ...) end

-- sleep(seconds): sleep while the pools keep working (timeouts, retries, refills, records);
-- inside corral.go it yields, so other coroutines run meanwhile.
local function never() return false end
function corral.sleep(seconds)
  if type(seconds) ~= "number" or seconds < 0 or seconds ~= seconds then
    error(("bad argument #1 to 'sleep' (non-negative number of seconds expected, got %s)")
      :format(type(seconds) == "number" and tostring(seconds) or type(seconds)), 2)
  end
  local l = loop()
  l.wait_for(never, l.now() + seconds, {})
end

-- loop(): the handle a host with its own event loop drives corral through.
local Loop = {}
Loop.__index = Loop
function Loop:pollfd() return loop().pollfd() end
function Loop:timeout() return loop().timeout() end
function Loop:step(seconds)
  if seconds ~= nil and (type(seconds) ~= "number" or seconds < 0) then
    error("bad argument #1 to 'step' (non-negative number expected)", 2)
  end
  loop().step(seconds or 0)
end
local the_loop = setmetatable({}, Loop)
function corral.loop() return the_loop end

-- signals(false): leave all signal handling to the host, process-wide.
function corral.signals(on) loop().set_signals(on) end

-- Process utilities: OS failures return nil, message, errno.
corral.getpid = core.getpid
corral.getppid = core.getppid
corral.getpgid = core.getpgid
corral.kill = core.kill
corral.killpg = core.killpg

-- interrupted(): the signal ("INT", "TERM", "HUP") of an interrupt that cancelled work, or nil
-- (none when no pool was ever made: the pool core is not loaded then).
function corral.interrupted()
  local pool = package.loaded["corral.pool"]
  return pool and pool.interrupted_work or nil
end

return corral
