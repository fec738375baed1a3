-- Ctrl-C as a terminal sends it: SIGINT to the job script's whole process group. Workers'
-- commands live in their own groups, so only the script receives it; its pool's on_interrupt
-- decides. Each scenario checks every task's final record and that nothing survives.
local H = require "helpers"

-- The shell scenarios (spec/scripts/interrupt.lua) put a unique marker in every task's
-- command line; none may be left once the script has exited.
local function run(mode, flavour, termseq)
  local m = H.sleep_marker()
  local c = H.run_script("interrupt.lua", mode, flavour, termseq or "", m)
  c.marker = m
  return c
end

local function live_with(marker)
  local n = 0
  for _, pid in ipairs(H.pids_containing(marker)) do if H.alive(pid) then n = n + 1 end end
  return n
end

local function no_survivors(c)
  assert.are.equal(0, live_with(c.marker), "processes of the script's tasks survived it")
end

local function statuses(recs)
  local s = {}
  for i = 1, 4 do s[i] = recs[i] and recs[i].status end
  return s
end

describe("Ctrl-C with on_interrupt = cancel", function()
  it("cancels running and pending tasks, raises Interrupted, exits 130", function()
    local c = run("cancel", "plain")
    assert.is_true(c:expect("ready", 2))
    c:signal_group("INT")
    local code, sig = c:wait()
    no_survivors(c)
    assert.are.equal(130, code, sig)
    assert.are.same({ "cancelled", "cancelled", "cancelled", "cancelled" }, statuses(c:records()))
    assert.are.equal("TERM", c:records()[1].signal)
    assert.are.equal("interrupted", c:records()[3].error)
    assert.is_true(c:expect("JOIN raised Interrupted"))
    for _, l in ipairs(c.lines) do assert.is_nil(l:match("^started")) end
  end)

  it("a second Ctrl-C goes straight to KILL", function()
    local c = run("cancel", "stubborn", "TERM,20000,KILL")
    assert.is_true(c:expect("ready", 2))
    c:signal_group("INT")
    assert.is_true(c:expect("got-TERM", 2))     -- the first one was handled: TERM reached both
    c:signal_group("INT")
    local code, _, took = c:wait()
    no_survivors(c)
    assert.are.equal(130, code)
    assert.is_true(took < 10, "took " .. tostring(took))   -- not the 20 s of the termseq
    local recs = c:records()
    assert.are.equal("cancelled", recs[1].status)
    assert.are.equal("KILL", recs[1].signal)
  end)
end)

describe("Ctrl-C with on_interrupt = drain", function()
  it("lets running tasks finish with their results and cancels pending ones", function()
    local c = run("drain", "finish")
    assert.is_true(c:expect("ready", 2))
    c:signal_group("INT")
    local code = c:wait()
    no_survivors(c)
    local recs = c:records()
    assert.are.same({ "failed", "failed", "cancelled", "cancelled" }, statuses(recs))
    assert.are.equal("5", recs[1].code)
    assert.is_true(c:expect("JOIN returned"))
    assert.are.equal(130, code)   -- work was cancelled by the interrupt
  end)

  it("a second Ctrl-C cancels the running tasks", function()
    local c = run("drain", "stubborn")
    assert.is_true(c:expect("ready", 2))
    c:signal_group("INT")
    assert.is_true(c:signals_read())
    c:signal_group("INT")
    assert.is_true(c:expect("got-TERM", 2))     -- cancel's termseq reached them
    local code = c:wait()
    no_survivors(c)
    assert.are.equal(130, code)
    local recs = c:records()
    assert.are.same({ "cancelled", "cancelled", "cancelled", "cancelled" }, statuses(recs))
    assert.are.equal("KILL", recs[1].signal)    -- they ignore TERM: the termseq ended with KILL
  end)
end)

describe("Ctrl-C with on_interrupt = forward", function()
  it("sends SIGINT to each running task's group; the pool carries on", function()
    local c = run("forward", "trapint")
    assert.is_true(c:expect("ready", 2))
    c:signal_group("INT")
    local code = c:wait()
    no_survivors(c)
    assert.are.equal(0, code)
    local recs = c:records()
    assert.are.same({ "failed", "failed", "ok", "ok" }, statuses(recs))
    assert.are.equal("7", recs[1].code)
    assert.is_true(c:expect("JOIN returned"))
  end)
end)

