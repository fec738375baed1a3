-- wf:plan(): what run() would do, with its reasons, from the graph and the journal; it runs
-- nothing.
local corral = require "corral"
local H = require "helpers"

local function plan_of(wf)
  local t = {}
  for _, e in ipairs(wf:plan()) do t[#t + 1] = e.name .. " " .. e.action .. " " .. e.reason end
  return t
end

describe("wf:plan", function()
  it("knows a job that could not start by its definition on the next run", function()
    -- the record of a command that cannot start is made inside submit: it is journalled with
    -- the job's hash like any other, so its reason is its status, not "definition changed"
    local d = H.tmpdir()
    local function make()
      local wf = corral.workflow { joblog = d .. "/j.jsonl", resume = true }
      wf:job("x", { cmd = { d .. "/no-such-program" } })
      wf:job("y", { shell = "true" })
      return wf
    end
    local report = make():run()
    assert.are.equal("error", report.records.x.status)
    assert.are.same({ "x run last run error", "y skip resumed" }, plan_of(make()))
  end)

  it("says what would run and why, before and after a run, and runs nothing", function()
    local d = H.tmpdir()
    local function make(code)
      local wf = corral.workflow { joblog = d .. "/j.jsonl", resume = true }
      wf:job("a", { shell = "echo a >> " .. d .. "/ran" })
      wf:job("b", { shell = "echo b >> " .. d .. "/ran; exit " .. code, after = { "a" } })
      wf:job("c", { shell = "echo c >> " .. d .. "/ran", after = { "b" } })
      wf:job("d", { shell = "echo d >> " .. d .. "/ran" })
      return wf
    end
    assert.are.same({ "a run never ran", "b run dependency will run", "c run dependency will run",
                      "d run never ran" }, plan_of(make(3)))
    assert.are.same({}, H.lines(d .. "/ran"))
    make(3):run()
    assert.are.same({ "a skip resumed", "b run last run failed", "c run last run skipped",
                      "d skip resumed" }, plan_of(make(3)))
    assert.are.same({ "a skip resumed", "b run definition changed", "c run last run skipped",
                      "d skip resumed" }, plan_of(make(0)))
    local ran = H.lines(d .. "/ran")
    table.sort(ran)
    assert.are.same({ "a", "b", "d" }, ran)             -- the first run's only
  end)

  it("checks the graph as run does", function()
    local wf = corral.workflow {}
    wf:job("x", { shell = "true", after = { "y" } })
    wf:job("y", { shell = "true", after = { "x" } })
    assert.has_error(function() wf:plan() end, "workflow: dependency cycle: x -> y -> x")
  end)
end)
