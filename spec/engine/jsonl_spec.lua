-- core.jsonl: the journal's encoder. Its lines must read back (lua-cjson, as every reader of a
-- journal) as the tables that were written, with numbers to 14 significant digits; what it
-- cannot write it refuses whole, leaving the buffer as it was. Also run under valgrind.
local core = require "corral.core"
local cjson = require "cjson"

local function tmpfile()
  local path = os.tmpname()
  local fh = assert(io.open(path, "a+"))
  fh:setvbuf("no")
  return path, fh
end

local function lines_of(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = line end
  return out
end

describe("core.jsonl", function()
  it("writes objects that lua-cjson reads back as they were", function()
    local path, fh = tmpfile()
    local b = core.jsonl()
    local rows = {
      { id = 1, name = "j1", status = "ok", start = 1796378771.1215, duration = 2.7547488571145e-05 },
      { name = 'quote " backslash \\ newline \n tab \t nul \0 ctrl \1 del \127 utf8 é', n = -42 },
      { after = { "a", "b", "c" }, rusage = { utime = 0.25, maxrss = 1024 }, ok = true, no = false },
      { values = { 1, cjson.null, "x" }, deep = { { { 1 } } }, [3] = "number key" },
      {},
      { big = 9007199254740992, small = -9007199254740992, min = math.mininteger, tiny = 1e-300, huge = 1e300, neg0 = 0.0 },
    }
    for _, r in ipairs(rows) do assert.is_number(b:object(r)) end
    assert.is_true(b:flush(fh))
    assert.are.equal(0, #b)
    fh:close()
    local got = lines_of(path)
    os.remove(path)
    assert.are.equal(#rows, #got)
    for i, r in ipairs(rows) do
      local back = cjson.decode(got[i])
      if i == 4 then r[3], r["3"] = nil, "number key" end   -- a number key becomes its text
      for k, v in pairs(r) do
        if type(v) == "number" and math.type(v) == "float" then
          assert.is_true(math.abs(back[k] - v) <= math.abs(v) * 1e-13, got[i])
        else
          assert.are.same(v, back[k], got[i])
        end
      end
      for k in pairs(back) do assert.is_not_nil(r[k], "extra key " .. tostring(k)) end
    end
  end)

  it("puts the event first, so readers know an event line by its first bytes", function()
    local b = core.jsonl()
    local path, fh = tmpfile()
    b:object({ id = 3, name = "x" }, "start")
    b:object({}, "run")
    b:flush(fh)
    fh:close()
    local got = lines_of(path)
    os.remove(path)
    assert.are.equal('{"event":"start",', got[1]:sub(1, 17))
    assert.are.same({ event = "start", id = 3, name = "x" }, cjson.decode(got[1]))
    assert.are.equal('{"event":"run"}', got[2])
  end)

  it("takes only the named fields of a table (raw), then all of another's", function()
    local b = core.jsonl()
    local path, fh = tmpfile()
    local t = setmetatable({ id = 1, name = "a", secret = "no", start = 2.5 },
                           { __index = function() return "from __index" end })
    assert.is_number(b:object(t, nil, { "id", "name", "missing", "start" }, { hash = "h", after = { "x" } }))
    assert.is_number(b:object(t, "start", { "name" }, {}))
    assert.is_nil(b:object(t, nil, { "name" }, { f = print }))
    assert.has_error(function() b:object(t, nil, { 1 }) end)
    b:flush(fh)
    fh:close()
    local got = lines_of(path)
    os.remove(path)
    assert.are.same({ id = 1, name = "a", start = 2.5, hash = "h", after = { "x" } }, cjson.decode(got[1]))
    assert.are.equal('{"event":"start","name":"a"}', got[2])
    assert.are.equal(2, #got)
  end)

  it("writes floats as %.14g does (to the last digit, near a tie)", function()
    local b = core.jsonl()
    local path, fh = tmpfile()
    local vals = { 0.1, 1 / 3, 2.5, 1796378771.1215, 123.456, -5.5, 0.0001, 99999999999999.4 }
    math.randomseed(7)
    for _ = 1, 2000 do vals[#vals + 1] = (math.random() - 0.5) * 10 ^ math.random(-6, 16) end
    for _, v in ipairs(vals) do b:object({ v = v }) end
    b:flush(fh)
    fh:close()
    local got = lines_of(path)
    os.remove(path)
    local near = 0
    for i, v in ipairs(vals) do
      local want = ('{"v":%.14g}'):format(v)
      if got[i] ~= want then
        near = near + 1
        assert.is_true(math.abs(tonumber(got[i]:match(":(.*)}")) - v) <= math.abs(v) * 2e-14, got[i] .. " " .. want)
      end
    end
    assert.is_true(near < #vals / 50, near .. " of " .. #vals .. " differ in the last digit")
  end)

  it("refuses what JSON cannot hold, whole, naming it, and keeps the lines before", function()
    local b = core.jsonl()
    b:object({ a = 1 })
    local before = #b
    local self_ref = {}
    self_ref.me = self_ref
    for _, bad in ipairs {
      { f = print }, { x = 0 / 0 }, { x = math.huge }, { t = { [true] = 1 } }, self_ref,
      { co = coroutine.create(print) }, { 1, 2 },
    } do
      local n, why = b:object(bad)
      assert.is_nil(n)
      assert.is_string(why)
      assert.are.equal(before, #b)
    end
    local _, why = b:object({ f = print })
    assert.are.equal("function", why)
    assert.are.equal(before + 8, b:raw('{"b":2}\n'))
    local path, fh = tmpfile()
    b:flush(fh)
    fh:close()
    assert.are.same({ '{"a":1}', '{"b":2}' }, lines_of(path))
    os.remove(path)
  end)

  it("returns the error of a write that fails, and drops what it could not write", function()
    local b = core.jsonl()
    b:object({ a = 1 })
    local fh = assert(io.open("/dev/full", "w"))
    fh:setvbuf("no")
    local ok, msg, errno = b:flush(fh)
    assert.is_nil(ok)
    assert.are.equal("jsonl: write: No space left on device", msg)
    assert.are.equal(28, errno)
    assert.are.equal(0, #b)
    fh:close()
    assert.has_error(function() b:flush(fh) end)
    assert.has_error(function() b:object("x") end)
  end)
end)
