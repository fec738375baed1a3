-- Command pools with real processes, on this machine: the command's environment, terminate,
-- a task's process group, bad input, retries, map and friends, futures, a host's loop.
-- Outcomes, output, timeouts, cancel and kill are in launcher_cases.lua (spec/launch/local_spec runs
-- them here; spec/slurm/launcher_spec on a cluster).
local corral = require "corral"
local H = require "helpers"

local function shell(opts)
  opts = opts or {}
  opts.executor = opts.executor or "shell"
  return corral.pool(opts)
end

describe("the command's environment", function()
  it("sees only fds 0-2", function()
    local leak = assert(io.open("/etc/hostname"))      -- an fd without close-on-exec
    local pool <close> = corral.pool { executor = "exec", size = 1 }
    local r = pool:submit { "sh", "-c", "ls /proc/$$/fd" }:wait()
    leak:close()
    assert.are.equal("0\n1\n2\n", r.stdout)
  end)

  it("runs in its own process group", function()
    local pool <close> = corral.pool { executor = "exec", size = 1 }
    local r = pool:submit { "sh", "-c", "cut -d' ' -f5 /proc/$$/stat" }:wait()
    assert.are.equal(r.pid, tonumber(r.stdout))
    assert.are_not.equal(corral.getpgid(), r.pid)
  end)

  it("writes stdout to a file and drops it with null", function()
    local path = os.tmpname()
    local pool <close> = corral.pool { executor = "shell", size = 1 }
    local r = pool:submit("echo to-file", { stdout = path }):wait()
    assert.is_nil(r.stdout)
    local fh = io.open(path); assert.are.equal("to-file\n", fh:read("a")); fh:close()
    os.remove(path)
    assert.is_nil(pool:submit("echo x", { stdout = "null" }):wait().stdout)
  end)
end)

describe("terminate", function()
  it("leaves no survivor of 200 running 'sleep & sleep' trees", function()
    local m = H.sleep_marker()
    local pool = shell { size = 200 }
    local fs = {}
    for i = 1, 200 do fs[i] = pool:submit(("sleep %s & sleep %s"):format(m, m)) end
    assert.is_true(H.poll(function() return H.count(m) == 400 end, 30))
    pool:terminate()
    assert.are.equal(0, H.count(m))
    for i = 1, 200 do assert.are.equal("cancelled", fs[i]:status()) end
    assert.are.equal(200, pool:stats().cancelled)
    assert.has_error(function() pool:submit("true") end, "submit on a closed pool")
    H.cleanup(m)
  end)

  it("<close> on an error terminates the pool", function()
    local m = H.sleep_marker()
    local ok = pcall(function()
      local pool <close> = shell { size = 2 }
      pool:submit("exec sleep " .. m)
      assert(H.poll(function() return H.count(m) == 1 end))
      error("boom")
    end)
    assert.is_false(ok)
    assert.are.equal(0, H.count(m))
  end)
end)

describe("a task owns its process group", function()
  it("what it leaves running ends with it, and a kept stdout does not hang it", function()
    local m = H.sleep_marker()
    local pool <close> = shell { size = 1 }
    local r = pool:submit(("sleep %s & echo done"):format(m)):wait(10)
    assert.are.equal("ok", r.status)
    assert.are.equal("done\n", r.stdout)
    assert.are.equal(0, H.count(m))
  end)

  it("linger = true leaves the rest of the group alone", function()
    local m = H.sleep_marker()
    local pool <close> = shell { size = 1 }
    local r = pool:submit(("sleep %s & echo done"):format(m), { linger = true }):wait(10)
    assert.are.equal("ok", r.status)
    assert.are.equal(1, H.count(m))
    H.cleanup(m)
  end)

  it("an escaped grandchild holding stdout delays the end only briefly", function()
    local m = H.sleep_marker()
    local pool <close> = shell { size = 1 }
    -- the command waits until its child has left the session, then exits at once
    local t0 = require("corral.core").now()
    local r = pool:submit(("setsid sleep %s & while [ \"$(cut -d' ' -f6 /proc/$!/stat)\" = \"$(cut -d' ' -f6 /proc/$$/stat)\" ]; do :; done; echo done"):format(m)):wait(10)
    assert.are.equal("ok", r.status)
    assert.are.equal("done\n", r.stdout)
    assert.is_true(r.duration < 1)
    local waited = require("corral.core").now() - t0    -- the record, not just the exit: the drain
    assert(waited < 2, ("the record came %.2f s after submit"):format(waited))
    assert.are.equal(1, H.count(m))      -- outside the group: survives (cgroup mode catches it)
    H.cleanup(m)
  end)
end)

