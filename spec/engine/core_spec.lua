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

describe("core.send", function()
  it("returns EPIPE for a socket whose peer is gone, raising no SIGPIPE", function()
    local a, b = core.socketpair()
    assert.are.equal(3, core.send(a, "abc"))
    core.close(b)
    local n, msg, errno = core.send(a, "x")   -- SIGPIPE would end this process
    assert.is_nil(n)
    assert.are.equal("send: Broken pipe", msg)
    assert.are.equal(32, errno)
    core.close(a)
  end)
end)

describe("core.epoll_wait", function()
  it("puts the ready fds in a given table and returns their count; without one, returns them", function()
    local ep = assert(core.epoll_create())
    local r1, w1 = core.pipe()
    local r2, w2 = core.pipe()
    assert(core.epoll_add(ep, r1))
    assert(core.epoll_add(ep, r2))
    local out = { "stale", "stale", "stale" }
    assert.are.equal(0, core.epoll_wait(ep, 0, out))         -- nothing ready
    core.write(w1, "x")
    core.write(w2, "y")
    assert.are.equal(2, core.epoll_wait(ep, 0, out))
    local got = { out[1], out[2] }
    table.sort(got)
    local want = { r1, r2 }
    table.sort(want)
    assert.are.same(want, got)
    local fds = { core.epoll_wait(ep, 0) }
    table.sort(fds)
    assert.are.same(want, fds)
    assert.has_error(function() core.epoll_wait(ep, 0, "x") end)
    for _, fd in ipairs { r1, w1, r2, w2, ep } do core.close(fd) end
  end)
end)

describe("core.slots", function()
  it("shares stores with a reader of its fd, through growth", function()
    local s = core.slots(2)
    s:set(1, 123)
    s:set(2, -5)
    assert.are.same({ 123, -5 }, core.slots_read(s:fd()))
    assert.is_true(s:grow(1000))
    s:set(1, 0)
    s:set(1000, 77)
    assert.are.same({ -5, 77 }, core.slots_read(s:fd()))
    assert.has_error(function() s:set(1001, 1) end)
    s:close()
  end)
end)

-- Also run under valgrind (make valgrind): the spawner's set-up and error paths free what they
-- allocate. (Successful spawns need pidfd_open, which valgrind 3.19 does not know.)
describe("core.spawn refusals", function()
  -- Under valgrind the vfork child is emulated and pidfd_open is unknown: the refusal then
  -- names pidfd_open instead; what is checked there is that nothing leaks on these paths.
  local grind = os.getenv("CORRAL_VALGRIND")
  it("names the missing program and the bad cwd; rejects malformed arguments", function()
    for _ = 1, 50 do
      local pid, msg = core.spawn { argv = { "/no/such/prog", "a", "b" }, env = { "A=1", "B=2" } }
      assert.is_nil(pid)
      if not grind then assert.matches("/no/such/prog", msg, 1, true) end
      pid, msg = core.spawn { argv = { "true" }, cwd = "/no/such/dir", stdout = "pipe", stderr = "pipe" }
      assert.is_nil(pid)
      if not grind then assert.matches("/no/such/dir", msg, 1, true) end
    end
    assert.has_error(function() core.spawn { argv = { "true", {} } } end)
    assert.has_error(function() core.spawn { argv = {} } end)
  end)
end)
