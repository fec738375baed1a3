-- 100k random and mutated frames: decode returns a value, false (incomplete) or nil and a
-- message, and never raises or crashes (this file also runs under `make asan`).
local core = require "corral.core"

local gen = require "fuzzgen"

describe("wire fuzz", function()
  -- CORRAL_FUZZ_N: how many (make valgrind runs fewer, make fuzz many more).
  local N = tonumber(os.getenv("CORRAL_FUZZ_N")) or 100000
  it(N .. " random and mutated frames never raise", function()
    local r = math.random
    local outcomes = { value = 0, incomplete = 0, malformed = 0 }
    for i = 1, N do
      local frame = i % 2 == 0 and gen.random_frame(r) or gen.mutate(r, gen.SEEDS[r(#gen.SEEDS)])
      local ok, v, pos = pcall(core.decode, frame, 1, { max_size = 1 << 20 })
      if not ok then error("decode raised on frame " .. ("%q"):format(frame) .. ": " .. tostring(v)) end
      -- a frame whose value is false ("f", body 1), perhaps with bytes after it, is a value
      local false_value = v == false and pos == 6 and frame:sub(1, 5) == "\1\0\0\0f"
      if v == false and not false_value then
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
    local some = N // 100
    assert.is_true(outcomes.value > some, "values " .. outcomes.value)
    assert.is_true(outcomes.incomplete > some, "incomplete " .. outcomes.incomplete)
    assert.is_true(outcomes.malformed > some, "malformed " .. outcomes.malformed)
  end)
end)
