-- The slurm launcher with a step per task (slurm = { agents = false }; agents, the default, are
-- in agents_spec) against real daemons (a throwaway cluster that scripts/run-specs.sh
-- brings up with scripts/slurm-local.sh and exports as SLURM_CONF). Without one every test
-- is pending with the reason, never passed.
local core = require "corral.core"
local corral = require "corral"
local H = require "helpers"

package.path = H.root .. "/spec/fixtures/?.lua;" .. package.path

local REASON = H.slurm_skip_reason()
local function skip() if REASON then pending(REASON) end end
local STEPS = { agents = false }

local live_jobs = H.live_jobs

local function job_gone(j) return H.poll(function() return not live_jobs()[j] end, 10) end

-- Exit codes: a step costs ~50-100 ms, so not all 256 (21 s here); the ones around each edge
-- the shim's report must keep apart from srun's own status (128 + N reads as signal N).
local CODES = { 0, 1, 2, 63, 64, 125, 126, 127, 128, 129, 130, 137, 143, 191, 192, 254, 255 }

assert(loadfile(H.root .. "/spec/launcher_cases.lua", "t", _ENV))()("slurm", { skip = skip, size = 4,
  codes = CODES, options = function(o) o.slurm = STEPS end })

describe("slurm allocation", function()
  it("is one job for the pool, released by <close>", function()
    skip()
    local j
    do
      local pool <close> = corral.pool { launcher = "slurm", size = 2, slurm = STEPS }
      j = pool.slurm.jobid
      assert.is_true(live_jobs()[j])
      local r = pool:submit("echo $SLURM_JOB_ID"):wait()
      assert.are.equal(j .. "\n", r.stdout)
      -- env is merged over the step's environment, on the node
      r = pool:submit("echo $SLURM_JOB_ID $X", { env = { X = "x" } }):wait()
      assert.are.equal(j .. " x\n", r.stdout)
    end
    assert.is_true(job_gone(j))
  end)

  it("terminate: squeue shows no job of the pool, no survivor", function()
    skip()
    local m = H.sleep_marker()
    local pool = corral.pool { launcher = "slurm", size = 2, slurm = STEPS }
    local j = pool.slurm.jobid
    pool:submit(("sleep %s & sleep %s"):format(m, m)); pool:submit("exec sleep " .. m)
    assert.is_true(H.poll(function() return H.count(m) == 3 end))
    pool:terminate()
    assert.are.equal(0, H.count(m))
    assert.is_nil(live_jobs()[j])
    H.cleanup(m)
  end)

  it("the owning script SIGKILLed: allocation and steps gone within a few seconds", function()
    skip()
    local m = H.sleep_marker()
    local c = H.run_script("slurm_owner.lua", (m:gsub("^300%.", "")))
    finally(function() core.pidfd_kill(c.pidfd, "KILL"); c:wait(5); H.cleanup(m) end)
    assert.is_true(c:expect("ready", 1, 20))
    local j = tonumber(c.lines[1]:match("^job (%d+)"))
    assert.is_true(live_jobs()[j])
    local t0 = core.now()
    core.pidfd_kill(c.pidfd, "KILL")
    assert.is_true(job_gone(j))
    assert.is_true(H.poll(function() return H.count(m) == 0 end, 5))
    assert.is_true(core.now() - t0 < 5)
  end)

  it("uses a given allocation and leaves it alone", function()
    skip()
    local p = io.popen("salloc --no-shell -n1 -J corral-spec 2>&1")
    local j = tonumber(p:read("a"):match("Granted job allocation (%d+)"))
    p:close()
    finally(function() os.execute("scancel " .. j) end)
    do
      local pool <close> = corral.pool { launcher = "slurm", size = 1, slurm = { jobid = tostring(j), agents = false } }
      assert.are.equal(j .. "\n", pool:submit("echo $SLURM_JOB_ID"):wait().stdout)
    end
    assert.is_true(live_jobs()[j])
  end)

  it("a step that cannot start is a record with status 'error' and srun's message", function()
    skip()
    local pool <close> = corral.pool { launcher = "slurm", size = 1, slurm = { jobid = 999999, agents = false } }
    local r = pool:submit("true"):wait()
    assert.are.equal("error", r.status)
    assert.matches("srun: error:", r.error, 1, true)
  end)

  it("salloc failing raises with salloc's message", function()
    skip()
    local ok, e = pcall(corral.pool, { launcher = "slurm", size = 1, slurm = { partition = "nosuchpart" } })
    assert.is_false(ok)
    assert.matches("cannot get a Slurm allocation: salloc failed", e, 1, true)
    assert.matches("invalid partition", e, 1, true)
  end)
end)

