-- corral.launch.settings: what a launcher reads off a task and its pool: the task's own
-- option over the pool's, the environment a command gets, and the host it runs on.
local core = require "corral.core"

local M = {}

M.HOST = (function()
  local f = io.open("/proc/sys/kernel/hostname")
  local h = f and f:read("l")
  if f then f:close() end
  return h or "localhost"
end)()

-- pick(task_opts, pool_opts, name [, default]): a task's own option over the pool's.
function M.pick(task, pool, name, default)
  local v = task[name]
  if v == nil then v = pool[name] end
  if v == nil then v = default end
  return v
end

-- environment(overrides, clear, base) -> list of "K=V" for spawn, or nil for "inherit as is".
function M.environment(overrides, clear, base)
  if not overrides and not clear then return base end
  local vars = {}
  if not clear then
    if base then
      for _, kv in ipairs(base) do
        local k, val = kv:match("^([^=]*)=(.*)$")
        if k then vars[k] = val end
      end
    else
      vars = core.environ()
    end
  end
  for k, v in pairs(overrides or {}) do
    if v == false then vars[k] = nil else vars[k] = tostring(v) end
  end
  local list = {}
  for k, v in pairs(vars) do list[#list + 1] = k .. "=" .. v end
  table.sort(list)
  return list
end

return M
