-- corral.cli.parallel.meter: GNU parallel's --progress and --eta status on stderr, drawn only
-- when stderr is a terminal (GNU writes it to a pipe too). The same calls as
-- corral.workflow.progress's bar: update{ done, running, failed, total }, clear(), finish().
local core = require "corral.core"
local progress = require "corral.workflow.progress"

local M = {}
local Meter = {}
Meter.__index = Meter

local INTERVAL = 0.1

-- new(jobs, eta [, tty]) -> meter; meter.on is false when stderr is not a terminal.
function M.new(jobs, eta, tty)
  if tty == nil then tty = progress.isatty(2) end
  local self = setmetatable({ on = tty, eta = eta, t0 = core.now(), last = -math.huge,
                              done = 0, running = 0, width = 0 }, Meter)
  if self.on then
    io.stderr:write(("\nComputers / CPU cores / Max jobs to run\n1:local / %d / %d\n\n"):format(
      core.ncpu(), jobs))
    io.stderr:write("Computer:jobs running/jobs completed/%of started jobs/Average seconds to complete\n")
  end
  return self
end

-- text(): the status as GNU words it (one host, "local").
function Meter:text()
  local elapsed = core.now() - self.t0
  local avg = self.done > 0 and elapsed / self.done or 0
  local host = ("local:%d/%d/100%%/%.1fs "):format(self.running, self.done, avg)
  if not self.eta then return host end
  local left = self.total and math.max(self.total - self.done, 0) or self.running
  return ("ETA: %ds Left: %d AVG: %.2fs  %s"):format(math.floor(left * avg + 0.5), left, avg, host)
end

function Meter:draw()
  local s = self:text()
  local pad = math.max(self.width - #s, 0)
  io.stderr:write("\r", s, (" "):rep(pad))
  self.width = #s
  self.drawn = true
end

function Meter:update(st)
  if not self.on then return end
  self.done, self.running, self.total = st.done, st.running, st.total or self.total
  local now = core.now()
  if now - self.last < INTERVAL then return end
  self.last = now
  self:draw()
end

-- clear(): take the line away before other output.
function Meter:clear()
  if not self.on or not self.drawn then return end
  io.stderr:write("\r", (" "):rep(self.width), "\r")
  self.drawn, self.last = false, -math.huge
end

function Meter:finish()
  if not self.on then return end
  self:draw()
  io.stderr:write("\n")
end

return M
