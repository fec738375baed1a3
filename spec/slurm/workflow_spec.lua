-- A workflow on the throwaway 3-node cluster (scripts/run-specs.sh): the same script as locally
-- with launcher = "slurm"; each job's cpus placed on an agent with that many free CPUs (agents,
-- the default) or asked of srun (-c, --mem: agents = false); the allocation goes with the run.
local corral = require "corral"
local joblog = require "corral.joblog"
local H = require "helpers"

local REASON = H.slurm_skip_reason()
local function skip() if REASON then pending(REASON) end end

-- One pipeline, whatever runs it: 6 shell jobs of 2 CPUs and 6 of 1, each printing its node,
-- then an fn job that adds up what a fan-out computed.
local function pipeline(opts)
  local wf = corral.workflow(opts)
  for i = 1, 12 do
    wf:job("j" .. i, { shell = "sleep 0.3; echo ${SLURMD_NODENAME:-local}", cpus = i % 2 + 1 })
  end
  wf:each("sq", { 1, 2, 3 }, function(x) return { fn = function(v) return v * v end, args = { x } } end)
  wf:job("sum", { fn = function(vs) return vs[1] + vs[2] + vs[3] end, after = { "sq", "j12" } })
  return wf
end

-- The cpus running at each job's start, all together and on its node (record.host).
local function peaks(path)
  local recs = {}
  for _, r in ipairs(joblog.read(path)) do
    if r.name:match("^j%d+$") then
      r.stop, r.cpus = r.start + r.duration, tonumber(r.name:match("%d+")) % 2 + 1
      recs[#recs + 1] = r
    end
  end
  local all, node = 0, 0
  for _, r in ipairs(recs) do
    local a, n = 0, 0
    for _, o in ipairs(recs) do
      if o == r or (o.start <= r.start and o.stop > r.start + 0.002) then
        a = a + o.cpus
        if o.host == r.host then n = n + o.cpus end
      end
    end
    all, node = math.max(all, a), math.max(node, n)
  end
  return all, node, #recs
end

describe("workflow on Slurm", function()
  it("runs the same script as locally, each job's cpus on an agent with that many free", function()
    local d = H.tmpdir()
    local here = pipeline({ cpus = 6, joblog = d .. "/local.jsonl" }):run()
    assert.is_true(here.ok)
    assert.are.equal(14, here.records.sum.values[1])
    assert.are.equal("local\n", here.records.j1.stdout)
    skip()
    local before = H.live_jobs()
    -- 2 CPUs on each of the 3 nodes (the cluster's nodes have more: block layout would be 4+1+1)
    local there = pipeline({ cpus = 6, launcher = "slurm",
                             slurm = { nodes = 3, extra = { "--ntasks-per-node=2" } },
                             joblog = d .. "/slurm.jsonl" }):run()
    assert.is_true(there.ok)
    assert.are.equal(14, there.records.sum.values[1])
    local hosts = {}
    for i = 1, 12 do
      local r = there.records["j" .. i]
      assert.are.equal(r.host .. "\n", r.stdout)     -- it ran on the node its record names
      hosts[r.host] = true
    end
    local n = 0
    for _ in pairs(hosts) do n = n + 1 end
    assert.are.equal(3, n)
    -- the budget (6) and each node's 2 CPUs held at every start, and filled
    local all, node, count = peaks(d .. "/slurm.jsonl")
    assert.are.equal(12, count)
    assert.is_true(all <= 6, all .. " cpus at once")
    assert.is_true(node <= 2, node .. " cpus at once on one node")
    assert.is_true(all >= 4, "only " .. all .. " cpus at once")
    -- and the allocation went with the run
    assert.is_true(H.poll(function()
      for j in pairs(H.live_jobs()) do if not before[j] then return false end end
      return true
    end, 10))
  end)

  it("steps (agents = false) ask srun for the job's cpus and memory", function()
    skip()
    local wf = corral.workflow { cpus = 4, launcher = "slurm", slurm = { agents = false, nodes = 2 } }
    -- the job finds its own srun on this machine (its argv carries the marker) and prints it
    local m = ("wfres%d_%d"):format(corral.getpid(), math.random(1 << 30))
    local find = [[for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep "^srun .*$1"; ]]
      .. [[echo "cpt=$SLURM_CPUS_PER_TASK"]]
    wf:job("wide", { cmd = { "sh", "-c", find, "sh", m }, cpus = 2, memory = "100M" })
    wf:job("narrow", { cmd = { "sh", "-c", find, "sh", m .. "n" }, after = { "wide" } })
    local report = wf:run()
    assert.is_true(report.ok, report.records.wide.error)
    local out = report.records.wide.stdout
    assert.matches("^srun .* %-%-cpus%-per%-task=2 ", out)
    assert.matches("^srun .* %-%-mem=100M ", out)
    assert.matches("\ncpt=2\n$", out)
    out = report.records.narrow.stdout            -- the default: 1 CPU, no memory asked
    assert.matches("^srun .* %-%-cpus%-per%-task=1 ", out)
    assert.is_nil(out:find("--mem", 1, true))
    assert.matches("\ncpt=1\n$", out)
  end)

  it("a task needing more CPUs than any agent has ends 'error', saying so; the pool goes on", function()
    skip()
    local pool <close> = corral.pool { launcher = "slurm", size = 4,
                                       slurm = { nodes = 2, extra = { "--ntasks-per-node=2" } } }
    local wide = pool:submit("true", { cpus = 3 })
    local fine = pool:submit("echo ok", { cpus = 2 })
    local r = wide:wait(20)
    assert.are.equal("error", r.status)
    assert.matches("needs 3 CPUs, the largest Slurm agent has 2", r.error, 1, true)
    assert.are.equal("ok\n", fine:wait(20).stdout)
  end)
end)

describe("cpus per task", function()
  it("is a Slurm option: a local pool refuses it", function()
    local pool <close> = corral.pool { size = 1 }
    assert.has_error(function() pool:submit("true", { cpus = 2 }) end,
      "bad option 'cpus' to 'submit' (only with launcher = \"slurm\")")
  end)
end)
