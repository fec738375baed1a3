-- 100k random and mutated frames: decode returns a value, false (incomplete) or nil and a
-- message, and never raises or crashes (this file also runs under `make asan`).
local core = require "corral.core"

local SEEDS = {
  core.encode { 1, 2, 3, x = { y = "z" }, [2.5] = true, [-7] = math.maxinteger },
  core.encode "a string\0with bytes\255",
  core.encode { { { { { {} } } } }, 0.1, -0.0, false },
  core.encode(12345678901),
  core.encode { [{ k = 1 }] = { 1, nil, 3 } },
}

local function mutate(r, s)
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

local function random_frame(r)
  local n = r(0, 64)
  local body = {}
  local tags = "nftiIdsTF"
  for i = 1, n do
    body[i] = r(3) == 1 and tags:sub(r(#tags), r(#tags)) or string.char(r(0, 255))
  end
  body = table.concat(body)
  return string.pack("<I4", #body) .. body
end

describe("wire fuzz", function()
  it("100000 random and mutated frames never raise", function()
    local r = math.random
    local outcomes = { value = 0, incomplete = 0, malformed = 0 }
    for i = 1, 100000 do
      local frame = i % 2 == 0 and random_frame(r) or mutate(r, SEEDS[r(#SEEDS)])
      local ok, v, pos = pcall(core.decode, frame, 1, { max_size = 1 << 20 })
      if not ok then error("decode raised on frame " .. ("%q"):format(frame) .. ": " .. tostring(v)) end
      if v == false then
        outcomes.incomplete = outcomes.incomplete + 1
        assert.is_true(pos > #frame)
      elseif v == nil and type(pos) == "string" then
        outcomes.malformed = outcomes.malformed + 1
      else
        outcomes.value = outcomes.value + 1
        assert.is_true(pos <= #frame + 1)
      end
    end
    -- the mutator must reach every outcome, or it is not testing much
    assert.is_true(outcomes.value > 1000, "values " .. outcomes.value)
    assert.is_true(outcomes.incomplete > 1000, "incomplete " .. outcomes.incomplete)
    assert.is_true(outcomes.malformed > 1000, "malformed " .. outcomes.malformed)
  end)
end)
