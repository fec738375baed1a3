-- Fault injection: 2000 tasks of every kind while random workers, commands and grandchildren
-- are SIGKILLed and random tasks are cancelled or time out. Every task must end with exactly
-- one final record that its journal agrees with; no zombie, no survivor, no leaked fd.
local corral = require "corral"
local core = require "corral.core"
local loop = require "corral.loop"
local joblog = require "corral.joblog"
local H = require "helpers"

local FINAL = { ok = true, failed = true, signaled = true, timeout = true, cancelled = true,
                lost = true }

-- Listing through ls (closed at once, so neither its pipe nor its zombie lingers).
local function ls(dir)
  local p = io.popen("ls " .. dir)
  local names = {}
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  return names
end

local function fd_count()
  return #ls("/proc/" .. core.getpid() .. "/fd") - 1     -- the ls pipe itself
end

-- Children of this process that are zombies (exited, never reaped).
local function zombies()
  local me, n = tostring(core.getpid()), 0
  for _, name in ipairs(ls("/proc")) do
    if name:match("^%d+$") then
      local f = io.open("/proc/" .. name .. "/stat")
      local st = f and f:read("a")
      if f then f:close() end
      local state, ppid = (st or ""):match("^%d+ %b() (%a) (%d+)")
      if state == "Z" and ppid == me then n = n + 1 end
    end
  end
  return n
end

describe("fault injection", function()
  it("2000 mixed tasks under random kills, cancels and timeouts: one exact record each", function()
    local mark = ("0.0000%06d"):format(math.random(0, 999999))   -- sleep adds it: harmless
    local dir = H.tmpdir()
    do   -- warm up: the lifeline's watchdog and fds stay for the life of the process
      local p <close> = corral.pool { executor = "exec", size = 1 }
      p:submit { "true" }:wait()
    end
    local fds_before = fd_count()

    local logs = { shell = dir .. "/shell.jsonl", exec = dir .. "/exec.jsonl", lua = dir .. "/lua.jsonl" }
    local shell = corral.pool { executor = "shell", size = 4, joblog = logs.shell }
    local exec = corral.pool { executor = "exec", size = 4, joblog = logs.exec }
    local lua = corral.pool { executor = "lua", size = 2, start = "fork", joblog = logs.lua }

    local fs = {}
    for i = 1, 2000 do
      local k = i % 10
      local f
      if k < 4 then
        f = shell:submit(("sleep 0.01 %s & sleep 0.02 %s; wait"):format(mark, mark),
          { timeout = (i % 37 == 0) and 0.005 or nil })
        f.kind = "shell"
      elseif k < 7 then
        f = exec:submit({ "sleep", "0.01", mark }, { timeout = (i % 41 == 0) and 0.003 or nil })
        f.kind = "exec"
      elseif k < 9 then
        f = lua:submit(function(x) return x end, i)
        f.kind = "lua"
      else
        f = lua:submit(function(m) os.execute("sleep 0.01 " .. m) return true end, mark)
        f.kind = "lua"
      end
      fs[i] = f
    end

    -- The injector: every 3 ms, one fault on a random running task.
    local faults = { cancel = 0, kill = 0, grandchild = 0 }
    local stop = false
    local function inject()
      if stop then return end
      local running = {}
      for _, f in ipairs(fs) do if f:status() == "running" then running[#running + 1] = f end end
      local f = running[math.random(math.max(#running, 1))]
      if f then
        local what = math.random(3)
        if what == 1 then
          if f:cancel() then faults.cancel = faults.cancel + 1 end
        elseif what == 2 then
          if core.kill(f.pid, "KILL") then faults.kill = faults.kill + 1 end
        elseif f.kind == "shell" and faults.grandchild < 60 then
          for _, pid in ipairs(H.pids(mark)) do
            if core.getpgid(pid) == f.pgid then
              core.kill(pid, "KILL")
              faults.grandchild = faults.grandchild + 1
              break
            end
          end
        end
      end
      loop.timer(0.003, inject)
    end
    loop.timer(0.003, inject)

    for _, f in ipairs(fs) do f:wait() end
    stop = true
    shell:terminate(); exec:terminate(); lua:terminate()

    -- exactly one final record per task, and the journal says the same
    local journal = {}
    for kind, path in pairs(logs) do
      journal[kind] = {}
      for _, r in ipairs(joblog.read(path)) do
        assert.is_nil(journal[kind][r.id], "two journal records for one task")
        journal[kind][r.id] = r.status
      end
    end
    local seen = {}
    for _, f in ipairs(fs) do
      local r = f.record
      assert.is_truthy(FINAL[r.status], "status " .. tostring(r.status))
      seen[r.status] = (seen[r.status] or 0) + 1
      assert.are.equal(r.status, journal[f.kind][r.id])
    end
    assert.is_true(faults.cancel > 10 and faults.kill > 10, "few faults were injected")
    assert.is_true((seen.cancelled or 0) > 0 and (seen.timeout or 0) > 0 and (seen.ok or 0) > 1000)
    assert.is_true((seen.signaled or 0) + (seen.lost or 0) > 0)
    assert.are.equal(0, H.count(mark))
    assert.are.equal(0, zombies())
    -- (polled: a file handle the GC has not closed yet, ours or busted's, may come and go)
    assert.is_true(H.poll(function() return fd_count() == fds_before end, 2),
      "fds before " .. fds_before .. ", after " .. fd_count())
    os.execute("rm -rf " .. dir)
  end)
end)
