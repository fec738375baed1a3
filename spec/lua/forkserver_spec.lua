-- start = "forkserver": workers are forks of one clean server process that loaded the preload
-- modules once; they are the pool owner's children, in their own groups; the server is
-- replaced when it dies and does not outlive the pool.
local corral = require "corral"
local H = require "helpers"

package.path = H.root .. "/spec/fixtures/?.lua;" .. package.path



local function fspool(opts)
  opts.executor, opts.start = "lua", "forkserver"
  return corral.pool(opts)
end

local INFO = function() return require("corral_preload").info() end

describe("lua pool (start = forkserver)", function()
  it("loads the preload modules once, in the server; workers are the owner's children", function()
    local log = os.tmpname()
    local infos = {}
    do
      local pool <close> = fspool { size = 2, maxtasks = 1, preload = { "corral_preload" },
                                    env = { CORRAL_PRELOAD_LOG = log } }
      local fs = {}
      for i = 1, 4 do fs[i] = pool:submit(INFO) end
      for i = 1, 4 do infos[i] = fs[i]:result() end
    end
    local loads = H.lines(log)
    os.remove(log)
    assert.are.equal(1, #loads)
    local server = tonumber(loads[1])
    local seen = {}
    for _, info in ipairs(infos) do
      assert.are.equal(server, info.loaded_by)
      assert.are_not.equal(server, info.pid)
      assert.are.equal(corral.getpid(), info.ppid)   -- CLONE_PARENT: reaped by the owner
      assert.are.equal(info.pid, info.pgid)          -- its own process group
      assert.is_nil(seen[info.pid])
      seen[info.pid] = true
    end
    assert.is_false(H.alive(server))                    -- <close> ended the server
    for pid in pairs(seen) do assert.is_false(H.alive(pid)) end
  end)

  it("no server survives terminate", function()
    local pool = fspool { size = 2, preload = { "corral_preload" } }
    local f = pool:submit(function() while true do end end)
    local info = pool:submit(INFO):result()
    assert.is_true(H.alive(info.loaded_by))
    pool:terminate()
    assert.are.equal("cancelled", f:wait().status)
    assert.is_false(H.alive(info.loaded_by))
  end)

  it("a server that died is replaced on the next fork", function()
    local pool <close> = fspool { size = 1, maxtasks = 1, preload = { "corral_preload" } }
    local first = pool:submit(INFO):result()
    corral.kill(first.loaded_by, "KILL")
    assert.is_true(H.poll(function() return not H.alive(first.loaded_by) end))
    local second = pool:submit(INFO):result()
    assert.are_not.equal(first.loaded_by, second.loaded_by)
    assert.are.equal(corral.getpid(), second.ppid)
  end)

  it("a preload that fails gives tasks status 'error' naming the module", function()
    local pool <close> = fspool { size = 1, preload = { "corral_no_such_module" }, stderr = "null" }
    local r = pool:submit(function() return 1 end):wait()
    assert.are.equal("error", r.status)
    assert.matches("cannot preload 'corral_no_such_module'", r.error, 1, true)
  end)

  it("workers write where the pool's stdout goes", function()
    local out = os.tmpname()
    do
      local pool <close> = fspool { size = 2, stdout = out }
      pool:map(function(x) print("line " .. x); io.stdout:flush() end, { 1, 2, 3 })
    end
    local got = H.lines(out)
    os.remove(out)
    table.sort(got)
    assert.are.same({ "line 1", "line 2", "line 3" }, got)
  end)

  it("checks preload: a list of module names, only with start = forkserver", function()
    assert.has_error(function() fspool { preload = "corral_preload" } end,
      "bad option 'preload' to 'pool' (list of module names expected, got string)")
    assert.has_error(function() fspool { preload = { "ok", 3 } } end,
      "bad option 'preload' to 'pool' (module name expected at [2], got 3)")
    assert.has_error(function()
      corral.pool { executor = "lua", start = "spawn", preload = { "corral_preload" } }
    end, "bad option 'preload' to 'pool' (only used with start = \"forkserver\")")
  end)
end)
