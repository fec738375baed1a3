-- Driven by `host --steal`: the host reaps every child, corral's included.
local corral = require "corral"
local M = {}
local out
function M.start()
  corral.go(function()
    local pool <close> = corral.pool { executor = "shell", size = 1 }
    local r = pool:submit("sleep 0.1; exit 3"):wait()
    out = r.status .. " " .. tostring(r.error)
  end)
end
function M.done() return out ~= nil end
function M.report() return "CORRAL " .. out end
return M
