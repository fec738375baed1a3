-- Bad input of the kinds docs/bad-input.md lists that other spec files do not already cover.
local H = require "helpers"
local corral = require "corral"

describe("bad input", function()
  it("fd exhaustion: tasks that cannot get pipes are 'error' records; the pool goes on", function()
    local c = H.start { "sh", "-c", "ulimit -n 30; exec " .. H.root .. "/scripts/corral run "
      .. H.root .. "/spec/scripts/fd_exhaust.lua" }
    assert.are.equal(0, c:wait())
    local out = table.concat(c.lines, "\n")
    local ok, err, total = out:match("ok=(%d+) error=(%d+) total=(%d+)")
    assert.are.equal(40, tonumber(ok) + tonumber(err))    -- every task has its record
    assert.is_true(tonumber(err) > 0 and tonumber(ok) > 0)
    assert.matches("ERR spawn: stdio: Too many open files", out, 1, true)
    assert.matches("AFTER ok", out, 1, true)
  end)

  it("huge values: a frame over the limit is refused at submit, naming it", function()
    local pool <close> = corral.pool { executor = "lua", size = 1 }
    local big = ("x"):rep(300 << 20)
    assert.has_error(function() pool:submit(function(s) return #s end, big) end,
      "bad argument to 'submit' (cannot encode: frame larger than 268435456 bytes)")
    big = nil
    collectgarbage()
    assert.are.equal(3, pool:submit(function(s) return #s end, "abc"):result())
  end)

  it("a torn last journal line is skipped on read", function()
    local path = os.tmpname()
    local f = io.open(path, "w")
    f:write('{"id":1,"status":"ok"}\n{"id":2,"sta')
    f:close()
    local recs = require("corral.joblog").read(path)
    assert.are.equal(1, #recs)
    os.remove(path)
  end)
end)

-- The command line as a newcomer meets it: every mistake ends in one line on stderr naming it.
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local ROOT = io.popen("cd " .. q(H.root) .. " && pwd"):read("l")   -- the tests change directory
local CORRAL = ROOT .. "/scripts/corral"

-- cli(cmd [, stdin_text], dir) -> stdout, stderr, exit code of `sh -c cmd`, run in dir
local function cli(cmd, input, dir)
  local base = H.tmpname()
  if input then
    local f = assert(io.open(base .. ".in", "w"))
    f:write(input)
    f:close()
  end
  local ok, how, code = os.execute(("cd %s && (%s) <%s >%s 2>%s"):format(q(dir or "/"), cmd,
    input and q(base .. ".in") or "/dev/null", q(base .. ".out"), q(base .. ".err")))
  local function slurp(p)
    local f = io.open(p)
    local s = f and f:read("a") or ""
    if f then f:close() end
    os.remove(p)
    return s
  end
  os.remove(base .. ".in")
  code = how == "exit" and code or 128 + code
  assert(ok or code ~= 0)
  return slurp(base .. ".out"), slurp(base .. ".err"), code
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("the corral command, given bad input", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. q(dir)) end)

  it("joblog, report and status of a directory: one line naming it", function()
    local _, err, code = cli(CORRAL .. " joblog /etc")
    assert.are.same({ "corral joblog: /etc: Is a directory\n", 1 }, { err, code })
    for _, c in ipairs { "report", "status" } do
      _, err, code = cli(CORRAL .. " " .. c .. " /etc")
      assert.are.same({ "corral " .. c .. ": /etc: Is a directory\n", 2 }, { err, code })
    end
  end)

  it("a journal with absurd numbers and control bytes: each tool reads on, nothing raises", function()
    -- the values that broke them: os.date of 1e300, a NaN table key, %-5s of a NUL
    local j = dir .. "/run.jsonl"
    write(j, table.concat({
      '{"id":1,"name":"a","status":"ok","start":1e300,"duration":1}',
      '{"id":2,"name":"b","status":"ok","start":NaN,"duration":1}',
      '{"id":3,"name":"c","status":"failed","code":1,"start":1700000000,"duration":Infinity}',
      '{"id":4,"name":"d","status":"ok","start":1700000000,"duration":1,"rusage":{"utime":1e300}}',
      '{"id":"\\u0000","name":"e\\u0000","status":"\\u0000","code":"\\u0000","start":1700000001,"duration":2}',
      '{"event":"start","id":5,"name":"f","attempt":1e300,"start":-1e300}',
      '{"id":6,"name":"g","status":"ok","start":1700000002,"duration":1}',
    }, "\n") .. "\n")
    local out, err, code = cli(CORRAL .. " report run.jsonl -o run.html", nil, dir)
    assert.are.same({ "", 0 }, { err, code })
    assert.matches("run.jsonl: 3 attempts of 3 jobs -> run.html", out, 1, true)  -- 4 lines unreadable
    out, err, code = cli(CORRAL .. " status run.jsonl", nil, dir)
    assert.are.same({ "", 0 }, { err, code })
    assert.matches("done 3", out, 1, true)
    out, err, code = cli(CORRAL .. " joblog run.jsonl", nil, dir)
    assert.are.same({ "", 0 }, { err, code })
    assert.matches("#?     ?         exit ?", out, 1, true)   -- the NULs, shown as ?
  end)

  it("an unexpected error inside a subcommand is one line, exit 70", function()
    -- a stand-in for a bug: the interpreter corral runs preloads a broken corral.cli.status
    local lua = dir .. "/lua"
    write(lua, "#!/bin/sh\nexec lua5.4 -e 'package.preload[\"corral.cli.status\"] = function() "
      .. "return { main = function() local t = nil; return t.x end } end' \"$@\"\n")
    assert(os.execute("chmod +x " .. q(lua)))
    local _, err, code = cli("CORRAL_LUA=" .. q(lua) .. " " .. CORRAL .. " status x.jsonl")
    assert.are.equal(70, code)
    assert.matches("^corral status: internal error: %(command line%):1: attempt to index a nil value %(local 't'%)\n$", err)
  end)

  it("corral run - reads the script from stdin; its errors name stdin:LINE in one line", function()
    local out, err, code = cli(CORRAL .. " run - a b", 'print(arg[0], ...)\n'
      .. 'local corral = require "corral"\n'
      .. 'local p <close> = corral.pool { size = 1 }\n'
      .. 'io.write(p:submit("echo from a task"):wait().stdout)\n'
      .. 'error("stops here")\n')
    assert.are.same({ "-\ta\tb\nfrom a task\n", "corral: stdin:5: stops here\n", 1 }, { out, err, code })
    _, err, code = cli(CORRAL .. " run -", "print(\n")
    assert.are.same({ "corral: stdin:2: unexpected symbol near <eof>\n", 1 }, { err, code })
  end)

  it("an error deeper in the script: the message, then only the script's own frames", function()
    write(dir .. "/deep.lua", 'local function f() error("boom") end\nlocal function g() f() end\ng()\n')
    local _, err, code = cli(CORRAL .. " run deep.lua", nil, dir)
    assert.are.equal(1, code)
    assert.are.equal("corral: deep.lua:1: boom\nthe script's frames:\n\tdeep.lua:1: in function 'f'\n"
      .. "\tdeep.lua:2: in function 'g'\n\tdeep.lua:3: in main chunk\n", err)
  end)

  it("scripts/examples/wordcount.lua resumes from ./wordcount.jsonl, its stable default journal", function()
    assert(os.execute("mkdir " .. q(dir .. "/in")))
    write(dir .. "/in/one's", "a b c\n")
    write(dir .. "/in/$(two)", "d e\n")
    local wc = CORRAL .. " run " .. q(ROOT .. "/scripts/examples/wordcount.lua") .. " in"
    local out, err, code = cli(wc, nil, dir)
    assert.are.equal(0, code, err)
    assert.matches("^5 words in 2 files %(journal: wordcount.jsonl%)\n", out)
    local before = H.lines(dir .. "/wordcount.jsonl")
    assert.is_true(#before > 0)
    out, err, code = cli(wc, nil, dir)            -- again: nothing reruns, one run event more
    assert.are.equal(0, code, err)
    assert.matches("^5 words in 2 files", out)
    local after = H.lines(dir .. "/wordcount.jsonl")
    assert.are.equal(#before + 1, #after)
    assert.matches('"event":"run"', after[#after], 1, true)
    assert.matches('"total":0', after[#after], 1, true)
  end)
end)

describe("a task that cannot start", function()
  it("names the path that failed: stdin, stdout, stderr file, cwd, or the program", function()
    local pool <close> = corral.pool { size = 2 }
    local function err_of(opts, cmd) return pool:submit(cmd or "true", opts):wait().error end
    assert.are.equal("stdin '/no/such/in': No such file or directory", err_of { stdin = "/no/such/in" })
    assert.are.equal("stdout '/no/such/dir/out': No such file or directory", err_of { stdout = "/no/such/dir/out" })
    assert.are.equal("stderr '/no/such/dir/err': No such file or directory", err_of { stderr = "/no/such/dir/err" })
    assert.are.equal("cwd '/no/such/cwd': No such file or directory", err_of { cwd = "/no/such/cwd" })
    assert.are.equal("cwd '/etc/passwd': Not a directory", err_of { cwd = "/etc/passwd" })
    local ex <close> = corral.pool { executor = "exec", size = 1 }
    local r = ex:submit({ "/no/such/prog" }, { stdin = "/etc/passwd", cwd = "/" }):wait()
    assert.are.same({ "error", "/no/such/prog: No such file or directory" }, { r.status, r.error })
  end)

  it("names it on both spawn paths (posix_spawn, and clone for cgroups and rlimits)", function()
    local core = require "corral.core"
    local out = H.tmpname()
    for _, clone in ipairs { false, true } do
      local function fails(opts)
        opts.argv, opts.clone = opts.argv or { "/bin/true" }, clone or nil
        local ok, msg, errno = core.spawn(opts)
        assert.is_nil(ok)
        assert.is_number(errno)
        return msg
      end
      assert.are.equal("stdin '/no/such/in': No such file or directory", fails { stdin = { path = "/no/such/in" } })
      assert.are.equal("stderr '/no/such/d/e': No such file or directory",
        fails { stdout = { path = out }, stderr = { path = "/no/such/d/e" } })
      assert.are.equal("cwd '/no/such/cwd': No such file or directory", fails { cwd = "/no/such/cwd" })
      assert.are.equal("/no/such/prog: No such file or directory",
        fails { argv = { "/no/such/prog" }, stdout = { path = out }, cwd = "/" })
    end
    os.remove(out)
  end)
end)

describe("a mistake in a job script", function()
  local HERE = debug.getinfo(1, "S").short_src
  -- raises(fn) -> the message fn raised, after checking it points at the line that called fn's
  -- corral function (fn is written on one line: that is the line of the call)
  local function raises(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    local line = debug.getinfo(fn, "S").linedefined
    local prefix = ("%s:%d: "):format(HERE, line)
    assert.are.equal(prefix, tostring(err):sub(1, #prefix), err)
    return tostring(err):sub(#prefix + 1)
  end

  it("is reported at the script's line by corral run, in one line", function()
    local dir = H.tmpdir()
    local cases = {
      { "corral.pool { size = 0 }", "bad option 'size' to 'pool' (positive integer expected, got 0)" },
      { 'corral.workflow { halt = "bad" }', "bad halt 'bad' (expected \"now|soon,fail|success|done=N[%]\")" },
      { "corral.workflow { timeout = -1 }",
        "bad option 'timeout' to 'workflow' (positive number of seconds expected, got -1)" },
      { "corral.workflow { retries = 1.5 }",
        "bad option 'retries' to 'workflow' (non-negative integer expected, got 1.5)" },
    }
    for _, c in ipairs(cases) do
      write(dir .. "/job.lua", 'local corral = require "corral"\nlocal x = ' .. c[1] .. '\nx:run()\n')
      local _, err, code = cli(CORRAL .. " run job.lua", nil, dir)
      assert.are.same({ "corral: job.lua:2: " .. c[2] .. "\n", 1 }, { err, code })
    end
    os.execute("rm -rf " .. q(dir))
  end)

  it("options a pool would accept and ignore are refused, naming the option and why", function()
    local lua_only = 'lua pools only: executor = "lua"'
    local cases = {
      { function() corral.pool { name = "x" } end, "name", "a task's name: give it to submit" },
      { function() corral.pool { start = "fork" } end, "start", lua_only },
      { function() corral.pool { executor = "exec", maxtasks = 2 } end, "maxtasks", lua_only },
      { function() corral.pool { init = "m.f" } end, "init", lua_only },
      { function() corral.pool { interpreter = "lua5.4" } end, "interpreter", lua_only },
      { function() corral.pool { executor = "lua", stdout = "capture" } end, "stdout",
        'lua pools cannot capture, workers write to it directly: "inherit" (the default), "null", a path or an fd' },
      { function() corral.pool { executor = "lua", stderr = "capture" } end, "stderr",
        'lua pools cannot capture, workers write to it directly: "inherit" (the default), "null", a path or an fd' },
      { function() corral.pool { executor = "lua", stdin = "inherit" } end, "stdin", "a lua worker's stdin is /dev/null" },
      { function() corral.pool { executor = "lua", setsid = true } end, "setsid", "command pools only: shell, exec" },
      { function() corral.pool { executor = "lua", cgroup = true } end, "cgroup", "command pools only: shell, exec" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(("bad option '%s' to 'pool' (%s)"):format(c[2], c[3]), raises(c[1]))
    end
    -- what a lua pool does take for its workers' output still works
    local p <close> = corral.pool { executor = "lua", size = 1, stdout = "null", stderr = "inherit" }
    assert.are.equal(4, p:submit(function() print("not seen"); return 4 end):result())
  end)

  it("workflow and job options fail when made, at the caller's line, naming the option", function()
    assert.are.equal("bad option 'timeout' to 'workflow' (positive number of seconds expected, got -1)",
      raises(function() corral.workflow { timeout = -1 } end))
    assert.are.equal("bad option 'jobs' to 'workflow' (positive integer expected, got 0)",
      raises(function() corral.workflow { jobs = 0 } end))
    assert.are.equal("unknown option 'frob' to 'workflow'", raises(function() corral.workflow { frob = 1 } end))
    local wf = corral.workflow()
    assert.are.equal("bad option 'retries' to 'job' (non-negative integer expected, got 1.5)",
      raises(function() wf:job("a", { shell = "true", retries = 1.5 }) end))
    assert.are.equal("bad argument to 'job' (job 'b' needs exactly one of cmd, shell, fn)",
      raises(function() wf:job("b", {}) end))
    wf:job("c", { shell = "true", after = { "nope" } })
    assert.are.equal("workflow: job 'c' depends on unknown job 'nope'", raises(function() wf:run() end))
  end)

  it("f:kill with an unknown signal, running or not, at the caller's line", function()
    local pool <close> = corral.pool { executor = "shell", size = 1 }
    local f = pool:submit("exec sleep 30")
    local g = pool:submit("true")                          -- pending behind f
    assert.are.equal("bad argument #1 to 'kill' (unknown signal 'BOGUS')", raises(function() f:kill("BOGUS") end))
    assert.are.equal("bad argument #1 to 'kill' (unknown signal 'BOGUS')", raises(function() g:kill("BOGUS") end))
    assert.are.equal("bad argument #1 to 'kill' (signal number out of range)", raises(function() f:kill(-1) end))
    assert.is_true(f:kill("TERM"))
    assert.are.equal("TERM", f:wait().signal)
  end)

  it("deep inside the script's own functions, or called through pcall, the line is still the caller's", function()
    -- (no tail calls: a tail call leaves no frame of its caller to point at, as in Lua itself)
    local function make(n) local p = corral.pool { size = n }; return p end
    local line = debug.getinfo(1, "l").currentline - 1
    local ok, err = pcall(function() local p = make(0); return p end)
    assert.is_false(ok)
    assert.matches("^" .. HERE:gsub("%p", "%%%0") .. ":" .. line .. ": bad option 'size'", err)
    ok, err = pcall(corral.pool, { size = 0 })              -- a C function calls corral.pool
    line = debug.getinfo(1, "l").currentline - 1
    assert.matches("^" .. HERE:gsub("%p", "%%%0") .. ":" .. line .. ": bad option 'size'", err)
  end)
end)
