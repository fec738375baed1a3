-- corral parallel's GNU options (issue 18) side by side with the real GNU parallel 20221122:
-- the same command line through both, equal stdout, exit status and (where named) stderr and
-- joblog columns. GNU parallel costs ~0.5 s a run here, so each case is one run of each, the
-- two started together, and several options share a case where GNU allows it.
local H = require "helpers"
local core = require "corral.core"

local CORRAL = H.root .. "/scripts/corral"
local TMP = os.getenv("TMPDIR") or "/tmp"

local slurp, spit = H.slurp, H.spit

local function tmpfile(tag)
  return ("%s/corral-paro-%d-%s-%d"):format(TMP, core.getpid(), tag, math.random(1, 1e9))
end

-- start(cmdline [, stdin_text]) -> handle; finish(handle) -> { out, err, code }
local function start(cmd, stdin)
  local h = { errf = tmpfile("err") }
  if stdin then h.inf = tmpfile("in"); spit(h.inf, stdin); cmd = cmd .. " < " .. h.inf end
  h.p = io.popen(cmd .. " 2>" .. h.errf, "r")
  return h
end

local function finish(h)
  local out = h.p:read("a")
  local _, how, code = h.p:close()
  local err = slurp(h.errf) or ""
  os.remove(h.errf)
  if h.inf then os.remove(h.inf) end
  if how == "signal" then code = 128 + code end
  return { out = out, err = err, code = code }
end

-- Every comparison needs GNU parallel: without it the test is skipped, naming why.
local function gnu_cmd(args)
  if H.gnu_parallel_skip_reason() then pending(H.gnu_parallel_skip_reason()) end
  return H.GNU_PARALLEL .. " --will-cite " .. args
end
local function ours_cmd(args) return CORRAL .. " parallel " .. args end
local function ours(args, stdin) return finish(start(ours_cmd(args), stdin)) end

-- both(args [, stdin]) -> gnu_result, corral_result (run at the same time)
local function both(args, stdin)
  local g = start(gnu_cmd(args), stdin)
  local c = start(ours_cmd(args), stdin)
  return finish(g), finish(c)
end

local function same(args, stdin)
  local g, c = both(args, stdin)
  assert.are.equal(g.out, c.out, "stdout of: " .. args)
  assert.are.equal(g.code, c.code, "exit status of: " .. args)
  return g, c
end

