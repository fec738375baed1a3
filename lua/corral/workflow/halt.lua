-- corral.workflow.halt: when a run of many jobs should stop early, as GNU parallel's --halt says.
--
-- A spec is "when,why=N" or "when,why=N%": when = "now" (cancel running jobs) or "soon"
-- (start nothing new, let running jobs finish); why = "fail", "success" or "done". The legacy
-- numbers are accepted: 0 never, 1 = soon,fail=1, 2 = now,fail=1, -1 = soon,success=1,
-- -2 = now,success=1, and "N%" with 1 <= N <= 99 = soon,fail=N%.
local errors = require "corral.errors"

local M = {}
local Halt = {}
Halt.__index = Halt

local LEGACY = {
  ["0"] = false, ["1"] = "soon,fail=1", ["2"] = "now,fail=1",
  ["-1"] = "soon,success=1", ["-2"] = "now,success=1",
}

local function bad(spec, why)
  errors.raise(("bad halt '%s' (%s)"):format(tostring(spec), why))
end

-- parse(spec [, total]) -> policy | nil (never halt). Raises naming a malformed spec.
-- total: the number of jobs, needed for percentages (may be given later with set_total).
function M.parse(spec, total)
  if spec == nil or spec == false then return nil end
  if type(spec) == "number" then spec = tostring(math.tointeger(spec) or spec) end
  if type(spec) ~= "string" then bad(spec, "string expected") end
  local s = spec
  if LEGACY[s] ~= nil then
    s = LEGACY[s]
    if not s then return nil end
  elseif s:match("^%d+%%$") then
    local n = tonumber(s:sub(1, -2))
    if n < 1 or n > 99 then bad(spec, "legacy percentage must be 1% to 99%") end
    s = "soon,fail=" .. s
  end
  local when, why, num, pct = s:match("^(%a+),(%a+)=(%d+%.?%d*)(%%?)$")
  if not when then bad(spec, 'expected "now|soon,fail|success|done=N[%]"') end
  if when ~= "now" and when ~= "soon" then bad(spec, "'" .. when .. "' is not now or soon") end
  if why ~= "fail" and why ~= "success" and why ~= "done" then
    bad(spec, "'" .. why .. "' is not fail, success or done")
  end
  num = tonumber(num)
  if pct == "" and (math.tointeger(num) == nil or num < 1) then bad(spec, "count must be a positive integer") end
  if pct == "%" and (num <= 0 or num > 100) then bad(spec, "percentage must be in (0, 100]") end
  return setmetatable({ spec = spec, when = when, why = why, n = num, percent = pct == "%",
                        total = total, fail = 0, success = 0, done = 0 }, Halt)
end

function Halt:set_total(total) self.total = total end

local FAILED = { failed = true, signaled = true, timeout = true, lost = true, error = true }

-- record(status) -> nil | "now" | "soon": count one finished job (its final status); the
-- answer says whether the run must halt, and how. Once triggered, the answer stays.
function Halt:record(status)
  if status == "cancelled" or status == "skipped" then return self.triggered end
  self.done = self.done + 1
  if FAILED[status] then self.fail = self.fail + 1 else self.success = self.success + 1 end
  if self.triggered then return self.triggered end
  local count = self[self.why]
  local hit
  if self.percent then
    hit = self.total and self.total > 0 and count * 100 >= self.n * self.total
  else
    hit = count >= self.n
  end
  if hit then
    self.triggered = self.when
    self.trigger_status = status
  end
  return self.triggered
end

return M
