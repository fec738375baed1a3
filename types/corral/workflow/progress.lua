---@meta corral.workflow.progress
-- LuaCATS definitions of `require "corral.workflow.progress"` (docs/api.md, "Progress lines"):
-- the one updating progress line of `corral parallel --bar` and a workflow's progress = true.
-- spec/meta_spec.lua checks these names against the code and docs/api.md.

---@class corral.ProgressOptions
---@field total? integer the number of steps (nil: shown as ? until update gives it)
---@field stream? file* where to draw (default io.stderr)
---@field fd? integer the stream's fd, for the terminal test
---@field tty? boolean draw or not, instead of the terminal test
---@field label? string text before the line

---A progress line; it draws only when its stream is a terminal.
---@class corral.Progress
local Progress = {}

---Sets any of done, running, failed, total; redraws at most every 0.1 s.
---@param counts { done?: integer, running?: integer, failed?: integer, total?: integer }
function Progress:update(counts) end

---Takes the line away (before other output); the next update draws it again.
function Progress:clear() end

---The final state, and the cursor on a fresh line (once).
function Progress:finish() end

---Draws the line now.
function Progress:draw() end

---The line as it would be drawn now.
---@return string
function Progress:text() end

local progress = {}

---A new progress line.
---@param options? corral.ProgressOptions
---@return corral.Progress
function progress.new(options) end

---Whether fd is a terminal.
---@param fd integer
---@return boolean
function progress.isatty(fd) end

return progress
