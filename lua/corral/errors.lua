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

-- corral's own Lua files: those in this file's directory (a checkout's lua/corral/, an
-- install's share/lua/5.4/corral/) and below.
local DIR = debug.getinfo(1, "S").source:match("^@(.*/)errors%.lua$")
local AT = DIR and "@" .. DIR
function M.internal(source) return AT ~= nil and source:sub(1, #AT) == AT end

-- where() -> "file:line: " of the innermost function on the stack that is neither corral's nor
-- C: the caller's level of an argument error, however deep inside corral it was found.
function M.where()
  local level = 2
  while true do
    local info = debug.getinfo(level, "Sl")
    if not info then return "" end
    if info.what ~= "C" and not M.internal(info.source) then
      return info.currentline > 0 and ("%s:%d: "):format(info.short_src, info.currentline) or ""
    end
    level = level + 1
  end
end

-- raise(msg): an argument error, at the caller's level (see where).
function M.raise(msg) error(M.where() .. msg, 0) end

function M.is_interrupted(e) return getmetatable(e) == Interrupted end
function M.is_error(e) return getmetatable(e) == Error end

return M
