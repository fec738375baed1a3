-- The study's matrix: process role (the script, an idle worker, a busy worker) x signal
-- (INT, TERM, KILL) x task type (pure Lua, os.execute, io.popen, exec, shell). Each cell is
-- one test; docs/semantics.md quotes their names.
local corral = require "corral"
local core = require "corral.core"
local H = require "helpers"

local TYPES = { "lua_pure", "lua_execute", "lua_popen", "exec", "shell" }
local MARKED = { lua_execute = true, lua_popen = true, exec = true, shell = true }


-- short: sleeps of about 0.6 s (sleep adds up its arguments; the marker stays one of them).
local function start(pool, kind, m, short)
  if kind == "exec" then return pool:submit { "sleep", m } end
  if kind == "shell" then
    local mark = short and ("0.000" .. m:gsub("%.", "")) or m
    local d = short and ("0.6 " .. mark) or m
    return pool:submit(("sleep %s & sleep %s; wait"):format(d, d)), mark
  end
  if kind == "lua_pure" then return H.spin(pool) end
  if kind == "lua_execute" then return pool:submit(function(mk) os.execute("sleep " .. mk) end, m) end
  return pool:submit(function(mk) local p = io.popen("sleep " .. mk); p:read("a") end, m)
end

local function pool_for(kind)
  local executor = ({ exec = "exec", shell = "shell" })[kind] or "lua"
  return corral.pool { executor = executor, size = 1 }
end

local function running(f, kind, m)
  assert.is_true(H.poll(function() return f:status() == "running" end))
  if MARKED[kind] then
    local want = kind == "shell" and 2 or 1
    assert.is_true(H.poll(function() return H.count(m) == want end))
  end
end

describe("matrix: the script (parent) gets", function()
  for _, sig in ipairs { "INT", "TERM", "KILL" } do
    for _, kind in ipairs(TYPES) do
      local want = ({ INT = "cancelled, exit 130", TERM = "cancelled, exit 143",
                      KILL = "nothing survives (lifeline)" })[sig]
      it(sig .. " with a " .. kind .. " task: " .. want, function()
        local m = H.sleep_marker()
        local c = H.run_script("matrix.lua", kind, "m=" .. m)
        assert.is_true(c:expect("ready", 1, 10))
        local pid
        for _, l in ipairs(c.lines) do pid = pid or tonumber(l:match("^PID (%d+)")) end
        if MARKED[kind] then
          assert.is_true(H.poll(function() return H.count(m) == (kind == "shell" and 2 or 1) end))
        end
        if sig == "KILL" then core.kill(c.pid, "KILL") else c:signal_group(sig) end
        local code = c:wait()
        if sig ~= "KILL" then
          assert.are.equal(sig == "INT" and 130 or 143, code)
          assert.is_true(c:expect("REC status=cancelled", 1, 1))
        end
        assert.is_true(H.poll(function() return not H.alive(pid) and H.count(m) == 0 end, 1),
          "survivors after 1 s")
        H.cleanup(m)
      end)
    end
  end
end)

describe("matrix: a busy worker (the task's own process) gets", function()
  for _, sig in ipairs { "INT", "TERM", "KILL" } do
    for _, kind in ipairs(TYPES) do
      local lua = kind:match("^lua")
      local ignores = sig == "INT" and kind == "lua_execute"
      local defers = sig == "INT" and kind == "shell"
      local want = ignores and "ignored while os.execute runs (C's system()); the task goes on"
        or defers and "'signaled' INT once its foreground job ends (sh waits, then acts)"
        or lua and ("'lost' (killed by " .. sig .. ")") or ("'signaled' " .. sig)
      it(sig .. " with a " .. kind .. " task: " .. want .. ", nothing left behind", function()
        local m = H.sleep_marker()
        local pool <close> = pool_for(kind)
        local f, marker = start(pool, kind, m, defers)
        m = marker or m
        running(f, kind, m)
        local pid = f.pid
        core.kill(pid, sig)
        if ignores then
          assert.is_nil(f:wait(0.3))           -- still running
          assert.is_true(H.alive(pid))
          f:cancel()
          assert.are.equal("cancelled", f:wait().status)
        else
          local r = f:wait()
          if lua then
            assert.are.equal("lost", r.status)
            assert.are.equal("killed by " .. sig, r.error)
          else
            assert.are.equal("signaled", r.status)
            assert.are.equal(sig, r.signal)
            if defers then assert.is_true(r.duration > 0.5) end
          end
        end
        assert.is_true(H.poll(function() return not H.alive(pid) and H.count(m) == 0 end, 1))
        if lua then assert.are.equal(7, pool:submit(function() return 7 end):result()) end
        H.cleanup(m)
      end)
    end
  end
end)

describe("matrix: an idle lua worker gets", function()
  for _, sig in ipairs { "INT", "TERM", "KILL" } do
    it(sig .. ": it dies, no record changes, the next task gets a new worker", function()
      local pool <close> = corral.pool { executor = "lua", size = 1 }
      local first = pool:submit(function() return require("corral.core").getpid() end)
      local wpid = first:result()
      core.kill(wpid, sig)
      assert.is_true(H.poll(function() return not H.alive(wpid) end))
      assert.are.equal("ok", first.record.status)
      local again = pool:submit(function() return require("corral.core").getpid() end):result()
      assert.are_not.equal(wpid, again)
    end)
  end
end)
