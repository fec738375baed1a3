-- Driven by spec/host/host.c: corral work run from coroutines while the host's loop steps it.
local corral = require "corral"
local M = {}
local out = {}
local finished = false

function M.start()
  corral.go(function()
    local pool <close> = corral.pool { executor = "shell", size = 4 }
    local fs = {}
    for i = 1, 6 do fs[i] = pool:submit("sleep 0.1; exit " .. i) end
    local tree = pool:submit("sleep 300 & sleep 300")
    for i = 1, 6 do out[#out + 1] = fs[i]:wait().code end
    tree:cancel()
    out[#out + 1] = tree:wait().status
    local lua <close> = corral.pool { executor = "lua", size = 2 }
    out[#out + 1] = lua:submit(function(a, b) return a * b end, 6, 7):result()
    finished = true
  end)
end

function M.done() return finished end

function M.report() return "CORRAL " .. table.concat(out, " ") end

return M
