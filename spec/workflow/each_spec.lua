-- wf:each: fan-out (one job per item) and fan-in (`after = { group }` waits for every member,
-- and an fn job gets their values in item order, whatever order they ended in).
local corral = require "corral"
local joblog = require "corral.joblog"
local H = require "helpers"

-- Sleeps `s` seconds in a real process, then returns v.
local function sleep_then(s, v)
  os.execute("sleep " .. s)
  return v
end

describe("wf:each", function()
  it("gives the fan-in job its members' values in item order, not in the order they ended", function()
    local d = H.tmpdir()
    local wf = corral.workflow { jobs = 4, joblog = d .. "/j.jsonl" }
    local delays = { 0.4, 0.2, 0, 0.6 }           -- they end 3, 2, 1, 4: not in item order
    wf:each("part", delays, function(s, i)
      return { fn = sleep_then, args = { s, "v" .. i } }
    end)
    wf:job("join", { fn = function(sep, vs) return table.concat(vs, sep), #vs end, args = { "+" },
                     after = { "part" } })
    local report = wf:run()
    assert.is_true(report.ok)
    assert.are.equal("v1+v2+v3+v4", report.records.join.values[1])
    assert.are.equal(4, report.records.join.values[2])
    -- they did end in the other order, and join started only after the last of them ended
    local ends, last_end = {}, 0
    for _, r in ipairs(joblog.read(d .. "/j.jsonl")) do
      if r.name ~= "join" then
        ends[#ends + 1] = r.name
        last_end = math.max(last_end, r.start + r.duration)
      end
    end
    assert.are_not.same({ "part[1]", "part[2]", "part[3]", "part[4]" }, ends)
    assert.are.equal("part[4]", ends[4])
    assert.is_true(report.records.join.start >= last_end - 0.01)
  end)

  it("gives the fan-in its values when the workflow was planned before it runs", function()
    -- plan() checks the graph, run() checks it again: the group must still be known as one
    local wf = corral.workflow { jobs = 2 }
    wf:each("sq", { 1, 2, 3 }, function(x) return { fn = function(v) return v * v end, args = { x } } end)
    wf:job("sum", { fn = function(vs) return vs[1] + vs[2] + vs[3] end, after = { "sq" } })
    assert.are.equal(4, #wf:plan())
    local report = wf:run()
    assert.is_true(report.ok)
    assert.are.equal(14, report.records.sum.values[1])
  end)

  it("names members name[i] or spec.name; after names a group or one member", function()
    local d = H.tmpdir()
    local wf = corral.workflow { jobs = 2 }
    wf:each("touch", { "a", "b" }, function(x)
      return { name = "touch-" .. x, cmd = { "touch", d .. "/" .. x } }
    end)
    wf:each("sq", { 2, 3 }, function(x) return { fn = function(v) return v * v end, args = { x } } end)
    wf:job("one", { fn = function(v) return v end, args = { 5 }, after = { "sq[2]" } })
    wf:job("both", { fn = function(files, sqs) return #files, sqs[1] + sqs[2] end,
                     after = { "touch", "one", "sq" } })
    local report = wf:run()
    assert.is_true(report.ok)
    assert.are.equal("ok", report.records["touch-a"].status)
    assert.is_nil(report.records["touch[1]"])
    assert.is_truthy(io.open(d .. "/b"))
    assert.are.equal(9, report.records["sq[2]"].values[1])
    -- a command member gives no value; groups come in the order `after` names them
    assert.are.same({ 0, 13 }, { report.records.both.values[1], report.records.both.values[2] })
  end)

  it("skips the fan-in when a member fails; the other members still run", function()
    local wf = corral.workflow { jobs = 2 }
    wf:each("p", { 1, 2, 3 }, function(x) return { shell = "exit " .. (x == 2 and 4 or 0) } end)
    wf:job("in", { fn = function() return 1 end, after = { "p" } })
    local report = wf:run()
    assert.are.equal("failed", report.records["p[2]"].status)
    assert.are.equal("ok", report.records["p[3]"].status)
    assert.are.equal("skipped", report.records["in"].status)
    assert.are.equal("dependency 'p[2]' failed", report.records["in"].error)
  end)

  it("on resume, a rerun fan-in gets the resumed members' values from the journal", function()
    local d = H.tmpdir()
    local function run(fail)
      local wf = corral.workflow { joblog = d .. "/j.jsonl", resume = true }
      wf:each("n", { 10, 20 }, function(x) return { fn = function(v) return v + 1 end, args = { x } } end)
      wf:job("sum", { fn = function(fails, vs)
        if fails then error("not yet") end
        return vs[1] + vs[2]
      end, args = { fail }, after = { "n" } })
      return wf:run()
    end
    assert.are.equal("failed", run(true).records.sum.status)
    local again = run(false)
    assert.is_true(again.records["n[1]"].resumed)
    assert.is_nil(again.records.sum.resumed)
    assert.are.equal(32, again.records.sum.values[1])
  end)

  it("rejects bad groups, naming them, at the caller's line", function()
    local wf = corral.workflow {}
    local function err_of(fn)
      local ok, e = pcall(fn)
      assert.is_false(ok)
      return tostring(e)
    end
    local e = err_of(function() wf:each("g", "abc", function() end) end)
    assert.is_truthy(e:find("each_spec.lua:%d+: bad argument to 'each' %(group 'g': list of items expected, got string%)"), e)
    e = err_of(function() wf:each("g", {}, "nope") end)
    assert.is_truthy(e:find("group 'g': function expected, got string", 1, true), e)
    e = err_of(function() wf:each("h", { 1, 2 }, function(x) if x == 1 then return { shell = "true" } end end) end)
    assert.is_truthy(e:find("each_spec.lua:%d+: bad argument to 'each' %(group 'h': item 2 gave nil, not a job spec%)"), e)
    e = err_of(function() wf:each("k", { 1 }, function() return { shell = "true", cmd = { "x" } } end) end)
    assert.is_truthy(e:find("each_spec.lua:%d+: bad argument to 'each' %(job 'k%[1%]' needs exactly one of cmd, shell, fn%)"), e)
    e = err_of(function() wf:each("m", { 1 }, function() return { shell = "true", bogus = 1 } end) end)
    assert.is_truthy(e:find("unknown option 'bogus' to 'each'", 1, true), e)
    wf:job("x", { shell = "true" })
    e = err_of(function() wf:each("x", {}, function() end) end)
    assert.is_truthy(e:find("'x' is defined twice", 1, true), e)
    wf:each("grp", {}, function() end)
    e = err_of(function() wf:job("grp", { shell = "true" }) end)
    assert.is_truthy(e:find("job 'grp' is defined twice", 1, true), e)
  end)
end)
