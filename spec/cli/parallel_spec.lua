-- corral parallel against the real GNU parallel: the same inputs through both, equal output
-- (with -k), exit status, joblog columns, quoting. Real processes throughout. GNU parallel
-- starts slowly (~150 ms), so each comparison is one run of each.
local H = require "helpers"
local core = require "corral.core"

local CORRAL = H.root .. "/scripts/corral"
local TMP = os.getenv("TMPDIR") or "/tmp"

local slurp, spit = H.slurp, H.spit

local function tmpfile(tag)
  return ("%s/corral-par-%d-%s-%d"):format(TMP, core.getpid(), tag, math.random(1, 1e9))
end

-- sh(cmdline [, stdin_text]) -> { out, err, code, took }
local function sh(cmd, stdin)
  local errf = tmpfile("err")
  local inf
  if stdin then inf = tmpfile("in"); spit(inf, stdin); cmd = cmd .. " < " .. inf end
  local t0 = core.now()
  local p = io.popen(cmd .. " 2>" .. errf, "r")
  local out = p:read("a")
  local _, how, code = p:close()
  local took = core.now() - t0
  local err = slurp(errf) or ""
  os.remove(errf)
  if inf then os.remove(inf) end
  if how == "signal" then code = 128 + code end
  return { out = out, err = err, code = code, took = took }
end

-- Every comparison needs GNU parallel: without it the test is skipped, naming why.
local function gnu(args, stdin)
  if H.gnu_parallel_skip_reason() then pending(H.gnu_parallel_skip_reason()) end
  return sh(H.GNU_PARALLEL .. " --will-cite " .. args, stdin)
end
local function ours(args, stdin) return sh(CORRAL .. " parallel " .. args, stdin) end

-- both(args [, stdin]) -> gnu_result, corral_result
local function both(args, stdin) return gnu(args, stdin), ours(args, stdin) end

local function same(args, stdin)
  local g, c = both(args, stdin)
  assert.are.equal(g.out, c.out, "stdout of: " .. args)
  assert.are.equal(g.code, c.code, "exit status of: " .. args)
  return g, c
end

-- The job lines of a TSV joblog, by Seq: { seq = { fields... } }
local function joblog(path)
  local text = assert(slurp(path), "no joblog " .. path)
  local header = text:match("^([^\n]*)\n")
  local rows = {}
  for line in text:gmatch("([^\n]*)\n") do
    if line ~= header then
      local f = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
      rows[tonumber(f[1])] = f
    end
  end
  return header, rows
end

