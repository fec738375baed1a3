-- What a script sees between submit and wait is true: a lua task starts inside submit (its
-- worker has it at once), its status says "pending" until the worker has begun it and
-- "running" after, its record's start and duration are the worker's own clock readings, a
-- worker killed under it makes it "lost" (never a silent re-run), map fails as soon as any
-- task fails, and corral.sleep lets the pool work while the script sleeps.
local corral = require "corral"
local core = require "corral.core"
local H = require "helpers"
package.path = H.root .. "/spec/fixtures/?.lua;" .. package.path

local tmpname = H.tmpname

-- The script busy for `seconds` without running corral's loop.
local function busy(seconds)
  local t = core.now()
  while core.now() - t < seconds do end
end

describe("a lua task submitted from plain code", function()
  it("starts at submit, and its record's start and duration are the worker's", function()
    local pool <close> = corral.pool { executor = "lua", size = 2 }
    local t0 = core.time()
    local f = pool:submit(function() return require("corral.core").time() end)
    busy(0.6)
    local r = f:wait(10)
    assert.are.equal("ok", r.status)
    local began = r.values[1]
    assert(began - t0 < 0.3, ("the task began %.3f s after submit"):format(began - t0))
    assert(math.abs(r.start - began) < 0.05, ("record start %.3f, task began %.3f"):format(r.start, began))
    assert(r.duration < 0.3, ("duration %.3f s: counted to the parent's read, not the end"):format(r.duration))
  end)

  it("is pending until its worker begins it and running while it runs, with no wait", function()
    local pool <close> = corral.pool { executor = "lua", size = 1 }
    local gate = tmpname()
    local a = pool:submit(function(g) while not io.open(g) do end end, gate)
    local b = pool:submit(function() return 1 end)
    local deadline = core.now() + 10
    while a:status() ~= "running" and core.now() < deadline do end   -- status() alone, no loop
    assert.are.equal("running", a:status())
    assert.are.equal("pending", b:status())
    io.open(gate, "w"):close()
    assert.are.equal(1, b:result(10))
    os.remove(gate)
  end)

  it("whose worker is killed during a blocking sleep of the script is lost, not run again", function()
    local pool <close> = corral.pool { executor = "lua", size = 2 }
    local log = tmpname()
    local f = pool:submit(function(p)
      local h = io.open(p, "a"); h:write("run\n"); h:close()
      while true do end
    end, log)
    os.execute("sleep 0.5")            -- the scenario: a script that blocks, then kills
    assert(core.kill(f.pid, "KILL"))
    local r = assert(f:wait(10))
    assert.are.equal("lost", r.status)
    assert.are.equal("killed by KILL", r.error)
    assert.are.same({ "run" }, H.lines(log))
    os.remove(log)
  end)
end)

describe("a cancel or timeout that comes after the task ended", function()
  -- The script is busy (no loop) while the task ends; its cancel then must not rewrite what
  -- the task did.
  it("has no say in a command's record", function()
    local pool <close> = corral.pool { executor = "exec", size = 1 }
    local f = pool:submit { "true" }
    busy(0.3)                                   -- `true` has exited; the loop has not seen it
    assert.is_false(f:cancel())
    local r = f:wait(10)
    assert.are.equal("ok", r.status)
    assert.are.equal(0, r.code)
  end)

  it("has no say in a lua task's record, and its worker lives on", function()
    local pool <close> = corral.pool { executor = "lua", size = 1 }
    local f = pool:submit(function() return 42, require("corral.core").getpid() end)
    busy(0.3)
    assert.is_false(f:cancel())
    local r = f:wait(10)
    assert.are.equal("ok", r.status)
    assert.are.equal(42, r.values[1])
    local again = pool:submit(function() return require("corral.core").getpid() end)
    assert.are.equal(r.values[2], again:result(10))      -- the same worker: not killed
  end)
end)

