-- corral.errors: the two error values corral raises.
--
-- Error: a task did not end "ok" and its values were asked for (result, map, imap). It carries
-- the outcome record. Interrupted: the user interrupted (Ctrl-C, or TERM/HUP) a pool whose
-- policy cancels work; waits on it raise this. Both are tables with a metatable, so
-- `getmetatable(e) == corral.Error` tells them apart from other errors.
local M = {}

local Error = { __name = "corral.Error" }
Error.__index = Error
Error.__tostring = function(e) return e.message end

local Interrupted = { __name = "corral.Interrupted" }
Interrupted.__index = Interrupted
Interrupted.__tostring = function(e) return e.message end

M.Error, M.Interrupted = Error, Interrupted

local function describe(r)
  local what = r.name or ("task " .. tostring(r.id))
  if r.status == "failed" and r.code then
    return ("%s: failed with exit code %d"):format(what, r.code)
  elseif r.status == "signaled" then
    return ("%s: killed by signal %s"):format(what, r.signal)
  elseif r.error then
    return ("%s: %s: %s"):format(what, r.status, r.error)
  end
  return ("%s: %s"):format(what, r.status)
end

function M.task_error(record)
  return setmetatable({ record = record, status = record.status, message = describe(record) }, Error)
end

function M.interrupted(signal)
  return setmetatable({ signal = signal, message = "interrupted by SIG" .. signal }, Interrupted)
end

function M.is_interrupted(e) return getmetatable(e) == Interrupted end
function M.is_error(e) return getmetatable(e) == Error end

return M