describe("corral parallel, compared with GNU parallel", function()
  it("cross products in GNU order, -k output equal", function()
    same("-k echo ::: a b ::: 1 2 3")
    same("-k -j3 echo {2}-{1} ::: a b c ::: 1 2 ::: x")
    same("-k echo {#} {} ::: a b ::: 'c d' e")
  end)

  it("--dry-run: replacement strings and quoting are GNU's", function()
    same("-k --dry-run echo {} {.} {/} {//} {/.} ::: /d/sub/f.tar.gz f.tar.gz .hid a.b/c dir/ / '' 'a b/c d.e'")
    same([[-k --dry-run echo {} ::: '' "x'" "'x" "it's" "it''s" 'é' 'a~' 'a,b' 'a:b' 'a=b' -x a+b 'a	b' '$(id)' '`id`' 'a"b' '\\']])
    same("-k --dry-run -j3 echo {#} {%} {2} {1} {-1} {3} {1/} {2.} ::: a/b.c ::: x.y/z.w")
    same("-k --dry-run {} ::: 'echo hi; echo there'")          -- the command is the input
    same("-k --dry-run '{} {}' 'x{}y' ::: 'a b'")
    same("-k --dry-run 'V={} echo' ::: 'c d'")                  -- '=' ends the command word
    same("-k --dry-run -q echo 'a b' 'x{}y' ::: 'c d' ::: e")
    same("-k --dry-run echo {foo} ::: a")                       -- not a replacement string
    same("-k --dry-run --tag echo ::: a 'b c'")
  end)

  it("an argument never runs as a command, in either tool", function()
    local marker = tmpfile("touched")
    local g, c = same(("-k echo {} ::: 'a; touch %s' '$(touch %s)' \"it's\""):format(marker, marker))
    assert.are.equal("a; touch " .. marker .. "\n$(touch " .. marker .. ")\nit's\n", c.out)
    assert.is_nil(slurp(marker), "something ran touch")
    assert.are.equal(g.out, c.out)
  end)

  it("exit status: the number of failed jobs, 101 for more than 100", function()
    local g, c = same("-k 'exit {}' ::: 0 1 2 3")
    assert.are.equal(3, c.code)
    same("-k -j4 'exit {}' ::: 0 1 0")
    local args = {}
    for i = 1, 102 do args[i] = tostring(i % 3 + 1) end
    g, c = same("-j8 'exit {}' ::: " .. table.concat(args, " "))
    assert.are.equal(101, c.code)
    same("'kill -9 $$' ::: 1")                                  -- a signal counts as a failure
  end)

  it("--halt: exit status as GNU's", function()
    local _, c = same("-k -j1 --halt now,fail=1 'echo {}; exit {}' ::: 0 7 0")
    assert.are.equal(7, c.code)
    _, c = same("-k -j1 --halt soon,fail=2 'echo {}; exit {}' ::: 0 3 4 5 0")
    assert.are.equal(2, c.code)
    same("-k -j1 --halt soon,fail=50% 'exit {}' ::: 1 2 0 0")
    same("-k -j1 --halt soon,fail=50% 'exit {}' ::: 1 0 0 0")
    same("-k -j1 --halt now,success=1 'echo {}; exit {}' ::: 1 0 1")
    same("-k -j1 --halt now,done=2 'exit {}' ::: 1 2 3")
    same("-k -j1 --halt 2 'exit {}' ::: 0 5 0")
    same("-j1 --halt now,fail=1 'kill -9 $$' ::: 1")           -- 128 + signal, as bash says
  end)

  it("--joblog: GNU's header, columns, Exitval, Signal and Command", function()
    local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
    local cmd = "-j2 --joblog %s 'echo out {}; case {} in k) kill -9 $$;; *) exit {};; esac' ::: 0 1 3 k 'a b'"
    local g = gnu(cmd:format(gl))
    local c = ours(cmd:format(cl))
    assert.are.equal(g.code, c.code)
    local gh, grows = joblog(gl)
    local ch, crows = joblog(cl)
    assert.are.equal("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand", ch)
    assert.are.equal(gh, ch)
    for seq = 1, 5 do
      local a, b = grows[seq], crows[seq]
      assert.are.equal(#a, #b)
      assert.are.equal(9, #b)
      assert.are.same({ a[2], a[5], a[6], a[7], a[8], a[9] }, { b[2], b[5], b[6], b[7], b[8], b[9] })
      assert.is_truthy(b[3]:match("^%d+%.%d%d%d$"), b[3])
      assert.is_truthy(b[4]:match("^ +%d+%.%d%d%d$") and #b[4] == 10, b[4])
      assert.is_true(math.abs(tonumber(b[3]) - os.time()) < 60)
    end
    os.remove(gl); os.remove(cl)
  end)

  it("--timeout ends a sleep: exit status and joblog as GNU's", function()
    local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
    local cmd = "-k --timeout 0.3 --joblog %s 'echo start {}; sleep {}; echo end {}' ::: 0.05 7"
    local g = gnu(cmd:format(gl))
    local c = ours(cmd:format(cl))
    assert.are.equal(g.out, c.out)
    assert.are.equal(g.code, c.code)
    assert.are.equal(1, c.code)
    assert.is_true(c.took < 1.5, "took " .. c.took)             -- GNU checks only every second
    local _, grows = joblog(gl)
    local _, crows = joblog(cl)
    for seq = 1, 2 do
      assert.are.same({ grows[seq][7], grows[seq][8] }, { crows[seq][7], crows[seq][8] })
    end
    assert.are.same({ "-1", "15" }, { crows[2][7], crows[2][8] })
    assert.is_truthy(c.err:match("timed out"))
    os.remove(gl); os.remove(cl)
    assert.is_true(ours("--timeout 1.5m true ::: 1").code == 0)
    assert.are.equal(255, ours("--timeout 5x true ::: 1").code)
  end)

  it("--resume skips what the joblog has; --resume-failed reruns the failures", function()
    local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
    local steps = {
      "-k -j1 --joblog %s 'echo {}; exit {}' ::: 0 1 0 2",
      "-k -j1 --resume --joblog %s 'echo {}; exit {}' ::: 0 1 0 2 0 3",
      "-k -j1 --resume-failed --joblog %s 'echo again {}; exit 0' ::: 0 1 0 2 0 3 0",
    }
    for _, step in ipairs(steps) do
      local g = gnu(step:format(gl))
      local c = ours(step:format(cl))
      assert.are.equal(g.out, c.out, step)
      assert.are.equal(g.code, c.code, step)
    end
    local function cols(path)
      local out = {}
      for line in slurp(path):gmatch("([^\n]*)\n") do
        local f = {}
        for x in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = x end
        out[#out + 1] = table.concat({ f[1], f[7], f[8], f[9] }, "|")
      end
      return out
    end
    assert.are.same(cols(gl), cols(cl))
    assert.are.equal(11, #cols(cl))                              -- header, 6, then 4 reruns
    os.remove(gl); os.remove(cl)
  end)

  it("inputs: stdin, -0, :::: files, mixed sources", function()
    same("-k echo", "a b\nc\n\nd")
    same("-0 -k echo", "a b\0c\nd\0")
    same("-k echo :::: - ::: X Y", "p\nq\n")
    local f1, f2 = tmpfile("f1"), tmpfile("f2")
    spit(f1, "a\nb c\n")
    spit(f2, "1\n2")
    same(("-k echo :::: %s %s"):format(f1, f2))
    same(("-k echo ::: X :::: %s"):format(f1))
    same(("-k -a %s echo"):format(f1))
    same("-k echo {#}-{} ::: 'a\nb' c")                         -- ::: args split on newlines
    os.remove(f1); os.remove(f2)
  end)

  it("no command: each input is itself a command", function()
    same("-k", "echo hi\necho 'a b'\nexit 3\n")
    same("-k ::: 'echo one' 'echo two; echo three'")
  end)

  it("--tag, also on stderr and a last line without newline", function()
    local g, c = both("-k --tag 'echo {}; printf \"x\\ny\"; echo err {} >&2' ::: a 'b c'")
    assert.are.equal(g.out, c.out)
    assert.are.equal("a\ta\na\tx\na\tyb c\tb c\nb c\tx\nb c\ty", c.out)
    assert.are.equal(g.err, c.err)
    assert.are.equal("a\terr a\nb c\terr b c\n", c.err)
    same("-k --tag echo ::: a 'b c' ::: 1 2")
  end)

  it("--line-buffer: whole lines as they come, -k holds later jobs back", function()
    same("-k --line-buffer --tag 'echo a; sleep 0.1; echo b; printf c' ::: x y")
    -- a prints at 0 s and 0.6 s, b at 0.3 s: lines come out as they are written...
    local job = "'case {} in a) echo a1; sleep 0.6; echo a2;; b) sleep 0.3; echo b1;; esac'"
    assert.are.equal("a1\nb1\na2\n", ours("-j2 --line-buffer " .. job .. " ::: a b").out)
    -- ...and with -k, b's line waits for a to end.
    assert.are.equal("a1\na2\nb1\n", ours("-k -j2 --line-buffer " .. job .. " ::: a b").out)
  end)

  it("--retries N: N attempts in all; the joblog has the last", function()
    local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
    local count = tmpfile("count")
    local cmd = ("-j1 --retries 3 --joblog %%s 'echo x >> %s-{}; exit 4' ::: a"):format(count)
    local g = gnu(cmd:format(gl))
    local n_gnu = #slurp(count .. "-a")
    os.remove(count .. "-a")
    local c = ours(cmd:format(cl))
    assert.are.equal(g.code, c.code)
    assert.are.equal(n_gnu, #slurp(count .. "-a"))
    assert.are.equal(6, n_gnu)                                    -- 3 attempts, "x\n" each
    local _, rows = joblog(cl)
    assert.are.equal("4", rows[1][7])
    os.remove(count .. "-a"); os.remove(gl); os.remove(cl)
  end)
end)

describe("corral parallel on its own", function()
  it("reads a piped stdin lazily: the first job runs before the input ends", function()
    local c = sh("(echo 1; sleep 0.6; echo 2) | " .. CORRAL .. " parallel --line-buffer 'echo {} $(date +%s.%N)'")
    local t1, t2 = c.out:match("^1 (%S+)\n2 (%S+)\n$")
    assert.is_truthy(t1, c.out)
    assert.is_true(tonumber(t2) - tonumber(t1) > 0.3, c.out)
  end)

  it("bundled short options and -j forms", function()
    assert.are.equal("a\nb\n", ours("-kj2 echo ::: a b").out)
    assert.are.equal("a\nb\n", ours("-k -j 1 echo ::: a b").out)
    assert.are.equal("a\nb\n", ours("-k --jobs=0 echo ::: a b").out)
    assert.are.equal("a\nb\n", ours("-k0 -j+1 echo", "a\0b").out)
  end)

  it("usage errors: one line on stderr, exit 255 (as GNU parallel)", function()
    for _, args in ipairs({ "--frob", "-x echo", "-j", "-j two echo", "--halt sometimes echo",
                            "--retries -1 echo", "--resume echo", "echo '{= 1 =}' ::: a", "echo {= 1 =} ::: a",
                            "echo :::+ a", "--timeout 5x echo" }) do
      local c = ours(args .. " ::: 1")
      assert.are.equal(255, c.code, args)
      assert.are.equal("", c.out, args)
      local lines = select(2, c.err:gsub("\n", ""))
      assert.are.equal(1, lines, args .. ": " .. c.err)
      assert.is_truthy(c.err:match("^corral parallel: "), c.err)
    end
    assert.are.equal("corral parallel: unknown option '--frob'\n", ours("--frob ::: 1").err)
    local h = ours("--help")
    assert.are.equal(0, h.code)
    assert.is_truthy(h.out:match("^usage: corral parallel"))
  end)

  it("SIGTERM: jobs are ended, exit 255", function()
    local marker = H.sleep_marker()
    -- The marker only in the jobs' argv (sleep adds up its arguments).
    local c = H.start({ CORRAL, "parallel", "-j2", "sleep " .. marker, ":::", "1", "2" })
    finally(function() c:signal_group("KILL"); H.cleanup(marker) end)
    assert.is_true(H.poll(function() return H.count(marker) == 2 end, 5))
    c:signal_group("TERM")
    local code = c:wait(10)
    assert.are.equal(255, code)
    assert.is_true(H.poll(function() return H.count(marker) == 0 end, 2))
  end)
end)

describe("--bar", function()
  it("draws a progress line on a terminal", function()
    local c = sh("script -qfc \"" .. CORRAL .. " parallel -j2 --bar true ::: 1 2 3 4 5\" /dev/null")
    assert.are.equal(0, c.code)
    assert.is_truthy(c.out:find("\r100%% 5/5, 0 running, 0 failed"), c.out)
  end)

  it("adds nothing on a pipe", function()
    local c = ours("-j2 --bar 'echo {}' ::: 1 2 3")
    assert.are.equal("", c.err)
    assert.are.equal(0, c.code)
  end)
end)

describe("corral joblog", function()
  it("summarises a TSV joblog from a real run", function()
    local log = tmpfile("run.tsv")
    ours(("-j3 --timeout 1 --joblog %s 'sleep 0.{}; exit {}' ::: 0 1 2 3"):format(log))
    local c = sh(CORRAL .. " joblog " .. log)
    assert.are.equal(0, c.code)
    assert.is_truthy(c.out:match("GNU parallel joblog, 4 jobs, 4 attempts"), c.out)
    assert.is_truthy(c.out:match("status: ok 1, failed 3"), c.out)
    assert.is_truthy(c.out:match("#4 +failed +exit 3 +sleep 0.3; exit 3"), c.out)
    assert.is_truthy(c.out:match("slowest:\n +0%.3%d%ds  #4 "), c.out)
    os.remove(log)
  end)

  it("summarises a corral journal, with retries and a torn last line", function()
    local log, script = tmpfile("j.jsonl"), tmpfile("s.lua")
    spit(script, [[
      local corral = require "corral"
      local pool <close> = corral.pool{ size = 3, joblog = arg[1], retries = 1, timeout = 0.3 }
      for _, c in ipairs{ "true", "exit 3", "sleep 5", "kill -9 $$" } do pool:submit(c) end
    ]])
    assert.are.equal(0, sh(CORRAL .. " run " .. script .. " " .. log).code)
    local f = io.open(log, "ab"); f:write('{"id":9,"status":"o'); f:close()
    local c = sh(CORRAL .. " joblog " .. log)
    assert.are.equal(0, c.code, c.err)
    assert.is_truthy(c.out:match("corral journal, 4 jobs, 7 attempts"), c.out)
    assert.is_truthy(c.out:match("status: ok 1, failed 1, signaled 1, timeout 1"), c.out)
    assert.is_truthy(c.out:match("#2 +failed +exit 3 "), c.out)
    assert.is_truthy(c.out:match("#4 +signaled +signal KILL "), c.out)
    assert.is_truthy(c.out:match("torn last line"), c.out)
    os.remove(log); os.remove(script)
    assert.are.equal(1, sh(CORRAL .. " joblog /nonexistent/x").code)
    assert.are.equal(2, sh(CORRAL .. " joblog").code)
  end)
end)