describe("a lua task's record names the user's cause, not corral's", function()
  it("a failing init ends the worker's tasks 'error' with init's own error, and never hangs", function()
    local pool <close> = corral.pool { executor = "lua", size = 2, init = "corral_testmod.bad_init" }
    local t0 = core.now()
    local r = pool:submit(function() return 1 end):wait(20)
    assert(r, "the task never ended")
    assert.are.equal("error", r.status)
    assert.matches("^worker init 'corral_testmod.bad_init' failed: .*corral_testmod.lua:%d+: no database at /var/db$", r.error)
    local ok, err = pcall(pool.map, pool, function(x) return x end, { 1, 2, 3 })
    assert.is_false(ok)
    assert.matches("no database at /var/db", tostring(err))
    assert(core.now() - t0 < 10)
  end)

  it("a worker that exits before starting a task ends its tasks 'error', once", function()
    local pool <close> = corral.pool { executor = "lua", size = 1, interpreter = "false" }
    local r = pool:submit(function() return 1 end):wait(20)
    assert(r, "the task never ended")
    assert.are.equal("error", r.status)
    assert.are.equal("the worker ended before it started a task: worker exited with code 1", r.error)
  end)

  it("a missing module is one line; a traceback holds only the task's own frames", function()
    local pool <close> = corral.pool { executor = "lua", size = 1 }
    local r = pool:submit("corral_nosuch.fn"):wait(10)
    assert.are.equal("failed", r.status)
    assert.are.equal("cannot load module 'corral_nosuch' for 'corral_nosuch.fn': module 'corral_nosuch' not found", r.error)
    assert.is_nil(r.traceback)
    r = pool:submit(function(x) local function inner() error("boom " .. x) end inner() end, 3):wait(10)
    assert.are.equal("failed", r.status)
    assert.matches("boom 3", r.error)
    assert.matches("in local 'inner'", r.traceback)
    for _, text in ipairs { r.error, r.traceback } do
      assert.is_nil(text:find("corral/lua/worker", 1, true), text)
      assert.is_nil(text:find("xpcall", 1, true), text)
    end
    local ok, err = pcall(pool.map, pool, function(x) if x == 7 then error("seven") end return x end,
      { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 })
    assert.is_false(ok)
    assert.matches("seven", tostring(err))
    assert.is_nil(tostring(err):find("corral/lua/worker", 1, true), tostring(err))
  end)
end)

describe("map fails fast", function()
  it("on a command pool: the first failure to end raises, the rest are cancelled", function()
    local m = H.sleep_marker()
    local pool <close> = corral.pool { size = 2 }
    local t0 = core.now()
    local ok, e = pcall(pool.map, pool, { "sleep " .. m, "exit 1" })
    assert.is_false(ok)
    assert.are.equal("failed", e.record.status)
    assert(core.now() - t0 < 5, "map raised only after the long task")
    assert.are.equal(0, H.count(m))
  end)

  it("on a lua pool, in the order tasks end, not in list order", function()
    local pool <close> = corral.pool { executor = "lua", size = 2 }
    local t0 = core.now()
    local ok, e = pcall(pool.map, pool, function(x)
      if x == 0 then error("boom") end
      while true do end
    end, { 1, 0 })
    assert.is_false(ok)
    assert.matches("boom", tostring(e))
    assert(core.now() - t0 < 5, "map raised only after the endless task")
  end)
end)

describe("corral.sleep", function()
  it("lets timeouts happen while the script sleeps", function()
    local m = H.sleep_marker()
    local pool <close> = corral.pool { size = 1, timeout = 0.2 }
    local f = pool:submit("sleep " .. m)
    corral.sleep(1.5)
    assert.are.equal("timeout", f:status())
    assert.are.equal(0, H.count(m))
  end)

  it("yields inside corral.go: coroutines sleep at the same time", function()
    local t0, ended = core.now(), 0
    for _ = 1, 3 do corral.go(function() corral.sleep(0.3); ended = ended + 1 end) end
    assert.are.equal(0, ended)
    H.poll(function() return ended == 3 end)
    assert(core.now() - t0 < 0.8, "the coroutines slept one after another")
  end)

  it("refuses a bad duration, naming it", function()
    assert.has_error(function() corral.sleep(-1) end,
      "bad argument #1 to 'sleep' (non-negative number of seconds expected, got -1)")
    assert.has_error(function() corral.sleep("1") end,
      "bad argument #1 to 'sleep' (non-negative number of seconds expected, got string)")
  end)
end)
