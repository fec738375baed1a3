-- Lua-function pools, for every start method: values cross losslessly, errors and worker
-- deaths give precise records, cancel/timeout/terminate leave nothing behind.
local corral = require "corral"
local H = require "helpers"

package.path = H.root .. "/spec/fixtures/?.lua;" .. package.path

for _, start in ipairs { "spawn", "fork", "forkserver" } do
  local function lpool(opts)
    opts = opts or {}
    opts.executor, opts.start = "lua", start
    opts.size = opts.size or 2
    return corral.pool(opts)
  end

  describe("lua pool (start = " .. start .. ")", function()
    it("round-trips values: integers stay integers, floats exact, nils counted", function()
      local pool <close> = lpool()
      H.roundtrip(pool)
    end)

    it("result returns the task's values; map returns first values in order", function()
      local pool <close> = lpool()
      assert.are.equal(49, pool:submit(function(x) return x * x end, 7):result())
      assert.are.same({ 1, 4, 9 }, pool:map("corral_testmod.square", { 1, 2, 3 }))
    end)

    it("refuses a function with upvalues at submit, naming it", function()
      local pool <close> = lpool()
      local up = 1
      assert.has_error(function() pool:submit(function() return up end) end,
        "bad argument to 'submit' (cannot encode function with upvalue 'up' at fn)")
      assert.has_error(function() pool:submit(print, { cb = io.stdout }) end)
    end)

    it("a raised error gives 'failed' with message and traceback; a table error stays a table", function()
      local pool <close> = lpool()
      local r = pool:submit(function() error("bad thing") end):wait()
      assert.are.equal("failed", r.status)
      assert.matches("bad thing", r.error)
      assert.matches("stack traceback", r.error)
      local t = pool:submit("corral_testmod.boom"):wait()
      assert.are.equal("failed", t.status)
      assert.are.same({ code = 42, why = "table error" }, t.error)
    end)

    it("values that cannot be sent back give 'failed' with the path; the worker carries on", function()
      local pool <close> = lpool { size = 1 }
      local r = pool:submit(function() return 1, { f = io.stdout } end):wait()
      assert.are.equal("failed", r.status)
      assert.matches("values%[2%]%.f", r.error)
      assert.are.equal(5, pool:submit(function() return 5 end):result())
    end)

    it("a worker SIGKILLed mid-task: 'lost', a new worker takes over, map raises", function()
      local pool <close> = lpool { size = 2 }
      local victim = H.spin(pool)
      assert.are.equal("running", victim:status())
      corral.kill(victim.pid, "KILL")
      local r = victim:wait()
      assert.are.equal("lost", r.status)
      assert.are.equal("killed by KILL", r.error)
      assert.are.equal(9, pool:submit(function() return 9 end):result())
      local ok, e = pcall(pool.map, pool, function(x)
        if x == 2 then os.exit(3) end
        return x
      end, { 1, 2, 3 })
      assert.is_false(ok)
      assert.are.equal("lost", e.record.status)
      assert.are.equal("worker exited with code 3", e.record.error)
      assert.are.same({ 1, 4 }, pool:map("corral_testmod.square", { 1, 2 }))
    end)

    for _, how in ipairs { "cancel", "timeout", "terminate" } do
      it("commands started with os.execute and io.popen die with their worker on " .. how, function()
        local m = H.sleep_marker()
        local pool = lpool { size = 2, timeout = how == "timeout" and 0.5 or nil }
        local fs = {
          pool:submit(function(mk) os.execute("sleep " .. mk) end, m),
          pool:submit(function(mk) local p = io.popen("sleep " .. mk); p:read("a") end, m),
        }
        if how ~= "timeout" then
          assert.is_true(H.poll(function() return H.count(m) == 2 end))
        end
        if how == "cancel" then
          for _, f in ipairs(fs) do assert.is_true(f:cancel()) end
        elseif how == "terminate" then
          pool:terminate()
        end
        local want = ({ cancel = "cancelled", timeout = "timeout", terminate = "cancelled" })[how]
        for _, f in ipairs(fs) do assert.are.equal(want, f:wait().status) end
        assert.are.equal(0, H.count(m))
        pool:terminate()
        H.cleanup(m)
      end)
    end

    it("a task timeout ends the worker's group: status 'timeout'", function()
      local m = H.sleep_marker()
      local pool <close> = lpool { size = 1, timeout = 0.3 }
      local r = pool:submit(function(mk) os.execute("sleep " .. mk) end, m):wait()
      assert.are.equal("timeout", r.status)
      assert.are.equal(0, H.count(m))
      assert.are.equal(3, pool:submit(function() return 3 end):result())
    end)

    it("maxtasks replaces a worker after N tasks", function()
      local pool <close> = lpool { size = 1, maxtasks = 2 }
      local pids = pool:map("corral_testmod.pid", { 1, 2, 3, 4, 5, 6 })
      assert.are.equal(pids[1], pids[2])
      assert.are.equal(pids[3], pids[4])
      assert.are_not.equal(pids[2], pids[3])
      assert.are_not.equal(pids[4], pids[5])
    end)

    it("init runs once in each new worker", function()
      local pool <close> = lpool { size = 1, maxtasks = 3, init = "corral_testmod.init" }
      assert.are.same({ 1, 1, 1, 1 }, pool:map(function() return require("corral_testmod").inits() end, { 1, 2, 3, 4 }))
    end)

    it("leaves no worker behind after <close>", function()
      local pids
      do
        local pool <close> = lpool { size = 2 }
        pids = pool:map("corral_testmod.pid", { 1, 2, 3, 4 })
      end
      for _, pid in ipairs(pids) do
        assert.is_nil(io.open("/proc/" .. pid .. "/cmdline") and (io.open("/proc/" .. pid .. "/stat"):read("a"):match("^%d+ %b() [^Z]")))
      end
    end)
  end)
end

describe("lua pool at volume", function()
  -- A worker per task: what maxtasks = 1 churns through must not leak. 300 forked workers, and
  -- the parent's descriptors counted before and after (a leak of even one fd per worker would
  -- show; 2000 tasks used to stand in for that, by running out of fds, at ~50 s a run).
  it("300 tasks with maxtasks = 1 complete, and leave no descriptor behind", function()
    local before
    do
      local pool <close> = corral.pool { executor = "lua", size = 2, maxtasks = 1, start = "fork" }
      pool:submit(function() return 1 end):wait()
      before = H.nfds()
      local n = 0
      for _, v in pool:imap_unordered(function(x) return x end, (function()
        local t = {}
        for i = 1, 300 do t[i] = i end
        return t
      end)()) do n = n + v end
      assert.are.equal(300 * 301 // 2, n)
      assert.is_true(H.nfds() <= before, "descriptors: " .. before .. " before, " .. H.nfds() .. " after")
    end
  end)
end)
