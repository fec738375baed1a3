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

    -- The injector: every 3 ms, one fault on a random running task, noted on its future
    -- (f.hit) so the record can be checked against it. A lua worker killed is noted by pid:
    -- the task it runs then is lost, whichever it is.
    local faults = { cancel = 0, kill = 0, grandchild = 0 }
    local killed_workers = {}
    local stop = false
    local function hit(f, what) f.hit = f.hit or {}; f.hit[what] = true; faults[what] = faults[what] + 1 end
    local function inject()
      if stop then return end
      local running = {}
      for _, f in ipairs(fs) do if f:status() == "running" then running[#running + 1] = f end end
      local f = running[math.random(math.max(#running, 1))]
      if f then
        local what = math.random(3)
        if what == 1 then
          if f:cancel() then hit(f, "cancel") end
        elseif what == 2 then
          if f.kind == "lua" then killed_workers[f.pid] = true end
          if core.kill(f.pid, "KILL") then hit(f, "kill") end
        elseif f.kind == "shell" and faults.grandchild < 60 then
          for _, pid in ipairs(H.pids(mark)) do
            if core.getpgid(pid) == f.pgid then
              core.kill(pid, "KILL")
              hit(f, "grandchild")
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
    -- and each record is the right one for what was done to its task
    local seen = {}
    for i, f in ipairs(fs) do
      local r, h = f.record, f.hit or {}
      local what = ("task %d (%s, faults: %s): %s %s code=%s signal=%s"):format(i, f.kind,
        table.concat((function() local t = {} for k in pairs(h) do t[#t + 1] = k end return t end)(), ","),
        r.status, tostring(r.error), tostring(r.code), tostring(r.signal))
      assert(FINAL[r.status], what)
      seen[r.status] = (seen[r.status] or 0) + 1
      assert.are.equal(r.status, journal[f.kind][r.id])
      local timed = f.timeout ~= nil
      if r.status == "ok" then
        if f.kind == "lua" then
          assert(r.values[1] == ((i % 10 == 9) and true or i), what)   -- the value, exactly
        else
          assert(r.code == 0 and r.signal == nil, what)
        end
        -- a 3 or 5 ms timeout on a 10 or 20 ms command: "ok" only when the loop came to the
        -- timer after the command had ended (a busy injector), and then it ran past it
        assert(not timed or r.duration >= f.timeout, what)
      elseif r.status == "cancelled" then
        assert(h.cancel, what)                      -- only the injector cancels
      elseif r.status == "timeout" then
        assert(timed, what)
      elseif r.status == "signaled" then            -- the command itself was KILLed
        assert(f.kind ~= "lua" and h.kill and r.signal == "KILL", what)
      elseif r.status == "failed" then              -- its shell's background sleep was KILLed
        assert(f.kind == "shell" and h.grandchild and r.code == 137, what)
      elseif r.status == "lost" then                -- its worker was KILLed under it
        assert(f.kind == "lua" and killed_workers[r.pid] and r.error == "killed by KILL", what)
      end
      if f.kind ~= "lua" and not h.cancel and not h.kill and not h.grandchild then
        assert(r.status == "ok" or timed and r.status == "timeout", what)   -- untouched: as it ran
      end
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
