-- cgroup mode (a cgroup v2 per task, cgroup.kill) and resource limits, with real processes.
-- Escapees are found by unique sleep markers in their command lines and cleaned up by pid.
-- Where this machine cannot do it (no writable cgroup v2 with cgroup.kill, no memory
-- controller), the tests say so with pending(reason): skipped, never passed silently.
local corral = require "corral"
local core = require "corral.core"
local cgroup = require "corral.launch.cgroup"
local H = require "helpers"

local function shell(opts)
  opts = opts or {}
  opts.executor = opts.executor or "shell"
  return corral.pool(opts)
end

-- Can cgroup mode (and a memory limit) work here? Asked of the kernel, not of corral (a corral
-- bug must fail these tests, not skip them): a cgroup2 mount where a cgroup can be made and
-- has cgroup.kill; a memory controller (cgroup v2's, or a v1 memory hierarchy).
local why_not, why_no_memory
do
  local v2, v1mem
  for line in io.lines("/proc/self/mountinfo") do
    local mount, fstype, opts = line:match("^%S+ %S+ %S+ %S+ (%S+) .- %- (%S+) %S+ (%S+)")
    if fstype == "cgroup2" and not v2 then v2 = mount end
    if fstype == "cgroup" and (","  .. opts .. ","):find(",memory,", 1, true) then v1mem = mount end
  end
  if not v2 then
    why_not = "no cgroup v2 hierarchy is mounted"
  else
    local probe = ("%s/corral-probe-%d"):format(v2, core.getpid())
    if not core.mkdir(probe) then
      why_not = "cannot make a cgroup under " .. v2
    else
      local f = io.open(probe .. "/cgroup.kill")
      if f then f:close() else why_not = "this kernel's cgroups have no cgroup.kill" end
      os.remove(probe)
    end
  end
  local c = io.open(v2 and v2 .. "/cgroup.controllers" or "/nonexistent")
  local controllers = c and c:read("a") or ""
  if c then c:close() end
  if why_not or not (controllers:find("memory", 1, true) or v1mem) then
    why_no_memory = why_not or "no memory controller (cgroup v2 or v1)"
  end
end

local function need_cgroup()
  if why_not then pending(why_not) return false end
  return true
end

local function isdir(path)
  local f = io.open(path .. "/cgroup.procs")
  if f then f:close() return true end
  return false
end

-- The task cgroup's directory of a running process ("0::/corral-123/task-4" in its cgroup file).
local function task_dir(pid)
  local f = io.open("/proc/" .. pid .. "/cgroup")
  local s = f and f:read("a") or ""
  if f then f:close() end
  local relparent, task = s:match("0::(/[^\n]*)(/task%-%d+)\n")
  for _, p in ipairs(cgroup.parent_paths()) do
    if relparent and p:sub(-#relparent) == relparent and isdir(p .. task) then return p .. task end
  end
  return nil
end


-- A task that leaves a setsid escapee (marker m) and waits in its own sleep (marker m2).
local function setsid_task(m, m2)
  return ("setsid sh -c 'sleep %s &'; exec sleep %s"):format(m, m2)
end
-- The classic daemon: fork, a new process group, fork again; the grandchild is orphaned.
local function double_fork_task(m, m2)
  return ([[perl -e 'fork and exit; setpgrp(0, 0); fork and exit; exec "sleep", "%s"'; exec sleep %s]]):format(m, m2)
end

local function running(m, m2)
  return H.poll(function() return H.count(m) == 1 and H.count(m2) == 1 end, 10)
end

describe("without cgroup mode", function()
  it("a setsid escapee survives cancel (only its process group is ended)", function()
    local m, m2 = H.sleep_marker(), H.sleep_marker()
    local pool <close> = shell { size = 1 }
    local f = pool:submit(setsid_task(m, m2))
    assert.is_true(running(m, m2))
    assert.is_true(f:cancel())
    local r = f:wait(10)
    assert.are.equal("cancelled", r.status)
    assert.are.equal(0, H.count(m2))
    assert.are.equal(1, H.count(m))          -- escaped: cgroup = true catches it
    H.cleanup(m)
  end)

  it("a double-fork escapee survives cancel too", function()
    local m, m2 = H.sleep_marker(), H.sleep_marker()
    local pool <close> = shell { size = 1 }
    local f = pool:submit(double_fork_task(m, m2))
    assert.is_true(running(m, m2))
    f:cancel()
    assert.are.equal("cancelled", f:wait(10).status)
    assert.are.equal(1, H.count(m))
    H.cleanup(m)
  end)
end)

describe("cgroup = true", function()
  it("cancel ends a setsid escapee as well", function()
    if not need_cgroup() then return end
    local m, m2 = H.sleep_marker(), H.sleep_marker()
    local pool <close> = shell { size = 1, cgroup = true }
    local f = pool:submit(setsid_task(m, m2))
    assert.is_true(running(m, m2))
    local t0 = core.now()
    assert.is_true(f:cancel())
    local r = f:wait(10)
    assert.are.equal("cancelled", r.status)
    assert.is_true(core.now() - t0 < 1)
    assert.are.equal(0, H.count(m))
    assert.are.equal(0, H.count(m2))
    H.cleanup(m)
  end)

  it("cancel ends a double-fork escapee as well", function()
    if not need_cgroup() then return end
    local m, m2 = H.sleep_marker(), H.sleep_marker()
    local pool <close> = shell { size = 1, cgroup = true }
    local f = pool:submit(double_fork_task(m, m2))
    assert.is_true(running(m, m2))
    f:cancel()
    assert.are.equal("cancelled", f:wait(10).status)
    assert.are.equal(0, H.count(m))
    H.cleanup(m)
  end)

  it("a timeout leaves nothing", function()
    if not need_cgroup() then return end
    local m, m2 = H.sleep_marker(), H.sleep_marker()
    local pool <close> = shell { size = 1, cgroup = true }
    local r = pool:submit(setsid_task(m, m2), { timeout = 0.5 }):wait(10)
    assert.are.equal("timeout", r.status)
    assert.are.equal(0, H.count(m))
    assert.are.equal(0, H.count(m2))
    H.cleanup(m)
  end)

  it("terminate leaves nothing of 6 tasks with escapees", function()
    if not need_cgroup() then return end
    local ms = {}
    local pool = shell { size = 6, cgroup = true }
    for i = 1, 6 do
      ms[i] = { H.sleep_marker(), H.sleep_marker() }
      pool:submit(i % 2 == 0 and setsid_task(ms[i][1], ms[i][2]) or double_fork_task(ms[i][1], ms[i][2]))
    end
    for i = 1, 6 do assert.is_true(running(ms[i][1], ms[i][2])) end
    local t0 = core.now()
    pool:terminate()
    assert.is_true(core.now() - t0 < 1)
    for i = 1, 6 do
      assert.are.equal(0, H.count(ms[i][1]))
      assert.are.equal(0, H.count(ms[i][2]))
      H.cleanup(ms[i][1])
    end
  end)

  it("what the task leaves running when it exits is ended with it, escapees included", function()
    if not need_cgroup() then return end
    local m = H.sleep_marker()
    local pool <close> = shell { size = 1, cgroup = true }
    local r = pool:submit(("setsid sh -c 'sleep %s &'; while ! pgrep -f '^sleep %s$' >/dev/null; do sleep 0.01; done; echo done"):format(m, m)):wait(10)
    assert.are.equal("ok", r.status)
    assert.are.equal("done\n", r.stdout)
    assert.are.equal(0, H.count(m))
    H.cleanup(m)
  end)

  it("linger = true leaves them alone", function()
    if not need_cgroup() then return end
    local m = H.sleep_marker()
    local pool <close> = shell { size = 1, cgroup = true }
    local r = pool:submit(("setsid sh -c 'sleep %s &'; while ! pgrep -f '^sleep %s$' >/dev/null; do sleep 0.01; done"):format(m, m), { linger = true }):wait(10)
    assert.are.equal("ok", r.status)
    assert.are.equal(1, H.count(m))
    H.cleanup(m)
  end)

  it("runs each task in its own cgroup, removed with it; the parent goes when the pool closes", function()
    if not need_cgroup() then return end
    local m = H.sleep_marker()
    local dirs, parent = {}, nil
    do
      local pool <close> = shell { size = 2, cgroup = true }
      local fs = { pool:submit("exec sleep " .. m), pool:submit("exec sleep " .. m) }
      assert.is_true(H.poll(function() return H.count(m) == 2 end, 10))
      for i, f in ipairs(fs) do
        dirs[i] = task_dir(f.pid)
        assert.is_string(dirs[i])
        assert.is_true(isdir(dirs[i]))
      end
      assert.are_not.equal(dirs[1], dirs[2])
      parent = dirs[1]:match("^(.*)/task%-%d+$")
      assert.are.equal(parent, dirs[2]:match("^(.*)/task%-%d+$"))
      assert.matches("/corral%-" .. core.getpid() .. "$", parent)
      fs[1]:cancel()
      assert.are.equal("cancelled", fs[1]:wait(10).status)
      assert.is_false(isdir(dirs[1]))           -- removed once empty
      assert.is_true(isdir(parent))
      fs[2]:cancel()
    end
    assert.is_false(isdir(dirs[2]))
    assert.is_false(isdir(parent))              -- the last pool closed
  end)

  it("a second cancel goes straight to cgroup.kill", function()
    if not need_cgroup() then return end
    local m = H.sleep_marker()
    local pool <close> = shell { size = 1, cgroup = true, termseq = "TERM,5000,KILL" }
    local f = pool:submit(("trap '' TERM; setsid sh -c 'trap \"\" TERM; sleep %s & wait' & exec sleep %s"):format(m, m))
    assert.is_true(H.poll(function() return H.count(m) == 2 end, 10))
    local t0 = core.now()
    f:cancel()
    H.poll(function() return false end, 0.1)
    f:cancel()
    assert.are.equal("cancelled", f:wait(10).status)
    assert.is_true(core.now() - t0 < 1)
    assert.are.equal(0, H.count(m))
    H.cleanup(m)
  end)

  it("the lifeline kills the cgroups of an owner killed by SIGKILL and removes them", function()
    if not need_cgroup() then return end
    local m = H.sleep_marker()
    local c = H.run_script("cgroup_owner.lua", "marker-" .. m)   -- not m: the script is no escapee
    assert.is_true(c:expect("ready", 1, 20) or #c.lines > 0)
    local line = c.lines[1] or ""
    local rel = line:match("^ready 0::(.*)$")
    assert.is_string(rel, line)
    assert.are.equal(1, H.count(m))
    local t0 = core.now()
    assert.is_true(core.kill(c.pid, "KILL"))
    c:wait(5)
    assert.is_true(H.poll(function() return H.count(m) == 0 end, 1.5), "escapee survived")
    assert.is_true(core.now() - t0 < 1.5)
    local parents = cgroup.parent_paths(c.pid)
    assert.is_true(H.poll(function()
      for _, p in ipairs(parents) do if isdir(p) then return false end end
      return true
    end, 2))
    H.cleanup(m)
  end)
end)

describe("the lifeline and an owner whose cgroup tasks have all ended", function()
  it("removes the owner's parent cgroup when the owner is SIGKILLed", function()
    if not need_cgroup() then return end
    local c = H.run_script("cgroup_owner.lua", "marker-none", "idle")
    assert.is_true(c:expect("ready idle", 1, 20), table.concat(c.lines, "\n"))
    local parents = cgroup.parent_paths(c.pid)
    local found = false
    for _, p in ipairs(parents) do found = found or isdir(p) end
    assert.is_true(found, "no parent cgroup while the pool is open")
    assert.is_true(core.kill(c.pid, "KILL"))
    c:wait(5)
    assert.is_true(H.poll(function()
      for _, p in ipairs(parents) do if isdir(p) then return false end end
      return true
    end, 2), "the parent cgroup was left behind")
  end)
end)

describe("cgroup = true where it is impossible", function()
  local function run_with_root(mode)
    local code = ([[local corral = require "corral"
      local pool <close> = corral.pool { size = 1, cgroup = %s }
      local r = pool:submit("echo hi"):wait()
      io.write(r.status, "|", tostring(r.error), "|", tostring(r.stdout))]]):format(mode)
    local p = io.popen(("CORRAL_CGROUP_ROOT=/nonexistent lua5.4 -e %q 2>&1"):format(code))
    local out = p:read("a")
    p:close()
    return out
  end

  it("gives a record with status 'error' saying why (CORRAL_CGROUP_ROOT=/nonexistent)", function()
    local out = run_with_root("true")
    assert.matches("^error|cgroup = true: cannot create /nonexistent/corral%-%d+: No such file or directory|nil$", out)
  end)

  it("cgroup = \"auto\" runs the task without one", function()
    assert.are.equal("ok|nil|hi\n", run_with_root('"auto"'))
  end)

  it("a bad value raises", function()
    assert.has_error(function() shell { cgroup = "yes" } end,
      "bad option 'cgroup' to 'pool' (true | false | \"auto\" expected, got \"yes\")")
    assert.has_error(function() corral.pool { executor = "lua", cgroup = true } end,
      "bad option 'cgroup' to 'pool' (command pools only: shell, exec)")
  end)
end)

describe("limits", function()
  it("memory: a task allocating past the limit is OOM-killed and the record says so", function()
    if why_no_memory then pending(why_no_memory) return end
    local pool <close> = shell { size = 1 }
    local limit = 64 * 2^20
    -- tail keeps the (endless) last line of /dev/zero in memory
    local r = pool:submit("exec tail /dev/zero", { limits = { memory = limit } }):wait(30)
    assert.are.equal("signaled", r.status)
    assert.are.equal("KILL", r.signal)
    assert.is_true(r.oom)
    assert.are.equal(("out of memory (limit %d bytes)"):format(limit), r.error)
    -- in a pipeline the shell outlives the killed process: its code, and oom all the same
    r = pool:submit("head -c 500M /dev/zero | tail", { limits = { memory = limit } }):wait(30)
    assert.are.equal("failed", r.status)
    assert.are.equal(137, r.code)
    assert.is_true(r.oom)
    -- under the limit: nothing to say
    r = pool:submit("head -c 10M /dev/zero | tail | wc -c", { limits = { memory = limit }, cgroup = "auto" }):wait(30)
    assert.are.equal("ok", r.status)
    assert.is_nil(r.oom)
    assert.is_nil(r.error)
  end)

  it("cpu: a busy loop ends within a few seconds with XCPU", function()
    local pool <close> = shell { size = 1, limits = { cpu = 1 } }
    local r = pool:submit("while :; do :; done"):wait(10)
    assert.are.equal("signaled", r.status)
    assert.are.equal("XCPU", r.signal)
    assert.is_true(r.duration < 3)
    -- a process that ignores XCPU gets KILL a second later
    r = pool:submit("trap '' XCPU; while :; do :; done"):wait(10)
    assert.are.equal("signaled", r.status)
    assert.are.equal("KILL", r.signal)
  end)

  it("nofile: a shell that opens many fds fails", function()
    local pool <close> = shell { size = 1 }
    local script = "for i in 3 4 5 6 7 8 9; do eval \"exec $i</dev/null\" || exit 9; done"
    local r = pool:submit(script, { limits = { nofile = 8 } }):wait(10)
    assert.are.equal("failed", r.status)
    assert.matches("Too many open files", r.stderr, 1, true)
    assert.are.equal("ok", pool:submit(script):wait(10).status)
  end)

  it("as: allocation fails past the address-space limit", function()
    local pool <close> = shell { size = 1 }
    local r = pool:submit("exec tail /dev/zero", { limits = { as = 64 * 2^20 } }):wait(30)
    assert.are.equal("failed", r.status)
    assert.matches("memory exhausted", r.stderr, 1, true)
  end)

  it("a task's limits are merged over the pool's", function()
    local pool <close> = shell { size = 1, limits = { nofile = 100, cpu = 50 } }
    local r = pool:submit("ulimit -n; ulimit -t", { limits = { nofile = 20 } }):wait(10)
    assert.are.equal("20\n50\n", r.stdout)
  end)

  it("bad limits raise", function()
    assert.has_error(function() shell { limits = { nofiles = 3 } } end,
      "bad option 'limits' to 'pool' (unknown limit nofiles)")
    assert.has_error(function() shell { limits = { cpu = -1 } } end,
      "bad option 'limits' to 'pool' (cpu: positive number expected)")
  end)
end)

describe("the clone3 child (tasks with a cgroup or limits)", function()
  local function pool() return corral.pool { executor = "exec", size = 1, limits = { nofile = 64 } } end

  it("gives the same error records as posix_spawn", function()
    local p <close> = pool()
    local r = p:submit({ "/no/such/program" }):wait()
    assert.are.equal("error", r.status)
    assert.matches("/no/such/program: No such file or directory", r.error, 1, true)
    r = p:submit({ "true" }, { cwd = "/no/such/dir" }):wait()
    assert.are.equal("error", r.status)
    assert.matches("cwd '/no/such/dir': No such file or directory", r.error, 1, true)
    assert.are.equal("ok", p:submit({ "true" }):wait().status)
  end)

  it("starts the command as posix_spawn does: fds 0-2, own group, default signals, empty mask", function()
    local leak = assert(io.open("/etc/hostname"))
    local p <close> = pool()
    local r = p:submit { "sh", "-c", "ls /proc/$$/fd; cut -d' ' -f5 /proc/$$/stat" }:wait()
    leak:close()
    assert.are.equal(("0\n1\n2\n%d\n"):format(r.pid), r.stdout)
    -- the command's own mask and ignored set (a shell's would show its own doings)
    r = p:submit { "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status" }:wait()
    assert.are.equal("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", r.stdout)
  end)

  for _, how in ipairs { true, "fork" } do
    it("core.spawn{ clone = " .. tostring(how) .. " }: stdio, env, cwd, fds, setsid and errors", function()
      local rd, wr = core.pipe()
      local pid, pidfd, _, out = core.spawn {
        argv = { "sh", "-c", "echo $X; pwd; echo via3 >&3; cut -d' ' -f6 /proc/$$/stat" },
        env = { "X=1" }, cwd = "/tmp", stdout = "pipe", fds = { [3] = wr }, setsid = true, clone = how,
      }
      assert.is_number(pid, pidfd)
      core.close(wr)
      core.set_blocking(out, true); core.set_blocking(rd, true)
      local text = ""
      repeat local d = core.read(out); text = text .. (d or "") until not d or d == ""
      assert.are.equal(("1\n/tmp\n%d\n"):format(pid), text)
      assert.are.equal("via3\n", core.read(rd))
      local code
      repeat code = core.reap(pidfd) until code ~= false
      assert.are.equal(0, code)
      core.close(out); core.close(rd); core.close(pidfd)
      local ok, msg = core.spawn { argv = { "/no/such" }, clone = how }
      assert.is_nil(ok)
      assert.are.equal("/no/such: No such file or directory", msg)
      ok, msg = core.spawn { argv = { "true" }, cwd = "/no/dir", clone = how }
      assert.are.equal("cwd '/no/dir': No such file or directory", msg)
      ok, msg = core.spawn { argv = { "true" }, rlimits = { nofile = 1 << 40 } }
      assert.matches("^spawn: rlimits: ", msg)
    end)
  end
end)
