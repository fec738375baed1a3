-- corral.cli.report: a journal read as a run, for `corral report` (corral.cli.report_html draws it)
-- and `corral status`: every attempt with its start and end, the events that say what is
-- still running, and the numbers a person asks first (counts, wall and CPU time, concurrency,
-- slowest, failures, a workflow's critical path). Not a renderer: no HTML or text here.
--
-- Reads corral's JSON-lines journals, a pool's or a workflow's. A torn last line (a crash
-- mid-write) is skipped and counted, as corral.joblog does.
local cjson = require "cjson.safe"
local heap = require "corral.loop.heap"

local M = {}

M.NULL = cjson.null

-- Which colour wins when several statuses share a pixel: the ones a reader must not miss.
M.SEVERITY = { lost = 9, error = 8, failed = 7, signaled = 6, timeout = 5, cancelled = 4,
               running = 3, ok = 2, skipped = 1 }
M.ORDER = { "ok", "failed", "signaled", "timeout", "cancelled", "lost", "error", "skipped",
            "running" }

-- lua-cjson writes at most 14 significant digits: an epoch `start` keeps 0.1 ms. Attempts
-- that overlap by less than that were back to back in one slot.
local EPS = 1.5e-4

local function num(v) return type(v) == "number" and v or nil end

-- A journal's times as corral writes them: epoch seconds and durations, finite and in range. A
-- hand-edited or corrupted value (1e300, NaN, -1) would break the arithmetic and date
-- formatting of every renderer, so it makes its line unreadable (a start) or counts as
-- nothing (a duration or CPU time).
local MAX_EPOCH, MAX_SPAN = 1e11, 1e9       -- the year 5138; 31 years
local function moment(v) return type(v) == "number" and v >= 0 and v < MAX_EPOCH and v or nil end
local function span(v) return type(v) == "number" and v >= 0 and v < MAX_SPAN and v or nil end
M.moment, M.span = moment, span

-- text(v): a journal value as text; lua-cjson reads every number as a float, so whole ones
-- are shown as integers (exit 3, not 3.0).
function M.text(v)
  if type(v) == "number" then return tostring(math.tointeger(v) or v) end
  return tostring(v)
end

-- A record's key across its attempts: a workflow's job name (ids repeat across its pools), or
-- the pool's task id.
local function key_of(r)
  if r.hash ~= nil and type(r.name) == "string" then return "n:" .. r.name end
  return "i:" .. tostring(r.id)
end

M.key_of = key_of

-- run = { path, attempts = {..ended, file order..}, running = {..start events not ended..},
--         runs = {..run events..}, workflow = bool, torn = bool, bad = n }
-- Each attempt: the record's fields plus `finish` (start + duration), `key` and `index`;
-- every record and event also gets `seq`, its line number.
local function new_run(path)
  return { path = path, attempts = {}, running = {}, runs = {}, workflow = false,
           torn = false, bad = 0, starts = 0 }
end

-- A journal read as it grows (corral status reads it again every second): each update reads
-- only what was appended since the last one. A last line without its newline waits for the
-- next update, unless `final` (nothing more will come): then it is read, or counted as torn.
local Reader = {}
Reader.__index = Reader

