-- Bad input of the kinds docs/bad-input.md lists that other spec files do not already cover.
local H = require "helpers"
local corral = require "corral"

describe("bad input", function()
  it("fd exhaustion: tasks that cannot get pipes are 'error' records; the pool goes on", function()
    local c = H.start { "sh", "-c", "ulimit -n 30; exec " .. H.root .. "/scripts/corral run "
      .. H.root .. "/spec/scripts/fd_exhaust.lua" }
    assert.are.equal(0, c:wait())
    local out = table.concat(c.lines, "\n")
    local ok, err, total = out:match("ok=(%d+) error=(%d+) total=(%d+)")
    assert.are.equal(40, tonumber(ok) + tonumber(err))    -- every task has its record
    assert.is_true(tonumber(err) > 0 and tonumber(ok) > 0)
    assert.matches("ERR spawn: stdio: Too many open files", out, 1, true)
    assert.matches("AFTER ok", out, 1, true)
  end)

  it("huge values: a frame over the limit is refused at submit, naming it", function()
    local pool <close> = corral.pool { executor = "lua", size = 1 }
    local big = ("x"):rep(300 << 20)
    assert.has_error(function() pool:submit(function(s) return #s end, big) end,
      "bad argument to 'submit' (cannot encode: frame larger than 268435456 bytes)")
    big = nil
    collectgarbage()
    assert.are.equal(3, pool:submit(function(s) return #s end, "abc"):result())
  end)

  it("a torn last journal line is skipped on read", function()
    local path = os.tmpname()
    local f = io.open(path, "w")
    f:write('{"id":1,"status":"ok"}\n{"id":2,"sta')
    f:close()
    local recs = require("corral.joblog").read(path)
    assert.are.equal(1, #recs)
    os.remove(path)
  end)
end)
