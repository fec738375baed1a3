-- corral.workflow.progress: one updating progress line (done/total, running, failed, rate, ETA),
-- drawn only when its stream is a terminal; on a pipe or file it draws nothing at all, so
-- logs stay clean.
--
--   local bar = progress.new{ total = n, stream = io.stderr }
--   bar:update{ done = d, running = r, failed = f }     -- also total = n once it is known
--   bar:finish()
local core = require "corral.core"

local M = {}
local Bar = {}
Bar.__index = Bar

local INTERVAL = 0.1          -- seconds between redraws (the last state is always drawn)

-- isatty(fd): core.isatty when the engine has it; else the shell's test, once per bar.
function M.isatty(fd)
  if core.isatty then return core.isatty(fd) and true or false end
  return os.execute(("test -t %d"):format(fd)) == true
end

local FDS = { [io.stdout] = 1, [io.stderr] = 2 }

-- new{ total = n | nil, stream = io.stderr, fd = n, tty = bool (overrides the test),
--      label = "text" } -> bar
function M.new(opts)
  opts = opts or {}
  local stream = opts.stream or io.stderr
  local fd = opts.fd or FDS[stream]
  local tty = opts.tty
  if tty == nil then tty = fd ~= nil and M.isatty(fd) end
  return setmetatable({
    stream = stream, on = tty, total = opts.total, label = opts.label,
    done = 0, running = 0, failed = 0,
    t0 = core.now(), last = -math.huge, width = 0,
  }, Bar)
end

local function clock(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%d:%02d:%02d"):format(s // 3600, s // 60 % 60, s % 60) end
  return ("%d:%02d"):format(s // 60, s % 60)
end

-- text(): the line as it would be drawn now.
function Bar:text()
  local elapsed = core.now() - self.t0
  local rate = elapsed > 0 and self.done / elapsed or 0
  local parts = {}
  local total = self.total and tostring(self.total) or "?"
  if self.total and self.total > 0 then
    parts[1] = ("%3d%% %d/%s"):format(math.floor(100 * self.done / self.total), self.done, total)
  else
    parts[1] = ("%d/%s"):format(self.done, total)
  end
  parts[#parts + 1] = ("%d running"):format(self.running)
  parts[#parts + 1] = ("%d failed"):format(self.failed)
  parts[#parts + 1] = ("%.1f/s"):format(rate)
  if self.total and rate > 0 and self.done < self.total then
    parts[#parts + 1] = "ETA " .. clock((self.total - self.done) / rate)
  elseif self.total and self.done >= self.total then
    parts[#parts + 1] = "in " .. clock(elapsed)
  end
  local s = table.concat(parts, ", ")
  if self.label then s = self.label .. " " .. s end
  return s
end

function Bar:draw()
  if not self.on then return end
  local s = self:text()
  self.last = core.now()
  if s == self.shown then return end
  self.shown = s
  -- \r, the line, then clear what a longer previous line left.
  self.stream:write("\r", s, "\27[K")
  self.stream:flush()
end

-- update{ done =, running =, failed =, total = }: any subset; redraws at most every 0.1 s.
function Bar:update(t)
  for _, k in ipairs({ "done", "running", "failed", "total" }) do
    if t[k] ~= nil then self[k] = t[k] end
  end
  if self.on and core.now() - self.last >= INTERVAL then self:draw() end
end

-- finish(): the final state, and the cursor on a fresh line.
function Bar:finish()
  if not self.on or self.finished then return end
  self.finished = true
  self:draw()
  self.stream:write("\n")
  self.stream:flush()
end

-- clear(): take the line away (before printing other output over it); the next update
-- draws it again.
function Bar:clear()
  if self.on and self.last > -math.huge then
    self.stream:write("\r\27[K")
    self.last, self.shown = -math.huge, nil
  end
end

return M
