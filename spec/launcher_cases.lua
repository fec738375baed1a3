-- Command-pool behaviour that must be the same whatever the launcher: one set of cases,
-- defined by cases(launcher, opts) inside a spec file (spec/launch/local_spec runs them with "local",
-- spec/slurm/launcher_spec with "slurm"). Load it with the spec file's environment (busted's describe, it
-- and assert live there): loadfile(H.root .. "/spec/launcher_cases.lua", "t", _ENV)(). opts.skip(): called at the start of each case (a spec with no
-- cluster marks them pending); opts.size: pool size for the parallel cases; opts.options(o):
-- adds launcher options to each pool's (spec/slurm/agents_spec: slurm = { agents = true });
-- opts.codes: the exit codes to try (default all of 0-255).
local corral = require "corral"
local H = require "helpers"

return function(launcher, opts)
  opts = opts or {}
  local skip = opts.skip or function() end
  local size = opts.size or 2

  local function pool(o)
    o = o or {}
    o.executor = o.executor or "shell"
    o.launcher = launcher
    o.size = o.size or size
    if opts.options then opts.options(o) end
    return corral.pool(o)
  end

  describe("launcher " .. launcher .. ": outcome records", function()
    it("records every exit code 0-255 exactly", function()
      skip()
      local p <close> = pool()
      local fs, codes = {}, opts.codes
      if not codes then codes = {}; for code = 0, 255 do codes[#codes + 1] = code end end
      for _, code in ipairs(codes) do fs[code] = p:submit("exit " .. code) end
      for _, code in ipairs(codes) do
        local r = fs[code]:wait()
        assert.are.equal(code, r.code)
        assert.are.equal(code == 0 and "ok" or "failed", r.status)
        assert.is_nil(r.signal)
      end
    end)

    it("a command killed by a signal is 'signaled' with the signal's name", function()
      skip()
      local p <close> = pool()
      local a, b = p:submit("kill -TERM $$"), p:submit("kill -KILL $$")
      local c = p:submit("kill -USR1 $$")
      assert.are.same({ "signaled", "TERM" }, { a:wait().status, a:wait().signal })
      assert.are.same({ "signaled", "KILL" }, { b:wait().status, b:wait().signal })
      assert.are.equal("USR1", c:wait().signal)
      assert.is_nil(b:wait().code)
    end)

    it("has the record's fields, rusage and captured output", function()
      skip()
      local p <close> = pool { size = 1 }
      local r = p:submit("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo out; printf err >&2"):wait()
      assert.are.equal("ok", r.status)
      assert.are.equal("out\n", r.stdout)
      assert.are.equal("err", r.stderr)
      assert.are.equal(1, r.id)
      assert.are.equal(1, r.attempt)
      assert.is_number(r.pid)
      assert.is_string(r.host)
      assert.is_true(r.start > 1.7e9)
      assert.is_true(r.duration > 0)
      assert.is_true(r.rusage.utime + r.rusage.stime > 0)
      assert.is_true(r.rusage.maxrss > 0)
      assert.are.equal(0, r.values.n)
    end)

    it("captures 3 MiB of binary stdout and stderr in full", function()
      skip()
      local bytes = {}
      for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
      local data = table.concat(bytes):rep(12 * 1024)
      local path = os.tmpname()
      local fh = assert(io.open(path, "wb")); fh:write(data); fh:close()
      local p <close> = pool()
      local r = p:submit("cat " .. path .. "; cat " .. path .. " >&2"):wait()
      os.remove(path)
      assert.are.equal(#data, #r.stdout)
      assert.is_true(r.stdout == data)
      assert.is_true(r.stderr == data)
    end)

    it("takes cwd and env, merged or replaced", function()
      skip()
      local p <close> = pool { size = 1, env = { CORRAL_A = "1" } }
      local r = p:submit("pwd; echo $CORRAL_A$CORRAL_B", { cwd = "/tmp", env = { CORRAL_B = "2" } }):wait()
      assert.are.equal("/tmp\n12\n", r.stdout)
      local c = p:submit("echo ${HOME:-nohome} $X", { clearenv = true, env = { X = "x" } }):wait()
      assert.are.equal("nohome x\n", c.stdout)
    end)

    it("exec tasks run an argv without a shell", function()
      skip()
      local p <close> = pool { executor = "exec" }
      local r = p:submit { "printf", "%s|", "a b", "$HOME", ";" }:wait()
      assert.are.equal("a b|$HOME|;|", r.stdout)
    end)
  end)

  describe("launcher " .. launcher .. ": stopping tasks", function()
    it("a timeout ends the whole tree with status 'timeout'", function()
      skip()
      local m = H.sleep_marker()
      local p <close> = pool { size = 1 }
      local r = p:submit(("sleep %s & sleep %s"):format(m, m), { timeout = 0.5 }):wait()
      assert.are.equal("timeout", r.status)
      assert.are.equal("TERM", r.signal)
      assert.are.equal(0, H.count(m))
      H.cleanup(m)
    end)

    it("cancel of a pending task: it never starts", function()
      skip()
      local m = H.sleep_marker()
      local flag = os.tmpname(); os.remove(flag)
      local p <close> = pool { size = 1 }
      local a = p:submit("exec sleep " .. m)
      local b = p:submit("touch " .. flag)
      assert.are.equal("pending", b:status())
      assert.is_true(b:cancel())
      assert.are.equal("cancelled", b:status())
      assert.is_true(a:cancel())
      assert.are.equal("cancelled", a:wait().status)
      p:join()
      assert.is_nil(io.open(flag))
      assert.is_false(b:cancel())
      assert.are.equal(0, H.count(m))
    end)

    it("cancel of a running 'sleep & sleep': no survivor", function()
      skip()
      local m = H.sleep_marker()
      local p <close> = pool { size = 1 }
      local f = p:submit(("sleep %s & sleep %s"):format(m, m))
      assert.is_true(H.poll(function() return H.count(m) == 2 end))
      assert.is_true(f:cancel())
      local r = f:wait()
      assert.are.equal("cancelled", r.status)
      assert.are.equal("TERM", r.signal)
      assert.are.equal(0, H.count(m))
      assert.is_false(f:cancel())
      H.cleanup(m)
    end)

    it("kill sends one signal; the record shows what followed", function()
      skip()
      local p <close> = pool { executor = "exec", size = 1 }
      local f = p:submit { "sleep", "30" }
      assert.is_true(H.poll(function() return f:status() == "running" end))
      assert.is_true(f:kill("USR1"))
      local r = f:wait()
      assert.are.equal("signaled", r.status)
      assert.are.equal("USR1", r.signal)
      assert.is_false(f:kill())
    end)

    it("terminate leaves no survivor of running 'sleep & sleep' trees", function()
      skip()
      local m = H.sleep_marker()
      local p = pool()
      local fs = {}
      for i = 1, size do fs[i] = p:submit(("sleep %s & sleep %s"):format(m, m)) end
      fs[size + 1] = p:submit("exec sleep " .. m)          -- pending
      assert.is_true(H.poll(function() return H.count(m) == 2 * size end, 20))
      p:terminate()
      assert.are.equal(0, H.count(m))
      for _, f in ipairs(fs) do assert.are.equal("cancelled", f:status()) end
      H.cleanup(m)
    end)
  end)

  describe("launcher " .. launcher .. ": pool API", function()
    it("map returns records in order and raises on the first failure", function()
      skip()
      local p <close> = pool()
      local rs = p:map { "sleep 0.2; echo a", "echo b", "echo c" }
      assert.are.same({ "a\n", "b\n", "c\n" }, { rs[1].stdout, rs[2].stdout, rs[3].stdout })
      local ok, e = pcall(p.map, p, { "exit 4", "true" })
      assert.is_false(ok)
      assert.are.equal(4, e.record.code)
    end)

    it("retries run a failing task again, with attempt numbers", function()
      skip()
      local p <close> = pool { size = 1, retries = 1 }
      local r = p:submit("exit 1"):wait()
      assert.are.equal("failed", r.status)
      assert.are.equal(2, r.attempt)
    end)

    it("a missing program or a bad cwd is a record with status 'error'", function()
      skip()
      local p <close> = pool { executor = "exec", size = 1 }
      local r = p:submit({ "/no/such/program" }):wait()
      assert.are.equal("error", r.status)
      assert.matches("/no/such/program: No such file or directory", r.error, 1, true)
      local c = p:submit({ "true" }, { cwd = "/no/such/dir" }):wait()
      assert.are.equal("error", c.status)
      assert.matches("cwd '/no/such/dir'", c.error, 1, true)
      assert.are.equal("ok", p:submit({ "true" }):wait().status)
    end)
  end)
end
