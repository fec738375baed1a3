-- corral.cli.parallel.sched: when `corral parallel` may start its next job, and when a job
-- has run too long: --delay, --load, --memfree, --timeout N%, --nice, as GNU parallel
-- 20221122 decides them (its measures of load and free memory included).
local M = {}

local RECHECK = 0.1       -- seconds between looks at the load or free memory while held back
local SETTLE = 0.05       -- --load: a job just started needs this long to show in the count

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- GNU's free memory: MemFree + Buffers + Cached + SwapCached from /proc/meminfo, in bytes.
local FREE = { MemFree = true, Buffers = true, Cached = true, SwapCached = true }
function M.memfree()
  local sum = 0
  for k, v in (read("/proc/meminfo") or ""):gmatch("(%w+):%s+(%d+) kB") do
    if FREE[k] then sum = sum + tonumber(v) end
  end
  return sum * 1024
end

-- GNU's load: the processes running right now, less the one counting (it reads `ps`; the
-- kernel's count of runnable tasks in /proc/loadavg is the same number without a process).
function M.running()
  local r = (read("/proc/loadavg") or ""):match("^%S+ %S+ %S+ (%d+)/")
  return r and tonumber(r) - 1
end

-- This process's niceness (/proc/self/stat field 19): --nice N is absolute, as GNU's
-- setpriority(0, 0, N), so a job is run with `nice -n (N - ours)`.
function M.niceness()
  local rest = (read("/proc/self/stat") or ""):match("%) (.*)$")
  local f = {}
  for w in (rest or ""):gmatch("%S+") do f[#f + 1] = w end
  return tonumber(f[17]) or 0
end

local Gate = {}
Gate.__index = Gate

-- gate(o) -> gate | nil when no option holds jobs back.
function M.gate(o)
  if not (o.delay or o.load or o.memfree) then return nil end
  return setmetatable({ delay = o.delay, load = o.load, memfree = o.memfree }, Gate)
end

-- gate:wait(now) -> 0 when a job may start now, else the seconds to wait before asking again.
function Gate:wait(now)
  local last = self.last
  if self.delay and last and now < last + self.delay then return last + self.delay - now end
  if self.load then
    if last and now < last + SETTLE then return last + SETTLE - now end
    if (M.running() or math.huge) >= self.load then return RECHECK end
  end
  if self.memfree and M.memfree() < self.memfree then return RECHECK end
  return 0
end

function Gate:started(now) self.last = now end

local Median = {}
Median.__index = Median

-- median_timeout(pct) -> limit: --timeout N% is N% of the median runtime of the jobs that
-- succeeded so far (none yet: no limit). GNU's median is the lower one.
function M.median_timeout(pct)
  return setmetatable({ pct = pct, sorted = {} }, Median)
end

function Median:add(runtime)
  local s = self.sorted
  local lo, hi = 1, #s + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if s[mid] < runtime then lo = mid + 1 else hi = mid end
  end
  table.insert(s, lo, runtime)
end

function Median:limit()
  local n = #self.sorted
  if n == 0 then return nil end
  return self.pct * self.sorted[(n - 1) // 2 + 1]
end

return M
