-- Slurm agents under faults, on the throwaway 3-node cluster (scripts/run-specs.sh): a node
-- drained or set down while the pool works, an agent killed in the middle of a frame, and a
-- lua task cancelled while it waits in an agent's worker pipeline.
local core = require "corral.core"
local corral = require "corral"
local H = require "helpers"

package.path = H.root .. "/spec/fixtures/?.lua;" .. package.path

local REASON = H.slurm_skip_reason()
local function skip() if REASON then pending(REASON) end end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

-- every node back in service, and idle, for the tests that follow
local function resume(nodes)
  for _, n in ipairs(nodes) do sh("scontrol update nodename=" .. n .. " state=resume") end
  assert.is_true(H.poll(function()
    return select(2, sh("sinfo -h -N -t idle -o %N"):gsub("%S+", "")) == 3
  end, 15))
end

-- A pool ended by terminate() whatever happens (a failed assertion must not leave a <close>
-- joining tasks that wait for a file the test would have made), then after(): busted keeps
-- only the last finally() of a test, so this is the test's one.
local function open(o, after)
  finally(function() if after then after() end end)
  local pool = corral.pool(o)
  finally(function() pool:terminate(); if after then after() end end)
  return pool
end

local function steps_on(node)
  return select(2, sh("squeue -h -s -o %N"):gsub(node, ""))
end

local function all_running(fs)
  return H.poll(function()
    for _, f in ipairs(fs) do if f:status() ~= "running" then return false end end
    return true
  end, 20)
end

