-- The wire codec: every value kind round-trips exactly, bad values are refused with their
-- path, and decode tells incomplete frames from malformed ones without raising.
local core = require "corral.core"

local function roundtrip(v, opts)
  local frame = core.encode(v)
  local out, nextpos = core.decode(frame, 1, opts)
  assert.are.equal(#frame + 1, nextpos)
  return out
end

local function bits(x) return string.pack("<d", x) end

describe("wire round trip", function()
  it("keeps nil, booleans and integers (as integers) exact", function()
    for _, v in ipairs { 0, 1, -1, 127, -128, 128, -129, 32767, -32768, 32768, -32769, (1 << 31) - 1,
                         -(1 << 31), 1 << 31, -(1 << 31) - 1, math.maxinteger, math.mininteger } do
      local out = roundtrip(v)
      assert.are.equal("integer", math.type(out))
      assert.are.equal(v, out)
    end
    -- each in the smallest of 1, 2, 4 and 8 bytes (frame: 4 bytes of length, a tag, the bytes)
    for v, size in pairs { [127] = 2, [-128] = 2, [128] = 3, [-32768] = 3, [32768] = 5,
                           [-(1 << 31)] = 5, [1 << 31] = 9, [math.mininteger] = 9 } do
      assert.are.equal(4 + size, #core.encode(v), "size of " .. v)
    end
    assert.is_nil(roundtrip(nil))
    assert.is_true(roundtrip(true))
    assert.is_false(roundtrip(false))
  end)

  it("keeps floats bit-exact: -0.0, inf, NaN payloads, 3.0 stays a float", function()
    local nan2 = string.unpack("<d", "\1\0\0\0\0\0\248\127")
    for _, v in ipairs { 0.1, -0.0, 1 / 0, -1 / 0, 0 / 0, nan2, 3.0, 2 ^ 63, 5e-324, math.pi } do
      local out = roundtrip(v)
      assert.are.equal("float", math.type(out))
      assert.are.equal(bits(v), bits(out))
    end
  end)

  it("keeps binary strings", function()
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    all = table.concat(all)
    for _, s in ipairs { "", "a", all, all:rep(5000) } do
      assert.are.equal(s, roundtrip(s))
    end
  end)

  it("keeps nested, sparse and mixed-key tables", function()
    local t = { 1, 2, nil, 4, [10] = "ten", [-1] = "neg", [0] = 0, [2.5] = "f", [true] = false,
      x = { y = { z = { "deep" } } }, [""] = "empty", ["a b"] = 1 }
    assert.are.same(t, roundtrip(t))
    local out = roundtrip { [1.0] = "one", [2 ^ 53] = "big" }
    assert.are.equal("one", out[1])
    assert.are.equal("big", out[2 ^ 53 // 1])
    local k = { key = true }
    local keyed = roundtrip { [k] = 1 }
    local only = next(keyed)
    assert.are.same(k, only)
  end)

  it("keeps tables of many fields, and arrays whose length hides a hole", function()
    local wide = {}
    for i = 1, 300 do wide["k" .. i] = i end           -- a field count of two varint bytes
    wide[1], wide[2] = "a", { many = wide.k7 }
    assert.are.same(wide, roundtrip(wide))
    local holed = { 1, 2, 3, 4, 5, 6, 7, 8 }            -- # may still say 8
    holed[3] = nil
    local out = roundtrip(holed)
    assert.are.same(holed, out)
    assert.is_nil(out[3])
  end)

  it("writes a shared subtable once per reference (no cycle)", function()
    local s = { 1 }
    local out = roundtrip { a = s, b = s }
    assert.are.same({ 1 }, out.a)
    assert.are.same({ 1 }, out.b)
  end)

  it("carries functions whose only upvalue is _ENV, only when the decoder allows them", function()
    local frame = core.encode(function(a, b) return a + b, tostring(a) end)
    local f = core.decode(frame, 1, { functions = true })
    assert.are.same({ 5, "2" }, { f(2, 3) })
    local v, err = core.decode(frame)
    assert.is_nil(v)
    assert.are.equal("malformed frame: function not allowed in this frame", err)
    assert.has_error(function() core.encode(print, "v", { functions = false }) end,
      "cannot encode C function at v")
    assert.has_error(function() core.encode(function() end, "v", { functions = false }) end,
      "cannot encode function at v")
  end)

  it("decodes a stream of frames one after another", function()
    local stream = core.encode(1) .. core.encode("two") .. core.encode { 3 }
    local a, p = core.decode(stream)
    local b, q = core.decode(stream, p)
    local c, r = core.decode(stream, q)
    assert.are.same({ 1, "two", { 3 } }, { a, b, c })
    assert.are.equal(#stream + 1, r)
    assert.are.same({ false, 4 }, { core.decode(stream, r) })
  end)
end)

describe("wire encode_pack", function()
  it("gives what encode(table.pack(...)) gives, nils and all", function()
    local cases = {
      { n = 0 }, table.pack(1), table.pack(nil), table.pack(1, nil, 3), table.pack(nil, nil),
      table.pack("a", { b = { 1.5, -0.0 } }, nil, true, nil), table.pack(math.mininteger, 1 / 0),
    }
    for _, c in ipairs(cases) do
      local out = core.decode(core.encode_pack("task", table.unpack(c, 1, c.n)))
      assert.are.same(c, out)
      assert.are.same(core.decode(core.encode(c)), out)
    end
  end)

  it("names a refused value's place in the pack, and refuses a cycle inside it", function()
    assert.has_error(function() core.encode_pack("task", print) end,
      "cannot encode C function at task[1]")
    assert.has_error(function() core.encode_pack("task", 1, nil, { io.stdout }) end,
      "cannot encode userdata at task[3][1]")
    local c = {}
    c.me = c
    assert.has_error(function() core.encode_pack("task", c) end,
      "cannot encode a table that contains itself at task[1].me")
    local shared = {}
    local out = core.decode(core.encode_pack("task", shared, shared))
    assert.are.same({ {}, {}, n = 2 }, out)
  end)
end)

describe("wire encode_chunk", function()
  local function fn(x) return x end
  it("gives what encode of the chunk's table gives: the slice, its count, nil items", function()
    local list = { 10, "b", { c = 3 }, nil, 5.5, true }
    for _, case in ipairs { { 1, 6 }, { 2, 4 }, { 4, 4 }, { 3, 2 }, { 6, 6 } } do
      local a, b = case[1], case[2]
      for _, all in ipairs { false, true } do
        local got = core.decode(core.encode_chunk(fn, list, a, b, all), 1, { functions = true })
        local slice = table.move(list, a, b, 1, {})
        local want = core.decode(core.encode({ fn, m = slice, n = b - a + 1, all = all or nil }, "task"),
          1, { functions = true })
        assert.are.equal(42, got[1](42))
        got[1], want[1] = nil, nil
        assert.are.same(want, got)
        assert.are.equal(b - a + 1, got.n)
      end
    end
  end)

  it("names a refused item by its place in the chunk, and refuses a bad range", function()
    assert.has_error(function() core.encode_chunk(fn, { 1, 2, { io.stdout } }, 2, 3) end,
      "cannot encode userdata at task.m[2][1]")
    assert.has_error(function() core.encode_chunk(print, { 1 }, 1, 1) end,
      "cannot encode C function at task[1]")
    assert.has_error(function() core.encode_chunk(fn, { 1 }, 0, 1) end)
    assert.has_error(function() core.encode_chunk(fn, { 1 }, 3, 1) end)
  end)
end)

describe("wire refusals", function()
  local function refused(v, msg)
    assert.has_error(function() core.encode(v, "args") end, msg)
  end

  it("names the path of userdata, threads, C functions and upvalues", function()
    refused({ 1, { cb = io.stdout } }, "cannot encode userdata at args[2].cb")
    refused({ co = coroutine.create(print) }, "cannot encode thread at args.co")
    refused({ ["a b"] = { [3.5] = { [false] = print } } }, 'cannot encode C function at args["a b"][3.5][false]')
    local up = {}
    refused({ f = function() return up end }, "cannot encode function with upvalue 'up' at args.f")
    refused({ [io.stdout] = 1 }, "cannot encode userdata at args[userdata]")
  end)

  it("refuses cycles, excessive depth and size", function()
    local c = { x = {} }
    c.x.back = c
    refused(c, "cannot encode a table that contains itself at args.x.back")
    local deep = {}
    local cur = deep
    for _ = 1, 250 do cur.n = {}; cur = cur.n end
    local ok, err = pcall(core.encode, deep, "args")
    assert.is_false(ok)
    assert.matches("^cannot encode tables nested deeper than 200 at args%.n%.n.*%.%.%.", err)
    assert.has_error(function() core.encode(("x"):rep(100), "v", { max_size = 50 }) end,
      "cannot encode: frame larger than 50 bytes")
  end)
end)

describe("wire decode of bad input", function()
  it("tells incomplete from malformed and never raises", function()
    local frame = core.encode { 1, 2, "three" }
    for n = 0, #frame - 1 do
      local v, need = core.decode(frame:sub(1, n))
      assert.is_false(v)
      assert.are.equal(n < 4 and 4 or #frame, need)
    end
    assert.are.same({ nil, "malformed frame: empty frame" }, { core.decode("\0\0\0\0") })
    assert.are.same({ nil, "malformed frame: unknown tag" }, { core.decode("\1\0\0\0q") })
    assert.are.same({ nil, "malformed frame: truncated string" }, { core.decode("\2\0\0\0s\9") })
    for _, body in ipairs { "h\1", "w\1\2\3", "I\1\2\3\4\5\6\7" } do
      assert.are.same({ nil, "malformed frame: truncated integer" },
        { core.decode(string.pack("<I4", #body) .. body) })
    end
    assert.are.equal(-2, (core.decode("\3\0\0\0h\254\255")))
    assert.are.equal(-(1 << 31) + 3, (core.decode("\5\0\0\0w\3\0\0\128")))
    assert.are.same({ nil, "malformed frame: trailing bytes after the value" }, { core.decode("\2\0\0\0nn") })
    assert.are.same({ nil, "malformed frame: nil table key" }, { core.decode("\5\0\0\0T\0\1nn") })
    local nan = "d" .. string.pack("<d", 0 / 0)
    assert.are.same({ nil, "malformed frame: NaN table key" }, { core.decode("\13\0\0\0T\0\1" .. nan .. "n") })
    local v, err = core.decode("\255\255\255\127", 1, { max_size = 1000 })
    assert.is_nil(v)
    assert.matches("exceeds the limit of 1000", err)
  end)
end)

-- Random values: any mix of kinds, nesting and keys, compared exactly (floats by bits).
describe("wire property", function()
  local function same(a, b)
    if math.type(a) ~= math.type(b) or type(a) ~= type(b) then return false end
    if math.type(a) == "float" then return bits(a) == bits(b) end
    if type(a) ~= "table" then return a == b end
    for k, v in pairs(a) do
      local w = b[k]
      if type(k) == "table" then  -- table keys arrive as new tables: find an equal one
        w = nil
        for k2, v2 in pairs(b) do if type(k2) == "table" and same(k, k2) then w = v2 end end
      end
      if not same(v, w) then return false end
    end
    for _ in pairs(b) do end
    local na, nb = 0, 0
    for _ in pairs(a) do na = na + 1 end
    for _ in pairs(b) do nb = nb + 1 end
    return na == nb
  end

  local gen
  local function scalar(r)
    local k = r(8)
    if k == 1 then return r(2) == 1 end
    if k == 2 then return r(-300, 300) end
    if k == 3 then return math.random(math.mininteger, math.maxinteger) end
    if k == 4 then return string.unpack("<d", string.pack("<i8", math.random(math.mininteger, math.maxinteger))) end
    if k == 5 then return (r() - 0.5) * 10 ^ r(-10, 10) end
    local n = r(0, 40)
    local t = {}
    for i = 1, n do t[i] = string.char(r(0, 255)) end
    return table.concat(t)
  end
  gen = function(r, depth)
    if depth > 4 or r(3) > 1 then return scalar(r) end
    local t = {}
    for i = 1, r(0, 8) do t[i] = gen(r, depth + 1) end
    for _ = 1, r(0, 5) do
      local k = scalar(r)
      if k == k then t[k] = gen(r, depth + 1) end   -- NaN cannot be a key
    end
    return t
  end

  it("decode(encode(v)) equals v for 3000 random values", function()
    local r = math.random
    for _ = 1, 3000 do
      local v = gen(r, 0)
      local out = core.decode(core.encode(v))
      if not same(v, out) then
        error("round trip changed a value; frame " .. core.encode(v):gsub(".", function(c)
          return ("%02x"):format(c:byte())
        end))
      end
    end
  end)
end)