describe("bad input", function()
  it("bad pool options raise naming the option", function()
    assert.has_error(function() corral.pool { size = 0 } end,
      "bad option 'size' to 'pool' (positive integer expected, got 0)")
    assert.has_error(function() corral.pool { executor = "bogus" } end,
      'bad option \'executor\' to \'pool\' ("shell" | "exec" | "lua" expected, got "bogus")')
    assert.has_error(function() corral.pool { termseq = "TERM,abc" } end,
      "bad option 'termseq' to 'pool' ('TERM,abc': item 2, 'abc', is not a number of milliseconds)")
    assert.has_error(function() corral.pool { termseq = "NOPE" } end,
      "bad option 'termseq' to 'pool' ('NOPE': item 1, 'NOPE', is not a signal)")
    assert.has_error(function() corral.pool { sise = 2 } end, "unknown option 'sise' to 'pool'")
    assert.has_error(function() corral.pool { on_interrupt = "ignore" } end)
  end)

  it("bad tasks raise naming the argument", function()
    local pool <close> = corral.pool { executor = "exec", size = 1 }
    assert.has_error(function() pool:submit { "echo", {} } end,
      "bad argument #1 to 'submit' (argv[2] is table, string expected)")
    assert.has_error(function() pool:submit {} end, "bad argument #1 to 'submit' (argv is empty)")
    assert.has_error(function() pool:submit("echo") end,
      "bad argument #1 to 'submit' (argv table expected, got string)")
    assert.has_error(function() pool:submit({ "true" }, { timeout = -1 }) end,
      "bad option 'timeout' to 'submit' (positive number of seconds expected, got -1)")
    local sh <close> = shell { size = 1 }
    assert.has_error(function() sh:submit { "true" } end,
      "bad argument #1 to 'submit' (shell command string expected, got table)")
  end)
end)

describe("retries", function()
  it("run a failing task again, with attempt numbers", function()
    local pool <close> = shell { size = 1, retries = 2 }
    local r = pool:submit("exit 1"):wait()
    assert.are.equal("failed", r.status)
    assert.are.equal(3, r.attempt)
    local flag = os.tmpname(); os.remove(flag)
    local s = pool:submit(("test -e %s && exit 0; touch %s; exit 1"):format(flag, flag)):wait()
    os.remove(flag)
    assert.are.equal("ok", s.status)
    assert.are.equal(2, s.attempt)
  end)
end)

