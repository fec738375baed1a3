-- Inputs for the codec fuzzers (spec/engine/wire_fuzz_spec, scripts/fuzz.lua): valid seed frames, a
-- mutator (flip, insert, drop, scramble; half the time the length prefix is fixed up so the
-- body is parsed deeply) and random frames biased towards the codec's tags.
local core = require "corral.core"

local M = {}

M.SEEDS = {
  core.encode { 1, 2, 3, x = { y = "z" }, [2.5] = true, [-7] = math.maxinteger },
  core.encode "a string\0with bytes\255",
  core.encode { { { { { {} } } } }, 0.1, -0.0, false },
  core.encode(12345678901),
  core.encode { [{ k = 1 }] = { 1, nil, 3 } },
}

function M.mutate(r, s)
  local b = { s:byte(1, -1) }
  for _ = 1, r(1, 4) do
    local op = r(4)
    local i = r(1, #b + 1)
    if op == 1 and #b > 0 then b[math.min(i, #b)] = r(0, 255)            -- flip a byte
    elseif op == 2 then table.insert(b, i, r(0, 255))                    -- insert a byte
    elseif op == 3 and #b > 0 then table.remove(b, math.min(i, #b))      -- drop a byte
    else for j = 5, math.min(#b, 8) do b[j] = r(0, 255) end end          -- scramble the head of the body
  end
  -- keep the length prefix consistent half of the time, so bodies are parsed deeply
  if r(2) == 1 and #b >= 4 then
    local n = #b - 4
    b[1], b[2], b[3], b[4] = n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >> 24) & 255
  end
  return string.char(table.unpack(b))
end

function M.random_frame(r)
  local n = r(0, 64)
  local body = {}
  local tags = "nftiIdsTF"
  for i = 1, n do
    body[i] = r(3) == 1 and tags:sub(r(#tags), r(#tags)) or string.char(r(0, 255))
  end
  body = table.concat(body)
  return string.pack("<I4", #body) .. body
end

return M
