-- The lifeline: when the script that owns pools dies (SIGKILL included, or an exit that
-- closes nothing), every process group its pools started is gone within a second.
-- Job scripts run as real processes; survivors are counted by a marker unique to each test.
local core = require "corral.core"
local corral = require "corral"
local lifeline = require "corral.launch.lifeline"
local H = require "helpers"

-- The spec scripts get the marker's digits only, so their own command lines do not carry it.
local function digits(m) return (m:gsub("^300%.", "")) end

-- Poll for no process with the marker; returns the count left and the seconds it took.
local function survivors(m, t0, seconds)
  H.poll(function() return H.count(m) == 0 end, seconds or 1)
  return H.count(m), core.now() - t0
end

-- Is pid a live corral watchdog? (Its name is corral-watchdog; a zombie's state is Z; a reused
-- pid has another name.)
local function is_watchdog(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "rb")
  if not f then return false end
  local stat = f:read("a") or ""
  f:close()
  return stat:match("^%d+ %((.*)%) (%a)") == "corral-watchdog" and not stat:match("%) Z ")
end

-- Live watchdogs whose parent is `ppid`.
local function watchdogs_of(ppid)
  local names = {}
  local p = io.popen("ls /proc")
  for name in p:lines() do if name:match("^%d+$") then names[#names + 1] = tonumber(name) end end
  p:close()
  local out = {}
  for _, pid in ipairs(names) do
    local f = io.open("/proc/" .. pid .. "/stat")
    local s = f and f:read("a") or ""
    if f then f:close() end
    local parent = tonumber(s:match("%)%s+%S+%s+(%d+)"))
    if parent == ppid and is_watchdog(pid) then out[#out + 1] = pid end
  end
  return out
end

-- pids of live processes whose command line contains `s` anywhere.
local function pids_with(s)
  local names = {}
  local p = io.popen("ls /proc")
  for name in p:lines() do if name:match("^%d+$") then names[#names + 1] = name end end
  p:close()
  local out = {}
  for _, name in ipairs(names) do
    local f = io.open("/proc/" .. name .. "/cmdline", "rb")
    if f then
      if (f:read("a") or ""):find(s, 1, true) then out[#out + 1] = tonumber(name) end
      f:close()
    end
  end
  return out
end

local function script(name, ...)
  return { H.root .. "/scripts/corral", "run", H.root .. "/spec/scripts/" .. name, ... }
end

-- Start a job script; whatever happens in the test, it is reaped (killed first, through its
-- pidfd, if still running) and the marker's processes are cleaned up.
local function start(argv, opts, m)
  local c = H.start(argv, opts)
  finally(function()
    if not c.waited then core.pidfd_kill(c.pidfd, "KILL"); c:wait(5) end
    if m then H.cleanup(m) end
  end)
  return c
end

local function wait(c)
  c.waited = true
  return c:wait()
end

-- This environment plus `extra` (NAME=value strings replacing NAME).
local function env_with(extra)
  local env, skip = {}, {}
  for _, kv in ipairs(extra) do skip[kv:match("^[^=]*")] = true end
  for k, v in pairs(core.environ()) do if not skip[k] then env[#env + 1] = k .. "=" .. v end end
  for _, kv in ipairs(extra) do env[#env + 1] = kv end
  return env
end

-- SIGKILL the owner c: none of the marker's processes is left after 1 s.
local function kill_owner(c, m)
  local t0 = core.now()
  assert.is_true(core.kill(c.pid, "KILL"))
  local left, took = survivors(m, t0)
  local _, sig = wait(c)
  assert.are.equal("KILL", sig)
  assert.are.equal(0, left, ("%d survivors after %.3f s"):format(left, took))
end

-- 50 trees under an owner started with `env`, which is SIGKILLed: none is left after 1 s.
local function owner_killed(env)
  local m = H.sleep_marker()
  local c = start(script("lifeline_shell.lua", digits(m), "kill"), env and { env = env }, m)
  assert.is_true(c:expect("ready", 1, 20))
  assert.are.equal(100, H.count(m))
  kill_owner(c, m)
end

describe("the lifeline with 50 running 'sleep & sleep' trees", function()
  it("ends them all within 1 s of the owner's SIGKILL", function()
    owner_killed()
  end)

  it("ends them all within 1 s of the owner's SIGKILL with the program posix_spawned", function()
    owner_killed(env_with { "CORRAL_WATCHDOG=spawn" })
  end)

  it("ends them all within 1 s of the owner's SIGKILL without the corral-watchdog program (a fork)", function()
    -- an engine directory with core.so only: the lifeline forks instead
    local root = assert(io.popen("cd " .. H.root .. " && pwd")):read("l")
    local build = H.tmpdir()
    finally(function() os.execute("rm -rf " .. build) end)
    assert(os.execute(("mkdir %s/corral && ln -s %s/build/corral/core.so %s/corral/core.so")
      :format(build, root, build)))
    owner_killed(env_with { "CORRAL_BUILD=" .. build })
  end)

  it("ends them all within 1 s of os.exit(0) with the pool still open", function()
    local m = H.sleep_marker()
    local c = start(script("lifeline_shell.lua", digits(m), "exit"), nil, m)
    assert.is_true(c:expect("ready", 1, 20))
    local t0 = core.now()
    local code = wait(c)
    local left, took = survivors(m, t0)
    assert.are.equal(0, code)
    assert.are.equal(0, left, ("%d survivors after %.3f s"):format(left, took))
  end)

  it("survives its watchdog being killed: a new one takes over, no SIGPIPE", function()
    local m = H.sleep_marker()
    local c = start(script("lifeline_shell.lua", digits(m), "churn"), { stderr = "null" }, m)
    assert.is_true(c:expect("ready", 1, 20))
    local first = tonumber(c.lines[1]:match("^watchdog (%d+)$"))
    assert.is_true(H.poll(function() return is_watchdog(first) end, 5))
    assert.is_true(core.kill(first, "KILL"))
    local second
    assert.is_true(H.poll(function()
      for _, pid in ipairs(watchdogs_of(c.pid)) do   -- the killed one may linger a moment
        if pid ~= first then second = pid end
      end
      return second ~= nil
    end, 5))
    assert.are_not.equal(first, second)
    assert.are.equal(false, (core.reap(c.pidfd)))       -- the owner lives on, still churning
    kill_owner(c, m)
  end)
end)

describe("the watchdog", function()
  it("ends before the owner after a clean exit: nothing is left", function()
    local c = start(script("lifeline_close.lua", "pool"))
    local code = wait(c)
    assert.are.equal(0, code)
    local pid, real = c.lines[1]:match("^watchdog (%d+) (%a+)$")
    assert.are.equal("true", real)            -- it was running, as the owner's child
    assert.are.equal("watchdogs 1", c.lines[2])
    -- reaped by its owner before the owner exited: not even a zombie is left for init, and
    -- nothing sharing the owner's command line outlives it
    assert.is_nil(io.open("/proc/" .. pid .. "/stat"), "watchdog left behind")
  end)

  it("holds none of its owner's descriptors: its pipe, /dev/null, stderr and the slots only", function()
    local pool <close> = corral.pool { executor = "exec", size = 1 }
    -- descriptors of this process the watchdog must not keep: a pipe and an open file
    local r, w = core.pipe()
    local f = assert(io.open(H.tmpname(), "w"))
    assert.are.equal("ok", pool:submit { "true" }:wait().status)
    local wd = lifeline.watchdog_pid()
    assert.is_true(H.poll(function() return is_watchdog(wd) end, 5))  -- set up (named) by now
    local fds = {}
    local p = assert(io.popen("ls -l /proc/" .. wd .. "/fd"))
    for n, target in p:read("a"):gmatch("(%d+) %-> ([^\n]+)") do fds[tonumber(n)] = target end
    p:close()
    f:close(); core.close(r); core.close(w)
    assert.matches("^pipe:", fds[0])
    assert.are.equal("/dev/null", fds[1])
    assert.matches("^/memfd:", fds[3])
    fds[0], fds[1], fds[2], fds[3] = nil, nil, nil, nil
    assert.are.same({}, fds)
  end)

  it("is the corral-watchdog program, with a memory and an OOM score of its own", function()
    -- (a child that shared the owner's memory would die with it: the OOM killer kills every
    -- process sharing its victim's memory)
    local pool <close> = corral.pool { executor = "exec", size = 1 }
    assert.are.equal("ok", pool:submit { "true" }:wait().status)
    local wd = lifeline.watchdog_pid()
    assert.is_true(H.poll(function() return is_watchdog(wd) end, 5))
    local exe = assert(io.popen("readlink /proc/" .. wd .. "/exe")):read("l")
    assert.matches("/corral%-watchdog$", exe)
  end)

  it("core.clone_watchdog starts the program without waiting for its exec; a failed exec is code 127", function()
    local arch = assert(io.popen("uname -m")):read("l")
    if arch ~= "x86_64" then pending("core.clone_watchdog is x86_64 only; this is " .. arch) return end
    local prog = package.searchpath("corral.core", package.cpath):gsub("core%.so$", "corral-watchdog")
    local slots = assert(core.slots(4))
    for _, case in ipairs { { prog, 0 }, { "/nonexistent/corral-watchdog", 127 } } do
      local r, w = core.pipe()
      local pid, pidfd = core.clone_watchdog(r, slots:fd(), { case[1] })
      core.close(r)
      assert.are.equal("integer", math.type(pid), tostring(pidfd))
      if case[2] == 0 then assert.is_true(H.poll(function() return is_watchdog(pid) end, 5)) end
      core.close(w)                              -- the owner's end: the program exits at EOF
      local code
      assert.is_true(H.poll(function() code = core.reap(pidfd); return code ~= false end, 5))
      core.close(pidfd)
      assert.are.equal(case[2], code)
    end
    assert.has_error(function() core.clone_watchdog(0, 0, {}) end)
  end)

  it("ends a group its owner registered after the owner's normal end (the Lua state closed)", function()
    -- the owner returns from its script: lua.c closes the state (core.so's dlclose included)
    -- and only then exits; the group is no pool's, so only the watchdog can end it
    local m = H.sleep_marker()
    local c = start(script("lifeline_exit.lua", digits(m)), nil, m)
    assert.is_true(c:expect("ready", 1, 20))
    local t0 = core.now()
    assert.are.equal(0, (wait(c)))
    local left, took = survivors(m, t0)
    assert.are.equal(0, left, ("%d survivors after %.3f s"):format(left, took))
  end)

  it("is never started by a script that starts no task", function()
    local c = start(script("lifeline_close.lua", "none"))
    assert.are.equal(0, (wait(c)))
    assert.are.same({ "watchdog nil false", "watchdogs 0" }, c.lines)
  end)

  it("is not inherited by lua workers: a forked one has no lifeline of its own", function()
    if not core.encode then pending("core.encode (the wire codec) is not built yet") return end
    for _, start in ipairs { "fork", "spawn", "forkserver" } do
      local pool <close> = corral.pool { executor = "lua", start = start, size = 1 }
      local r = pool:submit(function() return require("corral.launch.lifeline").watchdog_pid() end):wait()
      assert.are.equal("ok", r.status, r.error)
      assert.is_nil(r.values[1])
      local wd = lifeline.watchdog_pid()
      -- (seen failing once under load: the message says what the pid was then)
      assert.is_true(H.poll(function() return is_watchdog(wd) end, 5), ("parent's watchdog %s not running: %s"):format(
        tostring(wd), H.lines("/proc/" .. tostring(wd) .. "/stat")[1] or "no such process"))
    end
  end)
end)

describe("the lifeline with busy lua workers", function()
  for _, how in ipairs { "spawn", "fork", "forkserver" } do
    it("ends workers and what they started within 1 s of the owner's SIGKILL (start = "
       .. how .. ")", function()
      if not core.encode then pending("core.encode (the wire codec) is not built yet") return end
      local m = H.sleep_marker()
      local c = start(script("lifeline_lua.lua", "lifeline-" .. digits(m), how), nil, m)
      assert.is_true(c:expect("ready", 1, 20))
      local t0 = core.now()
      assert.is_true(core.kill(c.pid, "KILL"))
      local left, took = survivors(m, t0)
      local _, sig = wait(c)
      -- the workers themselves: forks carry the script's arguments, spawned ones its
      -- package.path, both with the marker's digits
      local tag = "lifeline-" .. digits(m)
      H.poll(function() return #pids_with(tag) == 0 end, t0 + 1 - core.now())
      local workers = pids_with(tag)
      for _, pid in ipairs(workers) do core.kill(pid, "KILL") end
      assert.are.equal("KILL", sig)
      assert.are.equal(0, left, ("%d survivors after %.3f s"):format(left, took))
      assert.are.equal(0, #workers, "workers left: " .. table.concat(workers, " "))
    end)
  end
end)
