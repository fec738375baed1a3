-- Embedding: a C host with its own poll loop, SIGCHLD handler and children drives corral
-- through pollfd/timeout/step; signals = false leaves the signal mask to the host.
local corral = require "corral"
local H = require "helpers"

local INT_BIT = 1 << (2 - 1)

describe("embedding", function()
  it("a C host's loop drives corral; neither reaps the other's children", function()
    local exe = os.tmpname()
    local cc = ("cc -O2 -Wall -Wextra -Werror %s/spec/host/host.c $(pkg-config --cflags --libs lua5.4) -o %s")
      :format(H.root, exe)
    assert.is_true(os.execute(cc))
    local c = H.start { exe, H.root .. "/spec/host/host_script.lua" }
    assert.are.equal(0, c:wait())
    local out = table.concat(c.lines, "\n")
    assert.are.equal(3, select(2, out:gsub("HOSTCHILD 7", "")))   -- the host reaped its own: 7
    assert.matches("CORRAL 1 2 3 4 5 6 cancelled 42", out, 1, true)
    assert.matches("STEPS 1", out, 1, true)
    os.remove(exe)
  end)

  it("a host that reaps every child (waitpid(-1)) makes the task 'lost', not 'ok' or a hang", function()
    local exe = os.tmpname()
    assert.is_true(os.execute(("cc -O2 -Wall -Wextra -Werror %s/spec/host/host.c $(pkg-config --cflags --libs lua5.4) -o %s")
      :format(H.root, exe)))
    local c = H.start { exe, "--steal", H.root .. "/spec/host/steal_script.lua" }
    assert.are.equal(0, c:wait())
    assert.matches("CORRAL lost exit status lost: waitid: No child processes", table.concat(c.lines, "\n"), 1, true)
    os.remove(exe)
  end)

  it("signals = false never touches the signal mask; the default catches INT while busy", function()
    local m = H.sleep_marker()
    local quiet <close> = corral.pool { executor = "exec", size = 1, signals = false }
    local f = quiet:submit { "sleep", m }
    assert.is_true(H.poll(function() return f:status() == "running" end))
    assert.are.equal(0, H.sigblk() & INT_BIT)
    f:cancel(); f:wait()
    local busy <close> = corral.pool { executor = "exec", size = 1 }
    local g = busy:submit { "sleep", m }
    assert.is_true(H.poll(function() return g:status() == "running" end))
    assert.are.equal(INT_BIT, H.sigblk() & INT_BIT)
    g:cancel(); g:wait()
    assert.are.equal(0, H.sigblk() & INT_BIT)               -- restored once idle
  end)
end)

-- A host that sleeps only on loop:pollfd() (its own epoll set holding that one fd) and calls
-- step(0) when it is readable must see every kind of work: a timer falling due, a command
-- ending, a lua worker's reply. Nothing else wakes it, so a pollfd that stayed quiet fails.
describe("loop:pollfd()", function()
  local core = require "corral.core"
  local loop = corral.loop()

  -- Block on pollfd alone until done(); every wake-up must find pollfd readable.
  local function drive(done, what)
    local ep = assert(core.epoll_create())
    assert(core.epoll_add(ep, loop:pollfd()))
    local wakes = 0
    while not done() do
      local t = loop:timeout()
      if t == nil or t > 0 then
        local ready = core.epoll_wait(ep, 5000)
        assert(ready == loop:pollfd(), what .. ": pollfd stayed quiet for 5 s")
      end
      loop:step(0)
      wakes = wakes + 1
      assert(wakes < 1000, what .. ": pollfd readable with nothing to do")
    end
    core.close(ep)
  end

  it("is readable when a timer is due", function()
    local fired = false
    require("corral.loop").timer(0.2, function() fired = true end)
    drive(function() return fired end, "timer")
  end)

  it("is readable when a command ends", function()
    local pool <close> = corral.pool { size = 1 }
    local f = pool:submit("sleep 0.2")
    drive(function() return f:done() end, "command")
    assert.are.equal("ok", f:status())
  end)

  it("is readable when a lua worker replies", function()
    local pool <close> = corral.pool { executor = "lua", size = 1 }
    local f = pool:submit(function() local t = os.clock() while os.clock() - t < 0.2 do end return 7 end)
    drive(function() return f:done() end, "lua worker")
    assert.are.same({ 7 }, { f:result() })
  end)
end)

describe("loop.step", function()
  it("is not stepping any more after a callback raised through it", function()
    local loop = require "corral.loop"
    local core = require "corral.core"
    local pool <close> = corral.pool { executor = "lua", size = 1 }
    pool:submit(function() end):wait()                -- a warm worker
    local r, w = core.pipe()
    loop.watch(r, function() error("callback failed") end)
    core.write(w, "x")
    local ok, err = pcall(loop.step, 1)
    loop.close(r); core.close(w)
    assert.is_false(ok)
    assert.matches("callback failed", err)
    assert.is_false(loop.stepping())
    -- so a lua task submitted now starts now: its worker runs it while the script is busy
    local f = pool:submit(function() return require("corral.core").time() end)
    local t0 = core.time()
    local t = core.now() + 0.5
    while core.now() < t do end
    assert(f:result(10) - t0 < 0.3, "the task waited for the script's next wait")
  end)
end)
