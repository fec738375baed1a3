-- Lua tasks sent ahead to a busy worker (pipelining) keep exact records: a queued task is
-- pending until its worker starts it, a cancelled one never runs, one whose worker dies runs
-- elsewhere, and its timeout counts from its own start.
local corral = require "corral"
local H = require "helpers"

local tmpname = H.tmpname

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

describe("pipelined lua tasks", function()
  it("a queued task is pending; cancelled, it never runs and the worker carries on", function()
    local pool <close> = corral.pool { executor = "lua", size = 1 }
    local gate = tmpname()
    local a = pool:submit(function(g)
      while not io.open(g) do os.execute("sleep 0.01") end
      return require("corral").getpid()
    end, gate)
    local mark = tmpname()
    local b = pool:submit(function(p) io.open(p, "w"):close() end, mark)
    assert.is_true(H.poll(function() return a:status() == "running" end))
    assert.are.equal("pending", b:status())
    assert.is_true(b:cancel())
    io.open(gate, "w"):close()
    local ra, rb = a:wait(), b:wait()
    assert.are.equal("ok", ra.status)
    assert.are.equal("cancelled", rb.status)
    assert.is_false(exists(mark))
    local pid = pool:submit(function() return require("corral").getpid() end):result()
    assert.are.equal(ra.values[1], pid)            -- the same worker: nothing was killed
    os.remove(gate)
  end)

  it("tasks queued behind a task whose worker dies run on a new worker", function()
    local pool <close> = corral.pool { executor = "lua", size = 1 }
    local a = H.spin(pool)
    local rest = {}
    for i = 1, 5 do rest[i] = pool:submit(function(x) return x * 10 end, i) end
    assert.are.equal("running", a:status())
    corral.kill(a.pid, "KILL")
    assert.are.equal("lost", a:wait().status)
    for i = 1, 5 do
      local r = rest[i]:wait()
      assert.are.equal("ok", r.status)
      assert.are.equal(i * 10, r.values[1])
      assert.are.equal(1, r.attempt)
    end
  end)

  it("a queued task's record and journal start when its worker starts it", function()
    local log = tmpname()
    local pool <close> = corral.pool { executor = "lua", size = 1, joblog = log }
    local gate = tmpname()
    local a = pool:submit(function(g)
      repeat os.execute("sleep 0.05") until io.open(g)
    end, gate)
    local b = pool:submit(function() return true end)
    assert.is_true(H.poll(function() return a:status() == "running" end))
    assert.are.equal("pending", b:status())
    io.open(gate, "w"):close()
    local ra, rb = a:wait(), b:wait()
    assert.is_true(ra.duration >= 0.05)
    -- b was handed to the worker with a, but began only after a ended
    assert.is_true(rb.start >= ra.start + ra.duration - 0.005,
      ("b started %.3f s after a, which ran %.3f s"):format(rb.start - ra.start, ra.duration))
    pool:join()
    local starts = {}
    for _, l in ipairs(H.lines(log)) do
      local ev = require("cjson").decode(l)
      if ev.event == "start" then starts[ev.id] = ev.start end
    end
    -- the journal's numbers have 14 digits (lua-cjson): 0.1 ms for epoch seconds
    assert.is_true(math.abs(starts[a.id] - ra.start) < 1e-3)
    assert.is_true(math.abs(starts[b.id] - rb.start) < 1e-3)
    os.remove(gate); os.remove(log)
  end)

  it("a queued task's timeout counts from its own start", function()
    -- Each runs 0.7 s; the second is sent at once and waits 0.7 s in the worker: counted from
    -- its hand-off it would time out at 1.1 s, before it ends at 1.4 s.
    local pool <close> = corral.pool { executor = "lua", size = 1, timeout = 1.1 }
    local fs = {}
    for i = 1, 3 do fs[i] = pool:submit(function() os.execute("sleep 0.7") return true end) end
    for i = 1, 3 do assert.are.equal("ok", fs[i]:wait().status) end
  end)

  it("long tasks are not queued behind each other while a worker is idle", function()
    local pool <close> = corral.pool { executor = "lua", size = 2 }
    local function busy(s) local t = os.time() + 0.0; os.execute("sleep " .. s) return t end
    pool:map(busy, { 0.02, 0.02, 0.02, 0.02 })     -- the pool learns its tasks are long
    local gate = tmpname()
    local a = pool:submit(function(g)
      while not io.open(g) do os.execute("sleep 0.01") end
      return true
    end, gate)
    local b = pool:submit(busy, 0.05)
    local c = pool:submit(busy, 0.05)
    -- c waits in the pool, not behind a: it runs when b's worker is free, a still blocked.
    local c_done = H.poll(function() return c:done() end, 5)
    local a_status = a:status()
    io.open(gate, "w"):close()                       -- a ends whatever the outcome
    assert.is_true(c_done)
    assert.are.equal("running", a_status)
    assert.are.equal("ok", a:wait().status)
    assert.are.equal("ok", b:wait().status)
    os.remove(gate)
  end)
end)
