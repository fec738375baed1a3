-- corral.future: the handle of one submitted task and its final outcome record.
--
-- The pool moves a future through pending -> running -> one final status and wakes whoever
-- waits on it. Futures never raise for a failed task from wait(); result() does.
local loop = require "corral.loop"
local errors = require "corral.errors"

local M = {}
local Future = {}
Future.__index = Future
Future.__name = "corral.Future"

local final = {
  ok = true, failed = true, signaled = true, timeout = true, cancelled = true,
  lost = true, error = true, skipped = true,
}
M.final = final

-- The pool fills in the rest as the task goes; naming every field here allocates the table
-- once at its final size (a map makes one future per task).
function M.new(pool, id, name, task, opts, timeout, termseq, retries)
  return setmetatable({ pool = pool, id = id, name = name, state = "pending", waiters = nil,
                        task = task, opts = opts, timeout = timeout, termseq = termseq,
                        retries = retries, attempt = nil, start = nil, handle = nil, pid = nil,
                        pgid = nil, record = nil }, Future)
end

-- A lua task is "pending" until its worker says it has started it; what the worker has said
-- is read now, so the status is current even when the script has not waited.
function Future:status()
  local h = self.handle
  if h and h.queued then
    if h.poll then h:poll() end
    if self.handle == h and h.queued then return "pending" end
  end
  return self.state
end

function Future:done() return final[self.state] == true end

-- _waiters(): the list of coroutines waiting for this future, made when first needed (most
-- futures of a map are settled before anyone waits). A function in it is called with the
-- future when it settles (map, as_completed: they learn of each end without scanning).
function Future:_waiters()
  local w = self.waiters
  if not w then w = {}; self.waiters = w
  elseif type(w) == "function" then w = { w }; self.waiters = w end
  return w
end

-- _on_settle(fn): fn(future) when it settles; the first one is kept without a list.
function Future:_on_settle(fn)
  local w = self.waiters
  if not w then self.waiters = fn
  else
    w = self:_waiters()
    w[#w + 1] = fn
  end
end

-- settle(record): the pool's one call that ends a future.
function Future:settle(record)
  self.record = record
  self.state = record.status
  local w = self.waiters
  if type(w) == "function" then w(self)
  elseif w then
    for i = 1, #w do
      local x = w[i]
      w[i] = nil
      if type(x) == "function" then x(self) else loop.wake(x) end
    end
  end
end

local function check_seconds(seconds, fname)
  if seconds ~= nil and (type(seconds) ~= "number" or seconds < 0) then
    error(("bad argument #1 to '%s' (non-negative number of seconds expected, got %s)")
      :format(fname, type(seconds) == "number" and tostring(seconds) or type(seconds)), 3)
  end
end

-- wait([seconds]) -> record | nil, "timeout". Raises corral.Interrupted if the pool's work was
-- cancelled by an interrupt before this task ended.
function Future:wait(seconds)
  check_seconds(seconds, "wait")
  local ok = final[self.state] or loop.wait_for(function() return final[self.state] == true end,
    seconds and loop.now() + seconds, { self:_waiters() })
  if not ok then return nil, "timeout" end
  if self.record.interrupted then error(errors.interrupted(self.record.interrupted), 2) end
  return self.record
end

-- result([seconds]) -> the task's values when "ok" (a command's: its record); raises
-- corral.Error otherwise, and "timeout" when the wait timed out.
function Future:result(seconds)
  check_seconds(seconds, "result")
  local r, err = self:wait(seconds)
  if not r then error("timeout waiting for task " .. tostring(self.id), 2) end
  if r.status ~= "ok" then error(errors.task_error(r), 2) end
  if self.pool.returns_record then return r end
  return table.unpack(r.values, 1, r.values.n)
end

function Future:cancel() return self.pool:_cancel(self) end

-- kill([sig]): the signal is checked here, so a bad name is the caller's error (at its line)
-- whether the task is running or not.
function Future:kill(sig)
  sig = sig or "KILL"
  local ok, why = pcall(require("corral.core").signum, sig)
  if not ok then
    errors.raise(("bad argument #1 to 'kill' (%s)"):format(tostring(why):match("%((.*)%)$") or tostring(why)))
  end
  return self.pool:_kill(self, sig)
end

return M
