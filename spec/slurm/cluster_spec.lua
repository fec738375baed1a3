-- scripts/slurm-local.sh: the throwaway cluster that scripts/run-specs.sh brings up with
-- SLURM_LOCAL_NODES=3 (several slurmd on this host), and the directories `up` refuses.
local H = require "helpers"

local REASON = H.slurm_skip_reason()
local function skip() if REASON then pending(REASON) end end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

describe("slurm-local.sh", function()
  it("runs one slurmd per node: a step on each node runs there", function()
    skip()
    local nodes = {}
    for n in sh("sinfo -h -N -o %N"):gmatch("%S+") do nodes[#nodes + 1] = n end
    assert.are.equal(3, #nodes)
    local out = sh("srun -N3 -n3 --ntasks-per-node=1 -u sh -c 'echo $SLURMD_NODENAME' | sort")
    assert.are.equal(table.concat(nodes, "\n") .. "\n", out)
  end)

  it("refuses a directory that is not empty, or not a directory, and a bad node count", function()
    local d = os.tmpname()
    local out, code = sh(H.root .. "/scripts/slurm-local.sh up " .. d)
    assert.are.equal(1, code)
    assert.matches("exists and is not an empty directory", out, 1, true)
    os.remove(d)
    out, code = sh("SLURM_LOCAL_NODES=x " .. H.root .. "/scripts/slurm-local.sh up " .. d)
    assert.are.equal(1, code)
    assert.matches("SLURM_LOCAL_NODES: a number of nodes (1 or more), got 'x'", out, 1, true)
    assert.is_nil(io.open(d))
    out, code = sh(H.root .. "/scripts/slurm-local.sh kill-node " .. d .. " n1")
    assert.are.equal(1, code)
    assert.matches("was not made by", out, 1, true)
  end)
end)