describe("slurm agents: a node", function()
  it("drained: its running tasks finish, no new task goes there, then its agent leaves; all drained: a clear error", function()
    skip()
    local flag = os.tmpname(); os.remove(flag)
    local drained = {}
    local j
    do
      local pool = open({ launcher = "slurm", size = 3, slurm = { agents = true, nodes = 3, heartbeat = 0.3 } },
                        function() os.remove(flag); resume(drained) end)
      j = pool.slurm.jobid
      local wait = ("while [ ! -e %s ]; do sleep 0.02; done; echo $SLURMD_NODENAME"):format(flag)
      local fs = {}
      for i = 1, 3 do fs[i] = pool:submit(wait) end            -- one a node: every CPU busy
      assert.is_true(all_running(fs))
      local queued = pool:submit("echo $SLURMD_NODENAME")
      local a = fs[1].handle.agent
      local victim = a.node
      drained[1] = victim
      sh("scontrol update nodename=" .. victim .. " state=drain reason=corral-spec")
      assert.is_true(H.poll(function() return a.retired ~= nil end, 5))
      assert.are.equal("agent on node " .. victim .. " left: node draining in Slurm (reason: corral-spec)", a.retired)
      assert.are.equal("pending", queued:status())
      io.open(flag, "w"):close()
      -- what ran there finishes as usual; the task that waited runs elsewhere
      local r = fs[1]:wait(10)
      assert.are.same({ "ok", victim .. "\n" }, { r.status, r.stdout })
      r = queued:wait(10)
      assert.are.equal("ok", r.status)
      assert.are_not.equal(victim, r.host)
      for i = 2, 3 do assert.are.equal("ok", fs[i]:wait(10).status) end
      -- its agent has exited: no step of the pool is left on the drained node
      assert.is_true(H.poll(function() return a.proc.finished end, 5))
      assert.is_false(a.dead and a.cause:find("no word") ~= nil)
      assert.is_true(H.poll(function() return steps_on(victim) == 0 end, 5))
      -- every node drained: a task is a record with status "error" that says why
      for _, x in ipairs(pool.agents.list) do drained[#drained + 1] = x.node end
      for i = 2, #drained do sh("scontrol update nodename=" .. drained[i] .. " state=drain reason=corral-spec") end
      assert.is_true(H.poll(function() return #pool.agents.list == 0 end, 5))
      r = pool:submit("true"):wait(10)
      assert.are.equal("error", r.status)
      assert.matches("^no Slurm agent left: agent on node %S+ left: node drain%a* in Slurm %(reason: corral%-spec%)$", r.error)
      pool:terminate()
    end
    assert.is_true(H.poll(function() return not H.live_jobs()[j] end, 10))
  end)

  it("set down: its running tasks are 'lost' with the cause, the pool goes on, nothing is left", function()
    skip()
    local m = H.sleep_marker()
    local victim
    local j
    do
      local pool = open({ launcher = "slurm", size = 6, slurm = { agents = true, nodes = 3, heartbeat = 0.3 } },
                        function() H.cleanup(m); if victim then resume { victim } end end)
      j = pool.slurm.jobid
      local fs = {}
      for i = 1, 5 do fs[i] = pool:submit(("sleep %s & sleep %s"):format(m, m)) end
      assert.is_true(all_running(fs))
      victim = fs[1].handle.agent.node
      local on = {}
      for i, f in ipairs(fs) do on[i] = f.handle.agent.node end
      local t0 = core.now()
      sh("scontrol update nodename=" .. victim .. " state=down reason=corral-spec")
      for i, f in ipairs(fs) do
        if on[i] == victim then
          local r = f:wait(10)
          assert.are.equal("lost", r.status)
          -- srun's own word (the step cancelled by slurmctld), or the pool's ask of sinfo
          assert.matches("^agent on node " .. victim .. " lost: ", r.error)
          assert.is_truthy(r.error:find("Node failure on " .. victim, 1, true)
                           or r.error:find("node down in Slurm (reason: corral-spec)", 1, true), r.error)
        end
      end
      assert.is_true(core.now() - t0 < 5)
      -- the pool goes on with the other nodes (their CPUs freed first: Slurm may have given
      -- the victim most of them)
      for i, f in ipairs(fs) do
        if on[i] ~= victim then
          assert.is_true(f:cancel())
          assert.are.equal("cancelled", f:wait(10).status)
        end
      end
      local r = pool:submit("echo $SLURMD_NODENAME"):wait(10)
      assert.are.equal("ok", r.status)
      assert.are_not.equal(victim, r.host)
      pool:terminate()
    end
    assert.is_true(H.poll(function() return not H.live_jobs()[j] end, 10))
    assert.is_true(H.poll(function() return H.count(m) == 0 end, 5))
  end)
end)

-- /proc/PID/syscall: its first field is the number of the call it is blocked in (1: write, x86-64)
local function blocked_in_write(pid)
  local h = io.open("/proc/" .. pid .. "/syscall")
  if not h then return false end
  local s = h:read("a") or ""
  h:close()
  return s:match("^(%d+)") == "1"
end

describe("slurm agents: a short heartbeat", function()
  it("does not lose agents still starting (srun, slurmstepd, lua5.4 take longer than 3 beats)", function()
    skip()
    -- an interpreter that takes 1 s to start: 10 heartbeats before the agents' hello
    local slow = os.tmpname()
    local h = assert(io.open(slow, "w"))
    h:write('#!/bin/sh\nsleep 1\nexec lua5.4 "$@"\n'); h:close()
    assert(os.execute("chmod +x " .. slow))
    local pool = open({ executor = "lua", launcher = "slurm", size = 3, interpreter = slow,
                        slurm = { agents = true, nodes = 3, heartbeat = 0.1 } }, function() os.remove(slow) end)
    local fs = {}
    for i = 1, 3 do fs[i] = pool:submit(function() return os.getenv("SLURMD_NODENAME") end) end
    for i = 1, 3 do assert.are.equal("ok", fs[i]:wait(10).status) end
    assert.are.equal(3, #pool.agents.list)
  end)
end)

describe("slurm agents: a frame cut by a dying agent", function()
  it("its running tasks are 'lost' with the cause, the pool goes on, nothing is left", function()
    skip()
    local m = H.sleep_marker()
    local j
    do
      local pool = open({ launcher = "slurm", size = 4, slurm = { agents = true, nodes = 2,
        heartbeat = 30, extra = { "--ntasks-per-node=2" } } }, function() H.cleanup(m) end)
      j = pool.slurm.jobid
      local fs = {}
      for i = 1, 2 do fs[i] = pool:submit("exec sleep " .. m) end   -- one on each agent
      assert.is_true(all_running(fs))
      local a = fs[1].handle.agent
      assert.are_not.equal(a, fs[2].handle.agent)
      assert.is_number(a.pid)
      -- 32 MB of output while the agent's srun is stopped: its end frame fills the pipe to
      -- slurmstepd and the loopback TCP between slurmstepd and srun (autotuned to several MB;
      -- a running srun would keep reading into buffers of its own) and the agent blocks in
      -- write. Under ASan the agent takes a while to gather 32 MB: the wait allows for it.
      local big = pool:submit("sleep 2; exec head -c 33554432 /dev/zero")
      assert.are.equal(a, big.handle.agent)                  -- a tie: the first agent, fs[1]'s
      assert.is_true(H.poll(function() return big:status() == "running" end, 30))
      local srun = a.proc.pid                                -- the task has reached the agent
      core.kill(srun, "STOP")
      local deadline = core.now() + 90
      while not blocked_in_write(a.pid) and core.now() < deadline do os.execute("sleep 0.05") end
      local blocked = blocked_in_write(a.pid)
      core.kill(a.pid, "KILL")
      core.kill(srun, "CONT")
      assert.is_true(blocked)
      local r = big:wait(10)
      assert.are.equal("lost", r.status)
      assert.matches("^agent on node " .. a.node .. " lost: .*a frame from it cut short %(%d+ of %d+ bytes came%)", r.error)
      r = fs[1]:wait(10)
      assert.are.equal("lost", r.status)
      assert.matches("a frame from it cut short", r.error, 1, true)
      -- the pool goes on with the other agent; nothing of the dead one's tasks is left
      assert.are.equal("running", fs[2]:status())
      assert.is_true(H.poll(function() return H.count(m) == 1 end, 5))
      r = pool:submit("echo $SLURMD_NODENAME"):wait(10)
      assert.are.equal("ok", r.status)
      assert.are_not.equal(a.node, r.host)
      assert.is_true(fs[2]:cancel())
      pool:terminate()
    end
    assert.is_true(H.poll(function() return not H.live_jobs()[j] end, 10))
    assert.are.equal(0, H.count(m))
  end)
end)

describe("slurm agents: cancel", function()
  -- As locally (spec/lua/pipeline_spec): a task its worker has not started is pending, and
  -- cancelled it never runs, and the worker carries on.
  it("of a lua task sent ahead into an agent's worker (not started): it never runs, the worker carries on", function()
    skip()
    local pool = corral.pool { executor = "lua", launcher = "slurm", size = 1,
                               init = "corral_testmod.hold_init", slurm = { agents = true, nodes = 1 } }
    local go = ("/tmp/corral-spec-go.%s.%d"):format(pool.agents.list[1].node, pool.slurm.jobid)
    finally(function() pool:terminate(); os.remove(go); os.remove(go .. ".ready") end)
    local mark = os.tmpname(); os.remove(mark)
    local f = pool:submit(function(p) io.open(p, "w"):close() end, mark)
    -- the agent has handed it to its new worker, which holds in init: sent, not started
    assert.is_true(H.poll(function() return io.open(go .. ".ready") ~= nil end, 20))
    assert.are.equal("pending", f:status())
    assert.is_true(f:cancel())
    assert.is_false(f:cancel())                    -- once is enough (a second cancel does nothing)
    io.open(go, "w"):close()
    local r = f:wait(10)
    assert.are.same({ "cancelled", "cancelled", 0 }, { r.status, r.error, r.attempt })
    assert.is_nil(io.open(mark))
    local h = io.open(go .. ".ready")
    local pid = tonumber(h:read("a")); h:close()
    assert.are.equal(pid, pool:submit(function() return require("corral.core").getpid() end):result())
  end)
end)