describe("map, imap, imap_unordered, as_completed", function()
  it("map returns records in order", function()
    local pool <close> = shell { size = 2 }
    local rs = pool:map { "sleep 0.2; echo a", "echo b", "echo c" }
    assert.are.same({ "a\n", "b\n", "c\n" }, { rs[1].stdout, rs[2].stdout, rs[3].stdout })
  end)

  it("map raises on the first failure after cancelling the rest", function()
    local m = H.sleep_marker()
    local pool <close> = shell { size = 2 }
    local ok, e = pcall(pool.map, pool, { "exit 4", "exec sleep " .. m, "exec sleep " .. m })
    assert.is_false(ok)
    assert.are.equal(corral.Error, getmetatable(e))
    assert.are.equal(4, e.record.code)
    assert.are.equal(0, H.count(m))
  end)

  it("imap yields in order, imap_unordered as they end", function()
    local pool <close> = shell { size = 3 }
    local order = {}
    for i, r in pool:imap { "sleep 0.3; echo 1", "echo 2" } do order[#order + 1] = i .. r.stdout end
    assert.are.same({ "1" .. "1\n", "2" .. "2\n" }, order)
    order = {}
    for i in pool:imap_unordered { "sleep 0.5", "true" } do order[#order + 1] = i end
    assert.are.same({ 2, 1 }, order)
  end)

  it("as_completed yields futures as they end", function()
    local pool <close> = shell { size = 2 }
    local a, b = pool:submit("sleep 0.5"), pool:submit("true")
    local got = {}
    for f in corral.as_completed { a, b } do got[#got + 1] = f end
    assert.are.equal(b, got[1])
    assert.are.equal(a, got[2])
  end)
end)

describe("coroutines", function()
  it("wait yields inside corral.go, so coroutines wait concurrently", function()
    local pool <close> = shell { size = 2 }
    local ended = {}
    corral.go(function()
      pool:submit("sleep 0.4"):wait()
      ended[#ended + 1] = "slow"
    end)
    corral.go(function()
      pool:submit("true"):wait()
      ended[#ended + 1] = "fast"
    end)
    assert.are.same({}, ended)          -- both are waiting, neither blocked the caller
    pool:join()
    assert.are.same({ "fast", "slow" }, ended)
  end)
end)

describe("futures and stats", function()
  it("wait with a timeout returns nil, 'timeout' and leaves the task running", function()
    local pool <close> = corral.pool { executor = "exec", size = 1 }
    local f = pool:submit { "sleep", "5" }
    local r, err = f:wait(0.05)
    assert.is_nil(r)
    assert.are.equal("timeout", err)
    assert.are.equal("running", f:status())
    assert.is_number(f.pid)
    assert.are.equal(f.pid, f.pgid)
    f:cancel()
  end)

  it("result returns the record when ok and raises corral.Error otherwise", function()
    local pool <close> = shell { size = 1 }
    assert.are.equal("hi\n", pool:submit("echo hi"):result().stdout)
    local ok, e = pcall(function() return pool:submit("exit 9"):result() end)
    assert.is_false(ok)
    assert.are.equal(corral.Error, getmetatable(e))
    assert.matches("failed with exit code 9", tostring(e))
  end)

  it("stats counts tasks by state", function()
    local pool <close> = shell { size = 2 }
    pool:submit("true"); pool:submit("exit 1")
    pool:join()
    local s = pool:stats()
    assert.are.equal(2, s.submitted)
    assert.are.equal(1, s.ok)
    assert.are.equal(1, s.failed)
    assert.are.equal(2, s.done)
    assert.are.equal(0, s.running)
  end)
end)

describe("a host's loop", function()
  it("drives corral with pollfd, timeout and step", function()
    local loop = corral.loop()
    assert.is_number(loop:pollfd())
    local pool <close> = shell { size = 1, timeout = 5 }
    local f = pool:submit("true")
    assert.is_true(loop:timeout() > 0)      -- the task's timeout timer
    local n = 0
    while not f:done() do loop:step(0.1); n = n + 1 end
    assert.are.equal("ok", f:status())
  end)
end)

describe("process utilities", function()
  it("report pids and return nil, message, errno for OS failures", function()
    assert.are.equal(corral.getpid(), corral.getpgid(0) == corral.getpid() and corral.getpid() or corral.getpid())
    assert.is_number(corral.getppid())
    local ok, msg, errno = corral.kill(999999, "TERM")
    assert.is_nil(ok)
    assert.matches("No such process", msg)
    assert.are.equal(3, errno)
    assert.has_error(function() corral.kill(1, "NOSUCHSIG") end)
  end)
end)
