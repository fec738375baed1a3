-- Embedding: a C host with its own poll loop, SIGCHLD handler and children drives corral
-- through pollfd/timeout/step; signals = false leaves the signal mask to the host.
local corral = require "corral"
local H = require "helpers"

local function sigblk()
  for line in io.lines("/proc/self/status") do
    local hex = line:match("^SigBlk:%s*(%x+)")
    if hex then return tonumber(hex, 16) end
  end
end
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
    assert.are.equal(0, sigblk() & INT_BIT)
    f:cancel(); f:wait()
    local busy <close> = corral.pool { executor = "exec", size = 1 }
    local g = busy:submit { "sleep", m }
    assert.is_true(H.poll(function() return g:status() == "running" end))
    assert.are.equal(INT_BIT, sigblk() & INT_BIT)
    g:cancel(); g:wait()
    assert.are.equal(0, sigblk() & INT_BIT)               -- restored once idle
  end)
end)