function M.reader(path)
  -- open: task key -> its start event not ended yet. A task's attempts run one after
  -- another, so any outcome of the task ends what started before it (a lua task handed to a
  -- worker and cancelled there before it began is journalled as attempt 0, not as its
  -- start's attempt).
  return setmetatable({ path = path, offset = 0, seq = 0, partial = "", open = {},
                        run = new_run(path) }, Reader)
end

function Reader:line(line, complete)
  local run = self.run
  self.seq = self.seq + 1
  local seq = self.seq
  if line == "" then return end
  local r = cjson.decode(line)
  -- an outcome without a start (a moment) cannot be placed in time: unreadable, as corral
  -- always writes one; so is one with a duration that is not a span
  if type(r) == "table" and r.event == nil
    and (not moment(r.start) or (r.duration ~= nil and r.duration ~= M.NULL and not span(r.duration))) then
    r = nil
  end
  if type(r) ~= "table" then
    if complete then run.bad = run.bad + 1 else run.torn = true end
  elseif r.event ~= nil then
    r.seq = seq                          -- line number: what came after a run event
    r.start = moment(r.start)
    if r.event == "start" then
      run.starts = run.starts + 1
      self.open[key_of(r)] = r
    elseif r.event == "run" then
      r.total = math.tointeger(num(r.total))
      run.runs[#run.runs + 1] = r
    end                                  -- an event kind from a newer corral: not ours
  else
    r.seq = seq
    local s = r.start
    r.duration = span(r.duration) or 0
    r.finish = s + r.duration
    r.key = key_of(r)
    r.status = type(r.status) == "string" and r.status or "?"
    if r.hash ~= nil then run.workflow = true end
    r.index = #run.attempts + 1
    run.attempts[r.index] = r
    self.open[r.key] = nil
  end
end

-- update([final]) -> run | nil, message naming the path.
function Reader:update(final)
  local fh, err = io.open(self.path, "rb")
  if not fh then return nil, err end
  local size = fh:seek("end")
  if size and size < self.offset then    -- truncated or replaced: read it again from the start
    local path = self.path
    for k in pairs(self) do self[k] = nil end
    for k, v in pairs(M.reader(path)) do self[k] = v end
  end
  fh:seek("set", self.offset)
  local text, rerr = fh:read("a")
  fh:close()
  if not text then return nil, self.path .. ": " .. tostring(rerr) end
  self.offset = self.offset + #text
  if self.partial ~= "" then text = self.partial .. text end
  local pos, len = 1, #text
  while true do
    local nl = text:find("\n", pos, true)
    if not nl then break end
    self:line(text:sub(pos, nl - 1), true)
    pos = nl + 1
  end
  self.partial = pos <= len and text:sub(pos) or ""
  if final and self.partial ~= "" then
    self:line(self.partial, false)
    self.partial = ""
  end
  local run = self.run
  run.running = {}
  for _, ev in pairs(self.open) do run.running[#run.running + 1] = ev end
  table.sort(run.running, function(a, b) return (num(a.start) or 0) < (num(b.start) or 0) end)
  return run
end

-- not_journal(run) -> message when nothing in the file was a record of corral's
local function not_journal(run)
  if #run.attempts == 0 and run.starts == 0 and #run.runs == 0 and (run.bad > 0 or run.torn) then
    return run.path .. ": not a corral journal (no JSON record in it)"
  end
end
M.not_journal = not_journal

-- load(path) -> run | nil, message naming the path: the whole journal, as it is now.
function M.load(path)
  local run, err = M.reader(path):update(true)
  if not run then return nil, err end
  err = not_journal(run)
  if err then return nil, err end
  return run
end

-- jobs(run) -> the last attempt of each job, in order of first appearance.
function M.jobs(run)
  local order, last = {}, {}
  for _, a in ipairs(run.attempts) do
    if not last[a.key] then order[#order + 1] = a.key end
    last[a.key] = a
  end
  local out = {}
  for i, k in ipairs(order) do out[i] = last[k] end
  return out
end

local function cpu(a)
  local ru = type(a.rusage) == "table" and a.rusage or {}
  return (span(ru.utime) or 0) + (span(ru.stime) or 0)
end

local push, pop = heap.push, heap.pop   -- free slots and busy { end, slot } pairs

local function num_less(a, b) return a < b end
local function busy_less(a, b) return a[1] < b[1] end

-- lanes(attempts) -> nlanes; sets a.lane (1-based) on each: the lowest slot free at its
-- start, which is how a pool hands out its slots (the journal does not name them).
function M.lanes(attempts)
  -- by start time, ties in journal order; sorting plain numbers is several times faster
  local starts, at = {}, {}
  for _, a in ipairs(attempts) do
    local l = at[a.start]
    if not l then l = {}; at[a.start] = l; starts[#starts + 1] = a.start end
    l[#l + 1] = a
  end
  table.sort(starts)
  local free, busy, n = {}, {}, 0
  for _, st in ipairs(starts) do
    for _, a in ipairs(at[st]) do
      while busy[1] and busy[1][1] <= a.start + EPS do push(free, pop(busy, busy_less)[2], num_less) end
      local lane
      if free[1] then lane = pop(free, num_less) else n = n + 1; lane = n end
      a.lane = lane
      push(busy, { a.finish, lane }, busy_less)
    end
  end
  return n
end

-- concurrency(attempts, t0, t1, buckets) -> { avg per bucket (time-weighted) }, max
function M.concurrency(attempts, t0, t1, buckets)
  -- starts and ends as two sorted lists of numbers (much faster to sort than pairs), merged
  local ups, downs = {}, {}
  for _, a in ipairs(attempts) do
    if a.finish > a.start then
      ups[#ups + 1] = a.start
      local down = a.finish - EPS              -- (start + 1e-9 == start for epoch seconds)
      downs[#downs + 1] = down > a.start and down or a.finish
    end
  end
  table.sort(ups)
  table.sort(downs)
  local out = {}
  for i = 1, buckets do out[i] = 0 end
  local span = t1 - t0
  if span <= 0 then return out, 0 end
  local width = span / buckets
  local level, max, t = 0, 0, 0               -- times relative to t0: epoch seconds lose bits
  -- adds level * (time from t to u) to the buckets that interval covers
  local function spread(u)
    local b = math.min(buckets, math.floor(t / width) + 1)
    while t < u and b <= buckets do
      local edge = b == buckets and u or math.min(u, b * width)
      if edge > t then out[b] = out[b] + level * (edge - t); t = edge end
      b = b + 1
    end
    t = u
  end
  local i, j, nu, nd = 1, 1, #ups, #downs
  while i <= nu or j <= nd do
    local u, step
    if i <= nu and (j > nd or ups[i] < downs[j]) then   -- an end at the same time goes first
      u, step, i = ups[i], 1, i + 1
    else
      u, step, j = downs[j], -1, j + 1
    end
    u = u - t0
    if level > 0 then spread(u) else t = math.max(t, u) end
    level = level + step
    if level > max then max = level end
  end
  for i = 1, buckets do out[i] = out[i] / width end
  return out, max
end

-- critical_path(run, jobs) -> { names... }, seconds | nil. The chain of dependencies (`after`)
-- with the largest summed job time, every attempt counted: the shortest the run could have
-- taken with unlimited slots.
function M.critical_path(run, jobs)
  if not run.workflow then return nil end
  local time, deps, known = {}, {}, {}
  for _, a in ipairs(run.attempts) do
    if type(a.name) == "string" then time[a.name] = (time[a.name] or 0) + a.duration end
  end
  for _, j in ipairs(jobs) do
    if type(j.name) == "string" then
      known[j.name] = true
      deps[j.name] = type(j.after) == "table" and j.after or {}
    end
  end
  local best, via, state = {}, {}, {}
  local function visit(name)
    if state[name] == 2 then return best[name] end
    if state[name] == 1 then return 0 end          -- a cycle in a hand-edited journal
    state[name] = 1
    local b, v = 0, nil
    for _, d in ipairs(deps[name] or {}) do
      if known[d] then
        local x = visit(d)
        if x > b then b, v = x, d end
      end
    end
    best[name], via[name], state[name] = b + (time[name] or 0), v, 2
    return best[name]
  end
  local top, topv = nil, -1
  for _, j in ipairs(jobs) do
    if type(j.name) == "string" then
      local x = visit(j.name)
      if x > topv then top, topv = j.name, x end
    end
  end
  if not top then return nil end
  local path, n = {}, top
  while n do table.insert(path, 1, n); n = via[n] end
  return path, topv
end

-- slowest(attempts, k) -> the k longest, longest first (one pass: k is small)
function M.slowest(attempts, k)
  local top = {}
  for _, a in ipairs(attempts) do
    if #top < k or a.duration > top[#top].duration then
      local i = math.min(#top + 1, k)
      while i > 1 and top[i - 1].duration < a.duration do top[i] = top[i - 1]; i = i - 1 end
      top[i] = a
    end
  end
  return top
end

-- peak(attempts, field) -> the largest sum of a numeric field (a workflow job's cpus or
-- memory) over attempts running at the same moment | nil when no attempt has it. Ends sort
-- before starts at the same instant: back-to-back attempts do not add up.
function M.peak(attempts, field)
  local ev = {}
  for _, a in ipairs(attempts) do
    local v = num(a[field])
    if v and v > 0 and a.finish > a.start then
      ev[#ev + 1] = { a.start, v }
      ev[#ev + 1] = { a.finish, -v }
    end
  end
  if #ev == 0 then return nil end
  table.sort(ev, function(x, y) if x[1] ~= y[1] then return x[1] < y[1] end return x[2] < y[2] end)
  local cur, top = 0, 0
  for _, e in ipairs(ev) do
    cur = cur + e[2]
    if cur > top then top = cur end
  end
  return top
end

local function is_failure(s) return s ~= "ok" and s ~= "skipped" and s ~= "running" end
M.is_failure = is_failure

-- summarize(run, opts) -> summary for a renderer:
-- { t0, t1, wall, cpu, counts, njobs, nattempts, retries, failures = {attempts},
--   slowest = {attempts}, concurrency = {..}, max_concurrency, max_cpus, max_memory (a
--   workflow's jobs' shares, nil without them), nlanes, critical = {names},
--   critical_time, on_critical = { [name] = true }, running = {start events},
--   bars = {attempts, then running ones (status "running"), each with .lane} }
function M.summarize(run, opts)
  opts = opts or {}
  local attempts = run.attempts
  local jobs = M.jobs(run)
  local s = { counts = {}, njobs = #jobs, nattempts = #attempts, cpu = 0, failures = {},
              running = run.running, torn = run.torn, bad = run.bad, workflow = run.workflow }
  for _, j in ipairs(jobs) do s.counts[j.status] = (s.counts[j.status] or 0) + 1 end
  local t0, t1 = math.huge, -math.huge
  for _, a in ipairs(attempts) do
    if a.start < t0 then t0 = a.start end
    if a.finish > t1 then t1 = a.finish end
    s.cpu = s.cpu + cpu(a)
    if is_failure(a.status) then s.failures[#s.failures + 1] = a end
  end
  -- attempts still running stretch the run to the last moment the journal knows of
  for _, ev in ipairs(run.running) do
    local st = num(ev.start)
    if st and st < t0 then t0 = st end
    if st and st > t1 then t1 = st end
  end
  if t0 == math.huge then t0, t1 = 0, 0 end
  s.t0, s.t1, s.wall = t0, t1, t1 - t0
  -- the timeline's bars: every attempt, and what is still running, up to the journal's end
  s.bars = {}
  for i, a in ipairs(attempts) do s.bars[i] = a end
  for _, ev in ipairs(run.running) do
    local st = num(ev.start) or t1
    s.bars[#s.bars + 1] = { id = ev.id, name = ev.name, attempt = ev.attempt, pid = ev.pid,
      status = "running", start = st, finish = t1, duration = t1 - st,
      index = #s.bars + 1, key = key_of(ev) }
  end
  s.retries = #attempts - #jobs
  s.slowest = M.slowest(attempts, opts.slowest or 10)
  s.nlanes = M.lanes(s.bars)
  s.concurrency, s.max_concurrency = M.concurrency(attempts, t0, t1, opts.buckets or 200)
  s.max_cpus, s.max_memory = M.peak(attempts, "cpus"), M.peak(attempts, "memory")
  s.critical, s.critical_time = M.critical_path(run, jobs)
  s.on_critical = {}
  for _, n in ipairs(s.critical or {}) do s.on_critical[n] = true end
  return s
end

return M