describe("signal dispositions", function()
  it("a parent that ignores SIGINT does not make its commands ignore it", function()
    local c = H.start({ "sh", "-c", 'trap "" INT; exec "$0" run "$1"', H.root .. "/scripts/corral",
                        H.root .. "/spec/scripts/killint.lua" })
    local code = c:wait()
    assert.are.equal(0, code)
    assert.is_true(c:expect("signaled INT"))
  end)
end)

for _, start in ipairs { "spawn", "fork", "forkserver" } do
  describe("Ctrl-C with lua tasks (start = " .. start .. ")", function()
    for _, flavour in ipairs { "loop", "execute", "popen" } do
      it("cancel ends " .. flavour .. " tasks and whatever they started", function()
        local m = H.sleep_marker()
        local c = H.run_script("interrupt_lua.lua", "cancel", flavour, start, "m=" .. m)
        assert.is_true(c:expect("ready", 2))
        if flavour ~= "loop" then assert.is_true(H.poll(function() return H.count(m) == 2 end)) end
        c:signal_group("INT")
        local code = c:wait()
        assert.are.equal(130, code)
        assert.are.same({ "cancelled", "cancelled", "cancelled", "cancelled" }, statuses(c:records()))
        assert.are.equal(0, H.count(m))
        H.cleanup(m)
      end)
    end

    it("drain lets running lua tasks return their values", function()
      local c = H.run_script("interrupt_lua.lua", "drain", "finish", start, "m=0")
      assert.is_true(c:expect("ready", 2))
      c:signal_group("INT")
      local code = c:wait()
      local recs = c:records()
      assert.are.same({ "ok", "ok", "cancelled", "cancelled" }, statuses(recs))
      assert.are.equal("5", recs[1].v1)
      assert.are.equal(130, code)
    end)

    it("forward delivers SIGINT to the task's commands; the task sees it", function()
      local m = H.sleep_marker()
      local c = H.run_script("interrupt_lua.lua", "forward", "execute", start, "m=" .. m)
      assert.is_true(c:expect("ready", 2))
      assert.is_true(H.poll(function() return H.count(m) == 2 end))
      c:signal_group("INT")
      assert.is_true(c:expect("ready", 4))           -- the pool carried on with tasks 3 and 4
      assert.is_true(H.poll(function() return H.count(m) == 2 end))
      c:signal_group("INT")
      local code = c:wait()
      assert.are.equal(0, code)
      local recs = c:records()
      assert.are.same({ "ok", "ok", "ok", "ok" }, statuses(recs))
      assert.are.equal("signal", recs[1].v1)
      assert.are.equal("2", recs[1].v2)
      H.cleanup(m)
    end)
  end)
end

-- In this process: a pool blocks INT, TERM and HUP (and reads them from a signalfd) only while
-- it has work, so an idle script keeps its usual Ctrl-C; busy and idle a hundred times, it
-- leaves the mask and the descriptors as it found them.
describe("a pool's signals", function()
  local SIGS = (1 << 1) | (1 << 14) | (1 << 0)     -- INT (2), TERM (15), HUP (1)

  it("are caught while it has work and given back each time it is idle", function()
    local corral = require "corral"
    local p <close> = corral.pool { executor = "lua", size = 1 }
    p:submit(function() end):wait()                  -- its worker started: its fds are there
    local mask0, fds0 = H.sigblk(), H.nfds()
    assert.are.equal(0, mask0 & SIGS)
    for _ = 1, 100 do
      local f = p:submit(function() end)
      assert.are.equal(SIGS, H.sigblk() & SIGS)       -- busy: blocked, read from the signalfd
      f:wait()
      assert.are.equal(mask0, H.sigblk())             -- idle: as before
    end
    assert.are.equal(fds0, H.nfds())                   -- no signalfd left behind
  end)
end)
