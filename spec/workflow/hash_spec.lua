-- The journal's `hash` of a job's definition (what resume compares) stays the same across
-- corral versions for the same definition: a journal written before an upgrade still resumes
-- instead of rerunning everything. The values below are those corral has written since the
-- hash was introduced (FNV-1a over the canonical text of cmd, shell, fn, args, cwd, env,
-- inputs, outputs and the job's kind); fn jobs hash their bytecode, which belongs to the Lua
-- version, so they are compared with one another only.
local corral = require "corral"
local joblog = require "corral.joblog"
local H = require "helpers"

local function hashes(journal)
  local out = {}
  for _, r in ipairs(joblog.read(journal)) do out[r.name] = r.hash end
  return out
end

describe("a workflow job's hash", function()
  it("is the same value for the same definition, whatever runs around it", function()
    local d = H.tmpdir()
    local wf = corral.workflow { jobs = 2, joblog = d .. "/j.jsonl" }
    wf:job("argv", { cmd = { "echo", "a b" } })
    wf:job("env", { cmd = { "echo", "a b" }, cwd = "/tmp", env = { A = "1", B = false } })
    wf:job("shell", { shell = "echo hi" })
    wf:job("other", { shell = "echo ho", after = { "shell" }, timeout = 5, retries = 2 })
    wf:job("long", { shell = "echo " .. ("x"):rep(200) })
    wf:job("files", { shell = "true", inputs = { "/dev/null" } })
    -- after, timeout, retries, cpus and memory are not what the job runs: not in the hash
    wf:job("same", { shell = "echo hi", after = { "argv" }, timeout = 9, cpus = 1, memory = "1M" })
    assert.is_true(wf:run().ok)
    assert.are.same({
      argv = "e4fee8cc6a431798", env = "8ce1c761c97f31de", shell = "9fe0c187c9434461",
      other = "b2000f87d3c13da3", long = "5fbf220b7a720b8e", files = "1c42c538f7589c05",
      same = "9fe0c187c9434461",
    }, hashes(d .. "/j.jsonl"))
  end)

  it("differs between consecutive jobs that differ in one value only", function()
    local d = H.tmpdir()
    local f = function(x) return x end
    local wf = corral.workflow { jobs = 2, joblog = d .. "/j.jsonl" }
    wf:each("fan", { 1, 2, 2, "2", 3 }, function(x) return { fn = f, args = { x } } end)
    wf:job("a", { shell = "echo a" })
    wf:job("b", { shell = "echo b" })
    wf:job("c", { shell = "echo b" })
    assert.is_true(wf:run().ok)
    local h = hashes(d .. "/j.jsonl")
    assert.are_not.equal(h["fan[1]"], h["fan[2]"])
    assert.are.equal(h["fan[2]"], h["fan[3]"])
    assert.are_not.equal(h["fan[3]"], h["fan[4]"])      -- the number 2 and the string "2"
    assert.are_not.equal(h["fan[4]"], h["fan[5]"])
    assert.are_not.equal(h.a, h.b)
    assert.are.equal(h.b, h.c)
  end)
end)
