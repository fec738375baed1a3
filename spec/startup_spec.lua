-- Start-up: `require "corral"` loads the engine, corral.errors and corral.loader only (which
-- loads corral's modules precompiled when it can), and a script loads a
-- part of corral when it first uses it (the cost: docs/benchmarks.md, F). Every check runs in a
-- fresh lua5.4, so nothing this busted process loaded can hide a require.
local H = require "helpers"

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- run(code) -> what the fresh process printed, its exit code; `loaded()` in it lists what is
-- loaded of corral and cjson, sorted, one line.
local PRELUDE = [[
local function loaded()
  local t = {}
  for k in pairs(package.loaded) do
    if k == "corral" or k:match("^corral%.") or k:match("cjson") then t[#t + 1] = k end
  end
  table.sort(t)
  return table.concat(t, " ")
end
]]
local function run(code)
  local p = assert(io.popen("lua5.4 -e " .. q(PRELUDE .. code) .. " 2>&1"))
  local out = p:read("a")
  local _, _, rc = p:close()
  return out, rc
end

local function set(line)
  local s = {}
  for w in line:gmatch("%S+") do s[w] = true end
  return s
end

describe("start-up", function()
  it('require "corral" loads only corral, the engine, corral.errors and corral.loader, and starts nothing', function()
    local out, rc = run([[
      local function fds()                  -- this process's open descriptors
        local p, n = io.popen("ls /proc/$PPID/fd"), 0
        for _ in p:lines() do n = n + 1 end
        p:close()
        return n
      end
      local before = fds()
      local corral = require "corral"
      print(loaded())
      print(type(corral.pool), type(corral.workflow), type(corral.go), corral.interrupted())
      print(loaded())
      print("fds", before, fds())
    ]])
    assert.are.equal(0, rc, out)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal("corral corral.core corral.errors corral.loader", lines[1])
    -- the public functions are there, and reading them (or interrupted()) loads nothing more
    assert.are.equal("function\tfunction\tfunction\tnil", lines[2])
    assert.are.equal(lines[1], lines[3])
    -- no descriptor opened (the loop's epoll and timerfd come with its first use)
    local before, after = out:match("fds\t(%d+)\t(%d+)")
    assert.are.equal(before, after)
  end)

  it("a one-task command script loads the pool core and the local launcher, nothing else", function()
    local out, rc = run([[
      local corral = require "corral"
      local pool <close> = corral.pool{ executor = "exec", size = 1 }
      print(pool:submit{ "sh", "-c", "echo ran" }:wait().stdout)
      print(loaded())
    ]])
    assert.are.equal(0, rc, out)
    local got = set(out:match("ran\n\n(.-)\n$") or "")
    assert(got["corral.pool"] and got["corral.launch.proc"] and got["corral.launch.lifeline"], out)
    for _, heavy in ipairs { "cjson.safe", "corral.joblog", "corral.launch.cgroup", "corral.lua.workers",
                             "corral.slurm", "corral.chunks", "corral.workflow", "corral.cli" } do
      assert.is_nil(got[heavy], heavy .. " loaded by a one-task script: " .. out)
    end
  end)

  it("what a script uses is loaded when it first uses it, and works", function()
    local journal = H.tmpname()
    local out, rc = run(([[
      local corral = require "corral"
      corral.sleep(0)
      print("sleep", package.loaded["corral.loop"] ~= nil, package.loaded["corral.pool"] ~= nil)
      require "corral.joblog"             -- as a workflow does, with or without a journal
      print("joblog", package.loaded["cjson.safe"] ~= nil)
      do
        local pool <close> = corral.pool{ executor = "shell", size = 1, joblog = %q }
        print("journal", pool:submit("exit 3"):wait().status, package.loaded["cjson.safe"] ~= nil)
      end
      do
        local pool <close> = corral.pool{ executor = "lua", size = 1 }
        print("lua", pool:submit(function(a) return a * 2 end, 21):result(),
          package.loaded["corral.lua.workers"] ~= nil, package.loaded["corral.chunks"] ~= nil)
        print("map", table.concat(pool:map(function(a) return a + 1 end, { 1, 2 }), ","),
          package.loaded["corral.chunks"] ~= nil)
      end
    ]]):format(journal))
    assert.are.equal(0, rc, out)
    assert.matches("sleep\ttrue\tfalse\n", out, 1, true)
    assert.matches("joblog\tfalse\n", out, 1, true)
    assert.matches("journal\tfailed\tfalse\n", out, 1, true)   -- lines are written by core.jsonl
    assert.matches("lua\t42\ttrue\tfalse\n", out, 1, true)
    assert.matches("map\t2,3\ttrue\n", out, 1, true)
    local records = 0
    for _, l in ipairs(H.lines(journal)) do
      if l:find('"status":"failed"', 1, true) then records = records + 1 end
    end
    os.remove(journal)
    assert.are.equal(1, records)
  end)

  it("scripts/corral puts an absolute module path on LUA_PATH, however it was named", function()
    local script = H.tmpname() .. ".lua"
    local f = assert(io.open(script, "w"))
    f:write('print(package.path:match("^[^;]*"), package.cpath:match("^[^;]*"))\n')
    f:close()
    local root = assert(io.popen("cd " .. q(H.root) .. " && pwd")):read("l")
    -- from the checkout's parent by a relative path, and as `lua5.4 corral` from scripts/
    for _, cmd in ipairs {
      "cd " .. q(root .. "/..") .. " && env -u LUA_PATH -u LUA_CPATH ./" .. q(root:match("[^/]+$"))
        .. "/scripts/corral run " .. q(script),
      "cd " .. q(root .. "/scripts") .. " && env -u LUA_PATH -u LUA_CPATH lua5.4 corral run " .. q(script),
    } do
      local p = assert(io.popen(cmd .. " 2>&1"))
      local out = p:read("a")
      local _, _, rc = p:close()
      assert.are.equal(0, rc, cmd .. ": " .. out)
      local path = out:match("^(%S+)\t%S+\n$")
      assert(path and path:sub(1, 1) == "/", cmd .. ": " .. out)
      assert.matches("/lua/%?%.lua$", path)
    end
    os.remove(script)
  end)
end)

-- corral.loader: a corral module comes from its compiled copy in the pack beside the engine
-- (corral/modules.pack) when the pack is at least as new as its source, and keeps the source's
-- name; else, and when the pack is not one, from the source. A probe module in a tree of its own,
-- with the engine linked in, says which one ran.
describe("precompiled modules", function()
  local root = assert(io.popen("cd " .. q(H.root) .. " && pwd")):read("l")
  local dir
  before_each(function()
    dir = H.tmpdir()
    assert(os.execute(("mkdir -p %s/lua/corral %s/lib/corral && ln -s %s %s/lib/corral/core.so")
      :format(q(dir), q(dir), q(root .. "/build/corral/core.so"), q(dir))))
  end)
  after_each(function() os.execute("rm -rf " .. q(dir)) end)

  local function probe(body) H.spit(dir .. "/lua/corral/probe.lua", body) end
  local function compile()
    assert(os.execute(("cd %s/lua && lua5.4 %s/scripts/luac.lua %s/lib/corral/modules.pack . corral/probe.lua")
      :format(q(dir), q(root), q(dir))))
  end
  local function load_probe()
    return run(([[
      package.path = %q .. "/lua/?.lua;" .. package.path
      package.cpath = %q .. "/lib/?.so;" .. package.cpath
      require "corral"
      local from, line = table.unpack((require "corral.probe"))
      print(from, debug.getinfo(line, "S").source)
    ]]):format(dir, dir))
  end

  it("takes the copy when it is as new as the source, named as the source", function()
    probe("return { 'copy', function() end }\n")
    compile()
    probe("return { 'CODE', function() end }\n")     -- the same size, and older than the copy:
    os.execute(("touch -d '2000-01-01' %s/lua/corral/probe.lua"):format(q(dir)))
    local out, rc = load_probe()
    assert.are.same({ "copy\t@" .. dir .. "/lua/corral/probe.lua\n", 0 }, { out, rc })
  end)

  it("takes the source when the copy was compiled from a source of another size", function()
    probe("return { 'copy', function() end }\n")
    compile()
    probe("return { 'source', function() end }\n")   -- another checkout's, say: older, longer
    os.execute(("touch -d '2000-01-01' %s/lua/corral/probe.lua"):format(q(dir)))
    local out, rc = load_probe()
    assert.are.same({ "source\t@" .. dir .. "/lua/corral/probe.lua\n", 0 }, { out, rc })
  end)

  it("takes the source when it is newer than the pack, or the pack is not one", function()
    probe("return { 'copy', function() end }\n")
    compile()
    os.execute(("touch -d '2000-01-01' %s/lib/corral/modules.pack"):format(q(dir)))
    probe("return { 'source', function() end }\n")
    local out, rc = load_probe()
    assert.are.same({ "source\t@" .. dir .. "/lua/corral/probe.lua\n", 0 }, { out, rc })
    H.spit(dir .. "/lib/corral/modules.pack", "return 'not a pack', function() end\n")
    out, rc = load_probe()
    assert.are.same({ "source\t@" .. dir .. "/lua/corral/probe.lua\n", 0 }, { out, rc })
  end)
end)