describe("slurm bad input", function()
  it("raises naming the bad option", function()
    assert.has_error(function() corral.pool { launcher = "slurm", slurm = { jobid = "x" } } end,
      "bad option 'slurm' to 'pool' (jobid: a job id (positive integer) expected, got \"x\")")
    assert.has_error(function() corral.pool { launcher = "slurm", slurm = { node = 2 } } end,
      "bad option 'slurm' to 'pool' (unknown key 'node')")
    assert.has_error(function() corral.pool { launcher = "slurm", slurm = { agents = 1 } } end,
      "bad option 'slurm' to 'pool' (agents: boolean expected, got number)")
    assert.has_error(function() corral.pool { launcher = "slurm", slurm = { nodes = 0 } } end,
      "bad option 'slurm' to 'pool' (nodes: positive integer expected, got 0)")
    assert.has_error(function() corral.pool { launcher = "slurm", slurm = { heartbeat = -1 } } end,
      "bad option 'slurm' to 'pool' (heartbeat: seconds (positive number) expected, got -1)")
    assert.has_error(function() corral.pool { launcher = "slurm", slurm = { extra = { 1 } } } end,
      "bad option 'slurm' to 'pool' (extra: list of strings expected, bad item at [1])")
    assert.has_error(function() corral.pool { slurm = { jobid = 1 } } end,
      "bad option 'slurm' to 'pool' (only with launcher = \"slurm\")")
    assert.has_error(function() corral.pool { launcher = "slurm", cgroup = true, slurm = { jobid = 1 } } end)
    assert.has_error(function() corral.pool { launcher = "slurm", executor = "lua", start = "fork", slurm = { jobid = 1 } } end,
      "bad option 'start' to 'pool' (only \"spawn\" with launcher = \"slurm\": a worker is a step)")
  end)
end)

describe("slurm lua workers", function()
  local function lpool(o)
    o = o or {}
    o.executor, o.launcher, o.size, o.slurm = "lua", "slurm", o.size or 2, STEPS
    return corral.pool(o)
  end

  it("round-trip values exactly over the step's stdio", function()
    skip()
    local pool <close> = lpool()
    H.roundtrip(pool)
    local big = string.rep("\0\1\255", 400000)
    assert.are.equal(big, pool:submit(function(s) print("noise"); return s end, big):result())
    assert.are.same({ 1, 4, 9 }, pool:map("corral_testmod.square", { 1, 2, 3 }))
  end)

  it("errors give 'failed' with the traceback", function()
    skip()
    local pool <close> = lpool { size = 1 }
    local r = pool:submit(function() error("bad thing") end):wait()
    assert.are.equal("failed", r.status)
    assert.matches("bad thing", r.error)
    assert.matches("stack traceback", r.error)
  end)

  it("maxtasks and init behave as locally", function()
    skip()
    local pool <close> = lpool { size = 1, maxtasks = 2, init = "corral_testmod.init" }
    local pids = pool:map("corral_testmod.pid", { 1, 2, 3 })
    assert.are.equal(pids[1], pids[2])
    assert.are_not.equal(pids[2], pids[3])
    assert.are.same({ 1, 1 }, pool:map(function() return require("corral_testmod").inits() end, { 1, 2 }))
  end)

  it("a worker step killed under a task gives 'lost'; a new worker takes over", function()
    skip()
    local pool <close> = lpool { size = 1 }
    local flag = os.tmpname()
    local f = pool:submit(function(p)
      local h = io.open(p .. ".tmp", "w"); h:write(require("corral.core").getpid()); h:close()
      os.rename(p .. ".tmp", p)
      while true do end
    end, flag)
    os.remove(flag)
    local pid
    assert.is_true(H.poll(function()
      local h = io.open(flag); if not h then return false end
      pid = tonumber(h:read("a")); h:close(); return pid ~= nil
    end))
    os.remove(flag)
    core.kill(pid, "KILL")
    local r = f:wait()
    assert.are.equal("lost", r.status)
    assert.are.equal("killed by KILL", r.error)
    assert.are.equal(9, pool:submit(function() return 9 end):result())
  end)

  it("f:kill() on a running lua task: 'lost', killed by KILL, nothing of it left", function()
    skip()
    local m = H.sleep_marker()
    local pool <close> = lpool { size = 1 }
    local f = pool:submit(function(mk) os.execute("sleep " .. mk) end, m)
    assert.is_true(H.poll(function() return H.count(m) == 1 end))
    -- its START comes through srun's stdio forwarding: running once the pool has read it
    assert.is_true(H.poll(function() return f:status() == "running" end))
    assert.is_true(f:kill())
    local r = f:wait()
    assert.are.equal("lost", r.status)
    assert.are.equal("killed by KILL", r.error)
    assert.is_true(H.poll(function() return H.count(m) == 0 end, 5))
    H.cleanup(m)
  end)

  it("cancel and terminate leave nothing of the task behind", function()
    skip()
    local m = H.sleep_marker()
    local pool = lpool { size = 2 }
    local a = pool:submit(function(mk) os.execute("sleep " .. mk) end, m)
    local b = pool:submit(function(mk) os.execute("sleep " .. mk) end, m)
    assert.is_true(H.poll(function() return H.count(m) == 2 end))
    assert.is_true(a:cancel())
    assert.are.equal("cancelled", a:wait().status)
    pool:terminate()
    assert.are.equal("cancelled", b:wait().status)
    assert.are.equal(0, H.count(m))
    H.cleanup(m)
  end)
end)
