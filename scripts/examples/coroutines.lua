-- Many waits at once without threads: coroutines (corral.go) each wait on their own futures,
-- and corral's loop runs whichever is ready. A crawler-style fan-out: for every "site", fetch
-- (here: a command that sleeps a random time), then parse (a Lua function in a worker).
-- Run it with:  scripts/corral run scripts/examples/coroutines.lua
local corral = require "corral"

local shell <close> = corral.pool { executor = "shell", size = 8, timeout = 5 }
local lua <close> = corral.pool { executor = "lua", size = 2 }

local results, running = {}, 0
for i = 1, 20 do
  running = running + 1
  corral.go(function()
    -- each wait yields to the loop: the other 19 coroutines go on meanwhile
    local page = shell:submit(("sleep 0.%d; echo site-%d has $((%d * 7)) links"):format(i % 5, i, i)):wait()
    if page.status ~= "ok" then
      results[i] = page.status
    else
      local links = lua:submit(function(text) return tonumber(text:match("(%d+) links")) end,
        page.stdout):result()
      results[i] = links
    end
    running = running - 1
  end)
end

-- The main chunk waits for all coroutines by running corral's loop until none is left.
local loop = corral.loop()
while running > 0 do loop:step(1) end

for i, v in ipairs(results) do io.write(("site-%d: %s\n"):format(i, tostring(v))) end
