-- The parts of lua/corral/ (docs/architecture.md): a folder is a part, and a module requires
-- only modules of its own part and of the parts below it, never one above. The order, top to
-- bottom: the command line, the public face, workflows, the pool core, the Slurm launcher, lua
-- workers, local launching, the loop, the engine.
local H = require "helpers"

local ORDER = { "cli", "face", "workflow", "pool", "slurm", "lua", "launch", "loop", "engine" }
local RANK = {}
for i, p in ipairs(ORDER) do RANK[p] = #ORDER - i end

-- The part of a module name ("corral.launch.proc" -> "launch").
local POOL_CORE = { pool = true, future = true, options = true, errors = true, executors = true,
                    joblog = true, chunks = true }
local function part_of(mod)
  if mod == "corral" or mod == "corral.loader" then return "face" end
  if mod == "corral.core" then return "engine" end
  local first = mod:match("^corral%.([%w_]+)")
  if POOL_CORE[first] then return "pool" end
  return first
end

local function modules()
  local list = {}
  local p = assert(io.popen("cd " .. H.root .. "/lua && find corral -name '*.lua' | sort"))
  for path in p:lines() do
    local mod = path:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
    list[#list + 1] = { path = "lua/" .. path, mod = mod }
  end
  p:close()
  return list
end

describe("the parts of lua/corral", function()
  it("every module is in a known part", function()
    local list = modules()
    assert.is_true(#list > 20)
    for _, m in ipairs(list) do
      assert(RANK[part_of(m.mod)], m.path .. ": no part " .. tostring(part_of(m.mod)))
    end
  end)

  it("a module requires only its own part and the parts below it", function()
    local bad = {}
    for _, m in ipairs(modules()) do
      local f = assert(io.open(H.root .. "/" .. m.path))
      local src = f:read("a")
      f:close()
      local from = part_of(m.mod)
      for req in src:gmatch("require%s*%(?%s*[\"'](corral[%w_.]*)[\"']") do
        local to = part_of(req)
        assert(RANK[to], m.path .. " requires " .. req .. " of no known part")
        if RANK[to] > RANK[from] then bad[#bad + 1] = ("%s (%s) requires %s (%s)"):format(m.path, from, req, to) end
      end
    end
    assert(#bad == 0, "upward arrows:\n" .. table.concat(bad, "\n"))
  end)
end)
