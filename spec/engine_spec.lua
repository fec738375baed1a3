-- Engine primitives that the pools rely on, seen directly.
local core = require "corral.core"

describe("core.write", function()
  it("returns EPIPE for a pipe whose reader is gone instead of dying of SIGPIPE", function()
    local r, w = core.pipe()
    core.close(r)
    local n, msg, errno = core.write(w, "x")
    assert.is_nil(n)
    assert.are.equal("write: Broken pipe", msg)
    assert.are.equal(32, errno)
    core.close(w)
  end)
end)
