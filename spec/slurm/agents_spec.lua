-- slurm = { agents = true } on the throwaway 3-node cluster (scripts/run-specs.sh): the
-- launcher cases through agents, tasks spread over the nodes, a node dying mid-run, lua tasks.
local core = require "corral.core"
local corral = require "corral"
local H = require "helpers"

package.path = H.root .. "/spec/fixtures/?.lua;" .. package.path

local REASON = H.slurm_skip_reason()
local function skip() if REASON then pending(REASON) end end

local function nodes()
  local t = {}
  local p = io.popen("sinfo -h -N -o %N 2>/dev/null")
  for l in p:lines() do t[#t + 1] = l end
  p:close()
  return t
end

local live_jobs = H.live_jobs

local function with_agents(o)
  o.slurm = o.slurm or {}
  o.slurm.agents = true
  o.slurm.nodes = o.slurm.nodes or math.min(3, o.size)
end

assert(loadfile(H.root .. "/spec/launcher_cases.lua", "t", _ENV))()("slurm", {
  skip = skip, size = 6, options = with_agents })

describe("slurm agents", function()
  it("spread the tasks over the nodes (record.host) and keep the allocation to the pool", function()
    skip()
    local all = nodes()
    assert.are.equal(3, #all)
    local j
    do
      local pool <close> = corral.pool { launcher = "slurm", size = 6, slurm = { agents = true, nodes = 3 } }
      j = pool.slurm.jobid
      -- 3 tasks on 6 CPUs: each goes to the agent with the smallest share in use, one a node
      local fs = {}
      for i = 1, 3 do fs[i] = pool:submit("sleep 0.3; echo $SLURMD_NODENAME") end
      local seen = {}
      for i = 1, 3 do
        local r = fs[i]:wait()
        assert.are.equal("ok", r.status)
        assert.are.equal(r.host .. "\n", r.stdout)
        seen[r.host] = true
      end
      for _, n in ipairs(all) do assert.is_true(seen[n], n) end
    end
    assert.is_true(H.poll(function() return not live_jobs()[j] end, 10))
  end)

  it("a node killed mid-run: its tasks are 'lost' with the cause, the pool goes on, nothing is left", function()
    skip()
    local dir = os.getenv("SLURM_CONF"):match("^(.*)/[^/]*$")
    local m = H.sleep_marker()
    local victim
    finally(function()
      if victim then os.execute(H.root .. "/scripts/slurm-local.sh start-node " .. dir .. " " .. victim) end
      H.cleanup(m)
    end)
    local pool = corral.pool { launcher = "slurm", size = 6, slurm = { agents = true, nodes = 3, heartbeat = 0.3 } }
    local fs = {}
    for i = 1, 5 do fs[i] = pool:submit(("sleep %s & sleep %s"):format(m, m)) end   -- a CPU left
    assert.is_true(H.poll(function() return H.count(m) == 10 end, 20))
    -- running once the pool has read each START (it may trail the processes by a frame's trip)
    assert.is_true(H.poll(function()
      for _, f in ipairs(fs) do if f:status() ~= "running" then return false end end
      return true
    end))
    local on = {}
    for i, f in ipairs(fs) do on[i] = f.handle.agent.node end
    victim = on[2]
    local t0 = core.now()
    assert.is_true(os.execute(H.root .. "/scripts/slurm-local.sh kill-node " .. dir .. " " .. victim))
    local nlost = 0
    for i, f in ipairs(fs) do
      if on[i] == victim then
        local r = f:wait(10)
        assert.are.equal("lost", r.status)
        assert.matches("agent on node " .. victim .. " lost: ", r.error, 1, true)
        nlost = nlost + 1
      end
    end
    assert.is_true(nlost >= 1)
    assert.is_true(core.now() - t0 < 5)
    -- the pool goes on with the other nodes
    local r = pool:submit("echo $SLURMD_NODENAME"):wait(10)
    assert.are.equal("ok", r.status)
    assert.are_not.equal(victim, r.host)
    pool:terminate()
    assert.are.equal(0, H.count(m))
    for _, f in ipairs(fs) do assert.is_true(f:done()) end
    -- the node comes back for the specs that follow
    assert.is_true(os.execute(H.root .. "/scripts/slurm-local.sh start-node " .. dir .. " " .. victim))
    victim = nil
    assert.is_true(H.poll(function()
      local p = io.popen("sinfo -h -N -t idle -o %N")
      local n = select(2, p:read("a"):gsub("%S+", ""))
      p:close()
      return n == 3
    end, 15))
  end)

  it("an agent whose pool end is gone (its stdin closed) ends what it started with the termseq", function()
    skip()
    local m = H.sleep_marker()
    -- heartbeat 30: the agent's next write (SIGPIPE) comes too late to be what ends the trees
    local pool <close> = corral.pool { launcher = "slurm", size = 2, slurm = { agents = true, nodes = 1, heartbeat = 30 } }
    local a, b = pool:submit(("sleep %s & sleep %s"):format(m, m)), pool:submit("exec sleep " .. m)
    assert.is_true(H.poll(function() return H.count(m) == 3 end, 20))
    local agent = a.handle.agent
    core.close(agent.wfd)                  -- srun passes the EOF on to the agent's stdin
    agent.wfd = nil
    assert.is_true(H.poll(function() return H.count(m) == 0 end, 5))
    -- its way back still works here: the agent reports what its TERM did
    assert.are.same({ "signaled", "TERM" }, { a:wait(10).status, a:wait().signal })
    assert.are.same({ "signaled", "TERM" }, { b:wait(10).status, b:wait().signal })
    H.cleanup(m)
  end)

  it("srun SIGKILLed: its tasks are 'lost', nothing is left", function()
    skip()
    local m = H.sleep_marker()
    local pool <close> = corral.pool { launcher = "slurm", size = 1, slurm = { agents = true, nodes = 1 } }
    local a = pool:submit(("sleep %s & sleep %s"):format(m, m))
    assert.is_true(H.poll(function() return H.count(m) == 2 end, 20))
    core.kill(a.handle.agent.proc.pid, "KILL")
    local r = a:wait(10)
    assert.are.equal("lost", r.status)
    assert.matches("lost: srun killed by KILL", r.error, 1, true)
    assert.is_true(H.poll(function() return H.count(m) == 0 end, 5))
    H.cleanup(m)
  end)

  it("are the default; no allocation to start them in: corral.pool raises with the reason", function()
    skip()
    local ok, e = pcall(corral.pool, { launcher = "slurm", size = 1, slurm = { jobid = 999999 } })
    assert.is_false(ok)
    assert.matches("cannot start the Slurm agents: scontrol show job failed", e, 1, true)
  end)

  it("an agent that cannot start (bad interpreter on the node): a record with status 'error' and why", function()
    skip()
    local pool <close> = corral.pool { executor = "lua", launcher = "slurm", size = 1,
                                       interpreter = "/no/such/lua5.4", slurm = { agents = true } }
    local r = pool:submit(function() end):wait(10)
    assert.are.equal("error", r.status)
    assert.matches("^no Slurm agent left: agent on node %S+ lost: srun exited with code 127$", r.error)
  end)

  it("stdin 'inherit' is a record with status 'error' and why; a path is read on the node", function()
    skip()
    local pool <close> = corral.pool { launcher = "slurm", size = 1, slurm = { agents = true } }
    local r = pool:submit("cat", { stdin = "inherit" }):wait()
    assert.are.equal("error", r.status)
    assert.are.equal('stdin "inherit" is not available with Slurm agents (a path is, or agents = false)', r.error)
    local path = os.tmpname()
    local fh = assert(io.open(path, "w")); fh:write("from a file\n"); fh:close()
    r = pool:submit("cat", { stdin = path }):wait()
    os.remove(path)
    assert.are.equal("from a file\n", r.stdout)
  end)

  it("run lua tasks: values, errors with traceback, a worker killed gives 'lost'", function()
    skip()
    local pool <close> = corral.pool { executor = "lua", launcher = "slurm", size = 3,
                                       slurm = { agents = true, nodes = 3 } }
    H.roundtrip(pool)
    assert.are.same({ 1, 4, 9 }, pool:map("corral_testmod.square", { 1, 2, 3 }))
    local r = pool:submit(function() error("bad thing") end):wait()
    assert.are.equal("failed", r.status)
    assert.matches("bad thing", r.error)
    assert.matches("stack traceback", r.error)
    local f = pool:submit(function() require("corral.core").kill(require("corral.core").getpid(), "KILL") end)
    r = f:wait()
    assert.are.equal("lost", r.status)
    assert.are.equal("killed by KILL", r.error)
    assert.are.equal(9, pool:submit(function() return 9 end):result())
  end)

  it("a lua map gives every value: one task per item through agents, chunks through steps", function()
    skip()
    for _, agents in ipairs { true, false } do
      local pool <close> = corral.pool { executor = "lua", launcher = "slurm", size = 2,
                                         slurm = { agents = agents } }
      local list = {}
      for i = 1, 600 do list[i] = i end              -- steps: chunks of many items, in batches
      local out = pool:map(function(x) return x * 3 end, list)
      assert.are.equal(600, #out)
      assert.are.equal(1800, out[600])
      local ok, err = pcall(pool.map, pool, function(x) if x == 77 then error("bad 77") end return x end, list)
      assert.is_false(ok)
      assert.matches("bad 77", tostring(err))
      if agents then
        ok, err = pcall(pool.map, pool, function(x) return x end, list, { chunksize = 10 })
        assert.is_false(ok)
        assert.matches("Slurm agents run one item per task", err, 1, true)
      end
    end
  end)
end)