-- same_all{ args... }: several cases, every run started at once (GNU's start-up is CPU).
local function same_all(list)
  local hs = {}
  for i, args in ipairs(list) do hs[i] = { start(gnu_cmd(args)), start(ours_cmd(args)) } end
  for i, args in ipairs(list) do
    local g, c = finish(hs[i][1]), finish(hs[i][2])
    assert.are.equal(g.out, c.out, "stdout of: " .. args)
    assert.are.equal(g.code, c.code, "exit status of: " .. args)
  end
end

-- stderr without the program's own name ("parallel: " / "corral parallel: ").
local function unprefixed(err)
  return (err:gsub("corral parallel: ", ""):gsub("parallel: ", ""))
end

-- The job lines of a TSV joblog: { { fields... } } in Seq order.
local function joblog(path)
  local rows = {}
  for line in assert(slurp(path), "no joblog " .. path):gmatch("([^\n]*)\n") do
    local f = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
    if f[1]:match("^%d+$") then rows[tonumber(f[1])] = f end
  end
  return rows
end

-- Columns that do not depend on timing: Seq Host Send Receive Exitval Signal Command.
local function stable(rows)
  local out = {}
  for i, f in ipairs(rows) do out[i] = table.concat({ f[1], f[2], f[5], f[6], f[7], f[8], f[9] }, "|") end
  return out
end

describe("GNU parallel's usage errors, NUL input and misc options", function()
  it("a usage error exits 255, as GNU parallel", function()
    local g, c = both("--frob echo ::: 1")
    assert.are.equal(255, g.code)
    assert.are.equal(g.code, c.code)
    assert.are.equal("corral parallel: unknown option '--frob'\n", c.err)
    -- A bad --halt or --termseq: the reason, without the raising module's location.
    for _, args in ipairs({ "--halt bad", "--termseq FOO,1" }) do
      local e = ours(args .. " echo ::: 1").err
      assert.is_truthy(e:match("^corral parallel: bad value '[^']+' for '%-%-%a+' %(.+%)\n$"), e)
      assert.is_falsy(e:find(":%d+: "), e)
    end
    for _, args in ipairs({ "-j two echo", "-n 0 echo", "--trim x echo", "--colsep '(a|b)' echo",
                            "--header x echo", "-d '' echo", "echo '{= 1 =}'", ":::+ a echo" }) do
      c = ours(args .. " ::: 1")
      assert.are.equal(255, c.code, args)
      assert.are.equal("", c.out, args)
      assert.are.equal(1, select(2, c.err:gsub("\n", "")), args .. ": " .. c.err)
    end
  end)

  it("a NUL in the input without -0 becomes \\0, with GNU's warning, and the job runs", function()
    local g, c = same("-k printf '%s\\\\n'", "a\0b\0\nc\0\n")
    assert.are.equal("a\\0b\\0\nc\\0\n", c.out)
    assert.are.equal(0, c.code)
    assert.are.equal(unprefixed(g.err), unprefixed(c.err))
    assert.is_truthy(c.err:find("Warning: A NUL character in the input was replaced with \\0.", 1, true))
  end)

  it("--version, --will-cite and --citation; -S points to the Slurm launcher", function()
    local v = ours("--version")
    assert.are.equal(0, v.code)
    assert.is_truthy(v.out:match("^corral parallel %(corral %d+%.%d+%.%d+%)"), v.out)
    local c = ours("--will-cite --citation -k echo ::: a")
    assert.are.same({ "a\n", "", 0 }, { c.out, c.err, c.code })
    for _, args in ipairs({ "-S host", "--sshlogin=host", "--slf file" }) do
      c = ours(args .. " echo ::: 1")
      assert.are.equal(255, c.code, args)
      assert.is_truthy(c.err:find('launcher = "slurm"', 1, true), c.err)
      assert.are.equal(1, select(2, c.err:gsub("\n", "")), c.err)
    end
  end)
end)

describe("output options, compared with GNU parallel", function()
  it("-v, --tagstring and --group: the command line first, tagged, stderr too", function()
    local g, c = same("-k --group -v --tagstring '<{}-{#}>' 'echo {}; echo e{} >&2' ::: a 'b c'")
    assert.are.equal("<a-1>\techo a; echo ea >&2\n<a-1>\ta\n<b c-2>\techo 'b c'; echo e'b c' >&2\n<b c-2>\tb c\n", c.out)
    assert.are.equal(g.err, c.err)
    same("-k -v --tag -n2 echo ::: a b c")
  end)

  it("-u: output not held, joblog Receive 0, -v printed as the job starts", function()
    local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
    local cmd = "-u -j1 -v --joblog %s 'echo {}; echo e{} >&2' ::: a b"
    local gh, ch = start(gnu_cmd(cmd:format(gl))), start(ours_cmd(cmd:format(cl)))
    local g, c = finish(gh), finish(ch)
    assert.are.same({ g.out, g.err, g.code }, { c.out, c.err, c.code })
    assert.are.equal("echo a; echo ea >&2\na\necho b; echo eb >&2\nb\n", c.out)
    assert.are.same(stable(joblog(gl)), stable(joblog(cl)))
    assert.are.equal("0", joblog(cl)[1][6])
    os.remove(gl); os.remove(cl)
  end)

  it("-u: a job's line is out while the job still runs", function()
    -- b prints only once a's first line is in the output file, and a ends only after b:
    -- with output held until a job ends, both wait until the timeout.
    local out, mark = tmpfile("u.out"), tmpfile("u.mark")
    local job = ("'case {} in a) echo a1; until [ -e %s ]; do sleep 0.01; done; echo a2;; " ..
                 "b) until grep -q a1 %s; do sleep 0.01; done; echo b1; touch %s;; esac'"):format(mark, out, mark)
    local c = finish(start(ours_cmd("-u -j2 --timeout 5 " .. job .. " ::: a b > " .. out)))
    assert.are.equal(0, c.code, c.err)
    assert.are.equal("a1\nb1\na2\n", slurp(out))
    os.remove(out); os.remove(mark)
  end)
end)

describe("argument options, compared with GNU parallel", function()
  local f1, f2, f3, f4 = tmpfile("f1"), tmpfile("f2"), tmpfile("f3"), tmpfile("f4")
  setup(function()
    spit(f1, "a,b,c\n,d, e ,\n x \n")
    spit(f2, "a \nb\nc\nd\ne\n")
    spit(f3, "y,x,z\n1, 2 ,\n3,4,5\n")
    spit(f4, "p\tq\tstop\tr")
  end)
  teardown(function() os.remove(f1); os.remove(f2); os.remove(f3); os.remove(f4) end)

  it("-n, -N, -N0: several arguments per job, {N} over all of them", function()
    same_all({
      "-k -n2 echo {1}={2}={3} {-1} / {} ::: a b c ::: 1 2",
      "-k -N2 echo {1}-{2} ::: a b c d e",
      "-k -N0 echo x{}y ::: a b",
      "-k --max-replace-args 2 echo {1}-{2} ::: a b c",
    })
  end)

  it("-X and -m: arguments spread over the job slots, -X repeats the word", function()
    same_all({
      "-k -j2 -X echo pre{}post ::: a b ::: 1 2 3",
      "-k -j3 -m echo pre{}post ::: a b c d e f g",
    })
  end)

  it("-L, -I, -a twice, --arg-sep, --arg-file-sep", function()
    same_all({
      ("-k -L2 -a %s -a %s echo"):format(f2, f4),
      ("-k -I @@ --arg-sep ,, --arg-file-sep // echo x@@ {} {.} ,, a.x b.y // %s"):format(f4),
    })
  end)

  it("-d with escapes, -E, --trim", function()
    same(("-k -d '\\t' -E stop --trim r echo {}. :::: %s ::: ' 1 ' 2"):format(f4))
  end)

  it("--colsep (trimmed by default, as GNU), --header : with {name}", function()
    same_all({
      ("-k --colsep , echo {2}-{1}-{3}. :::: %s"):format(f1),
      ("-k --colsep '[,;]\\s*' --trim n echo {2}-{1}. :::: %s"):format(f1),
      ("-k --header : --colsep , echo {x}-{y}-{1}-{z} :::: %s"):format(f3),
    })
  end)

  it("--link and :::+ link sources instead of crossing them", function()
    same_all({
      "-k --link echo ::: a b :::+ 1 2 3 ::: x y z w",
      "-k echo ::: a b c :::+ 1 2 ::: x y",
    })
  end)

  it("--shuf: every job once, {#} in running order; -n2 in the joblog", function()
    local items = {}
    for i = 1, 20 do items[i] = tostring(i) end
    local args = "-j1 --shuf echo {#} {} ::: " .. table.concat(items, " ")
    local g, c = both(args)
    local function sorted_args(out)
      local seqs, vals = {}, {}
      for seq, v in out:gmatch("(%d+) (%d+)\n") do seqs[#seqs + 1] = tonumber(seq); vals[#vals + 1] = tonumber(v) end
      local order = table.concat(vals, " ")
      table.sort(vals)
      return seqs, vals, order
    end
    local gs, gv = sorted_args(g.out)
    local cs, cv, corder = sorted_args(c.out)
    assert.are.same(gs, cs)                                   -- 1..20 in order
    assert.are.same(gv, cv)                                   -- the same arguments
    assert.are_not.equal(table.concat(cv, " "), corder)       -- 1/20! to fail by chance
    local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
    local cmd = "-k -n2 --joblog %s echo ::: a b c"
    local gh, ch = start(gnu_cmd(cmd:format(gl))), start(ours_cmd(cmd:format(cl)))
    g, c = finish(gh), finish(ch)
    assert.are.equal(g.out, c.out)
    assert.are.same(stable(joblog(gl)), stable(joblog(cl)))
    os.remove(gl); os.remove(cl)
  end)
end)

describe("scheduling options, compared with GNU parallel", function()
  it("-j N%, -j +N, -j 0: as many jobs at once as GNU's (the joblog's overlaps)", function()
    -- Jobs at once: the most jobs whose [start, end] hold one instant, from the joblog.
    local function most_at_once(path)
      local rows, most = joblog(path), 0
      for _, a in pairs(rows) do
        local t, n = tonumber(a[3]), 0
        for _, b in pairs(rows) do
          local s = tonumber(b[3])
          if s <= t and t < s + tonumber(b[4]) then n = n + 1 end
        end
        most = math.max(most, n)
      end
      return most
    end
    -- 1 s jobs: a wave of jobs overlaps unless starting them takes longer than that.
    local runs = {}
    for _, j in ipairs({ "150%", "+1", "0" }) do
      local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
      local cmd = "-j " .. j .. " --joblog %s sleep ::: 1 1 1 1 1 1"
      runs[#runs + 1] = { j, gl, cl, start(gnu_cmd(cmd:gsub("%%s", gl))), start(ours_cmd(cmd:gsub("%%s", cl))) }
    end
    local ncpu = core.ncpu()
    local want = { ["150%"] = math.min(6, ncpu * 3 // 2), ["+1"] = math.min(6, ncpu + 1), ["0"] = 6 }
    for _, r in ipairs(runs) do
      local j, gl, cl = r[1], r[2], r[3]
      local g, c = finish(r[4]), finish(r[5])
      assert.are.same({ g.code, c.code }, { 0, 0 })
      assert.are.equal(want[j], most_at_once(cl), "-j " .. j)
      assert.are.equal(most_at_once(gl), most_at_once(cl), "-j " .. j)
      os.remove(gl); os.remove(cl)
    end
  end)

  it("--retry-failed reruns the joblog's failed commands, whatever the command line says", function()
    local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
    for _, step in ipairs({ "-k --joblog %s 'echo {}; exit {}' ::: 0 1 2",
                            "-k --retry-failed --joblog %s echo ::: x" }) do
      local gh, ch = start(gnu_cmd(step:format(gl))), start(ours_cmd(step:format(cl)))
      local g, c = finish(gh), finish(ch)
      assert.are.same({ g.out, g.code }, { c.out, c.code }, step)
    end
    assert.are.same(stable(joblog(gl)), stable(joblog(cl)))
    local lines = select(2, slurp(cl):gsub("\n", ""))
    assert.are.equal(6, lines)                                -- header, 3 jobs, 2 reruns
    os.remove(gl); os.remove(cl)
    assert.are.equal(255, ours("--retry-failed echo ::: 1").code)
  end)

  it("--nice runs jobs at that niceness; --delay spaces their starts (--load 100 lets them)", function()
    local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
    local cmd = "-k -j3 --nice 7 --delay 0.25 --load 100 --joblog %s 'echo {} $(nice)' ::: a b c"
    local gh, ch = start(gnu_cmd(cmd:format(gl))), start(ours_cmd(cmd:format(cl)))
    local g, c = finish(gh), finish(ch)
    assert.are.same({ g.out, g.code }, { c.out, c.code })
    assert.are.equal("a 7\nb 7\nc 7\n", c.out)
    for _, path in ipairs({ gl, cl }) do
      local rows = joblog(path)
      for seq = 2, 3 do
        local gap = tonumber(rows[seq][3]) - tonumber(rows[seq - 1][3])
        assert.is_true(gap >= 0.24, path .. ": start gap " .. gap)
      end
    end
    assert.are.same(stable(joblog(gl)), stable(joblog(cl)))
    os.remove(gl); os.remove(cl)
  end)

  it("--timeout N%: a job past N% of the median runtime is ended, as GNU", function()
    local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
    -- The median is known once a 0.1 s job has succeeded; the 4 s one is ended at 0.3 s
    -- (GNU: at its next check, about a second).
    local cmd = "-k -j3 --timeout 300%% --joblog %s 'echo s{}; sleep {}; echo e{}' ::: 0.1 0.1 4"
    local gh, ch = start(gnu_cmd(cmd:format(gl))), start(ours_cmd(cmd:format(cl)))
    local t0 = core.now()
    local c = finish(ch)
    local took = core.now() - t0
    local g = finish(gh)
    assert.are.same({ g.out, g.code }, { c.out, c.code })
    assert.are.equal(1, c.code)
    assert.is_true(took < 2, "took " .. took)
    assert.is_truthy(c.err:find("timed out:\ncorral parallel: Warning: echo s4; sleep 4; echo e4", 1, true), c.err)
    assert.are.same(stable(joblog(gl)), stable(joblog(cl)))
    assert.are.same({ "-1", "15" }, { joblog(cl)[3][7], joblog(cl)[3][8] })
    os.remove(gl); os.remove(cl)
  end)

  it("--memfree and --load hold jobs back until there is room", function()
    same("-k --load 0 --memfree 1k echo ::: a b")             -- GNU: --load 0 is no limit
    -- More free memory than any machine has: no job starts in a second (then `timeout`
    -- ends both tools, status 124).
    local hs = { start("timeout 1 " .. gnu_cmd("--memfree 1P echo ::: a")),
                 start("timeout 1 " .. ours_cmd("--memfree 1P echo ::: a")) }
    for _, h in ipairs(hs) do
      local r = finish(h)
      assert.are.same({ "", 124 }, { r.out, r.code })
    end
  end)
end)

-- tree(dir) -> "relative/path=content" for every file under dir, sorted.
local function tree(dir)
  local out = {}
  local p = io.popen("cd '" .. dir .. "' && find . -type f | LC_ALL=C sort")
  for path in p:lines() do out[#out + 1] = path .. "=" .. (slurp(dir .. "/" .. path) or "?") end
  p:close()
  return out
end

-- The rows of a --results CSV/TSV with Starttime and JobRuntime blanked (they are timings).
local function untimed(text, sep)
  return (text:gsub("\n(%d+)" .. sep .. ":" .. sep .. "[%d.]+" .. sep .. "[%d.]+" .. sep, "\n%1" .. sep .. ":" .. sep .. "T" .. sep .. "T" .. sep))
end

describe("--results and --files, compared with GNU parallel", function()
  it("--results DIR: GNU's layout, with the issue's command line (-j8 --eta -n2 --colsep ,)", function()
    local in_csv = tmpfile("in.csv")
    spit(in_csv, "a,b/c\nd,\ne f,g\\h\n")
    local gd, cd = tmpfile("gdir"), tmpfile("cdir")
    local cmd = "-j8 --eta --results %s -n2 --colsep , 'echo {1}-{2}; echo e{4} >&2' :::: " .. in_csv
    local gh, ch = start(gnu_cmd(cmd:format(gd))), start(ours_cmd(cmd:format(cd)))
    local g, c = finish(gh), finish(ch)
    assert.are.same({ g.out, g.code }, { c.out, c.code })
    assert.are.equal("", c.out)
    assert.are.equal("", c.err)                               -- --eta: stderr is no terminal
    local t = tree(cd)
    assert.are.same(tree(gd), t)
    assert.are.equal(6, #t)                                   -- two jobs: seq, stdout, stderr
    assert.are.same({ "./1/a/2/b\\_c/1/d/2/seq=1", "./1/a/2/b\\_c/1/d/2/stderr=e\n",
                      "./1/a/2/b\\_c/1/d/2/stdout=a-b/c\n" }, { t[1], t[2], t[3] })
    os.execute("rm -rf '" .. gd .. "' '" .. cd .. "'")
    os.remove(in_csv)
  end)

  it("--results DIR with --header: named and sorted levels, odd values, joblog Receive", function()
    local gd, cd, gl, cl = tmpfile("gdir"), tmpfile("cdir"), tmpfile("g.tsv"), tmpfile("c.tsv")
    local cmd = "-k --header : --results %s --joblog %s 'echo {foo}{bar}' ::: foo 'a/b' '' ::: bar 'x\\y' 'c\td'"
    local gh = start(gnu_cmd(cmd:format(gd, gl)))
    local ch = start(ours_cmd(cmd:format(cd, cl)))
    local g, c = finish(gh), finish(ch)
    assert.are.same({ g.out, g.code }, { c.out, c.code })
    assert.are.same(tree(gd), tree(cd))
    assert.are.same(stable(joblog(gl)), stable(joblog(cl)))
    os.execute("rm -rf '" .. gd .. "' '" .. cd .. "'")
    os.remove(gl); os.remove(cl)
  end)

  it("--results F.csv and F.tsv: GNU's columns and quoting", function()
    local files, hs = {}, {}
    for _, ext in ipairs({ "csv", "tsv" }) do
      local gf, cf = tmpfile("g") .. "." .. ext, tmpfile("c") .. "." .. ext
      local cmd = "-k --results %s 'echo {1}; echo \"q\\\"{2}\" >&2; exit {2}' ::: 'a,b' 'c d' ::: 0 1"
      hs[#hs + 1] = { start(gnu_cmd(cmd:format(gf))), start(ours_cmd(cmd:format(cf))) }
      files[#files + 1] = { gf, cf, ext == "csv" and "," or "\t" }
    end
    for i, pair in ipairs(hs) do
      local g, c = finish(pair[1]), finish(pair[2])
      assert.are.same({ g.out, g.code }, { c.out, c.code })
      assert.are.equal(2, c.code)
      local gf, cf, sep = table.unpack(files[i])
      local ctext = slurp(cf)
      assert.are.equal(untimed(slurp(gf), sep), untimed(ctext, sep))
      assert.is_truthy(ctext:find('"q""0\n"', 1, true), ctext)
      os.remove(gf); os.remove(cf)
    end
  end)

  it("--files, --tmpdir: the name of a file holding each job's stdout", function()
    local dir = tmpfile("tmpdir")
    assert(core.mkdir(dir))
    local g, c = both("-k --files --tmpdir " .. dir .. " 'echo {}; echo e >&2' ::: a b")
    assert.are.same({ g.err, g.code }, { c.err, c.code })
    local function contents(out)
      local t = {}
      for name in out:gmatch("([^\n]+)\n") do
        assert.is_truthy(name:match("^" .. dir:gsub("%p", "%%%0") .. "/par[%w_][%w_][%w_][%w_][%w_]%.par$"), name)
        t[#t + 1] = slurp(name)
        os.remove(name)
      end
      return t
    end
    assert.are.same({ "a\n", "b\n" }, contents(g.out))
    assert.are.same({ "a\n", "b\n" }, contents(c.out))
    os.remove(dir)
  end)

  it("--progress and --eta draw on a terminal only", function()
    local c = ours("--progress --eta -j2 true ::: 1 2 3")
    assert.are.same({ "", "", 0 }, { c.out, c.err, c.code })
    local t = finish(start("script -qfc \"" .. ours_cmd("--eta -j2 true ::: 1 2 3") .. "\" /dev/null"))
    assert.are.equal(0, t.code)
    assert.is_truthy(t.out:find("Computers / CPU cores / Max jobs to run", 1, true), t.out)
    assert.is_truthy(t.out:find("ETA: 0s Left: 0 AVG: [%d.]+s  local:0/3/100%%/[%d.]+s %s*\r?\n$"), t.out)
  end)
end)

describe("--pipe, compared with GNU parallel", function()
  it("--block, -N, --recstart, --recend, --tee: the same blocks to the jobs", function()
    local nums = {}
    for i = 1, 100 do nums[i] = tostring(i) end
    local seq = table.concat(nums, "\n") .. "\n"
    local recs = "a>x\nb>y\n>z\n--\nq\n--\n"
    local cases = {
      { "-k --pipe --block 50 wc -c", seq },
      { "-k --pipe -N3 'echo $(cat)'", seq },
      { "-k --pipe --recstart '>' -N1 'echo [$(cat)]'", recs },
      { "-k --pipe --recend '\\n--\\n' -N1 'echo [$(cat)]'", recs },
      { "-k --pipe --tee 'echo {}: $(cat | wc -l)' ::: a b", seq },
    }
    local hs = {}
    for i, c in ipairs(cases) do hs[i] = { start(gnu_cmd(c[1]), c[2]), start(ours_cmd(c[1]), c[2]) } end
    for i, c in ipairs(cases) do
      local g, o = finish(hs[i][1]), finish(hs[i][2])
      assert.are.same({ g.out, g.code }, { o.out, o.code }, c[1])
      assert.are_not.equal("", o.out, c[1])
    end
  end)

  it("--pipe: joblog Send is the block's bytes; a job that stops reading ends its block", function()
    local gl, cl = tmpfile("g.tsv"), tmpfile("c.tsv")
    local cmd = "-k -j2 --pipe -N2 --joblog %s cat"
    local gh = start(gnu_cmd(cmd:format(gl)), "1\n2\n3\n")
    local ch = start(ours_cmd(cmd:format(cl)), "1\n2\n3\n")
    local g, c = finish(gh), finish(ch)
    assert.are.same({ g.out, g.code }, { c.out, c.code })
    assert.are.same(stable(joblog(gl)), stable(joblog(cl)))
    assert.are.same({ "4", "2" }, { joblog(cl)[1][5], joblog(cl)[2][5] })
    os.remove(gl); os.remove(cl)
    -- 3 MB of input, 1 MB blocks to jobs that read one line: each job ends, no hang.
    local big = ("x"):rep(1023) .. "\n"
    c = ours("-k --pipe 'head -n1 | wc -c'", big:rep(3 * 1024))
    assert.are.same({ "1024\n1024\n1024\n", 0 }, { c.out, c.code })
  end)
end)
