-- corral.chunks: map, imap and imap_unordered of a lua pool with the items sent to workers in
-- chunks, as Python's Pool.map does by default. A chunk is one task of the pool (one frame,
-- one START, one queue slot); its worker runs fn(item) for each item and reports them in
-- batches (see corral.lua.worker), so every item still gets its own outcome: its value or its
-- error, its start and duration from the worker's clock, a journal line when the pool has a
-- journal. Records are built only when something reads them (the journal, a failure): a map of
-- a million no-op items costs a table.move per batch, not a table per item.
--
-- Chunks are cut as workers take them, not all at once: "auto" sizes the next chunk to hold
-- about TARGET seconds of the work measured so far (never more than Python's own size,
-- len / (4 * workers) rounded up), so a slow item holds back at most a few milliseconds of
-- others, as unchunked tasks do (see corral.lua.workers' pipeline depth).
local core = require "corral.core"
local loop = require "corral.loop"
local errors = require "corral.errors"
local future = require "corral.future"
local settings = require "corral.launch.settings"

local M = {}
local Run = {}
Run.__index = Run

local TARGET = 0.002    -- seconds of measured work in an "auto" chunk
local FIRST = 4         -- items in the first "auto" chunks, before any item time is known
local HOST = settings.HOST
local NO_OPTS = {}

-- python_size(n, workers): Python's chunksize for map: ceil(n / (4 * workers)).
function M.python_size(n, workers)
  local c, extra = n // (workers * 4), n % (workers * 4)
  if extra > 0 then c = c + 1 end
  return c
end

-- size(pool, n, opts, fname) -> items per chunk (nil: one task per item, no chunks) or "auto".
-- Chunks need the pool's own per-task policy to be off: a timeout, retries or maxtasks count
-- tasks, and a chunk is one.
function M.size(pool, n, opts, fname)
  local cs = opts and opts.chunksize
  if opts ~= nil and type(opts) ~= "table" then
    errors.raise(("bad argument #3 to '%s' (options table expected, got %s)"):format(fname, type(opts)))
  end
  if opts then
    for k in pairs(opts) do
      if k ~= "chunksize" then errors.raise(("bad option '%s' to '%s'"):format(tostring(k), fname)) end
    end
  end
  if cs ~= nil and cs ~= "auto" and (math.type(cs) ~= "integer" or cs < 1) then
    errors.raise(("bad option 'chunksize' to '%s' (positive integer or \"auto\" expected, got %s)")
      :format(fname, tostring(cs)))
  end
  if not pool.kind.lua then
    return nil
  end
  local o = pool.opts
  -- Slurm agents run lua tasks in workers of their own and relay whole replies, not batches:
  -- one task per item there (chunks go to workers that are steps: agents = false).
  if pool.slurm and pool.slurm.agents then
    if cs ~= nil and cs ~= "auto" and cs > 1 then
      errors.raise(("bad option 'chunksize' to '%s' (Slurm agents run one item per task)"):format(fname))
    end
    return nil
  end
  local policy = (o.timeout and "timeout") or (pool.retries > 0 and "retries") or (o.maxtasks and "maxtasks")
  if policy then
    if cs ~= nil and cs ~= "auto" and cs > 1 then
      errors.raise(("bad option 'chunksize' to '%s' (the pool's %s counts tasks: chunks need it off)")
        :format(fname, policy))
    end
    return nil
  end
  if cs == 1 or (cs == nil or cs == "auto") and M.python_size(n, pool.size) <= 1 then return nil end
  return cs or "auto"
end

-- Item i's record, built when something reads it.
function Run:record(i, status, start, duration, extra)
  local r = { id = self.base + i, name = self.name, status = status, values = nil,
              pid = extra and extra.pid, host = extra and extra.host or HOST, attempt = 1,
              start = start, duration = duration }
  if status == "ok" then
    r.values = self.multi[i] or { n = 1, self.out[i] }
  else
    r.values = { n = 0 }
  end
  if extra then
    r.error, r.traceback, r.code, r.signal = extra.error, extra.traceback, extra.code, extra.signal
    r.rusage, r.interrupted = extra.rusage, extra.interrupted
  end
  return r
end

-- Items first..last have their outcome: counted, journaled, made visible to the iterators.
function Run:_arrived(first, last)
  local n = #self.ranges
  self.ranges[n + 1], self.ranges[n + 2] = first, last
  self.left = self.left - (last - first + 1)
  loop.wake_all(self.waiters)
end

local function bump(counts, status, n)
  counts[status] = (counts[status] or 0) + n
end

-- batch(f, h, r): a batch of chunk f's items (corral.lua.worker's format).
function Run:batch(f, h, r)
  local k, base = r.k, f.first + f.got - 1
  if k == 0 then return end
  if r.s then f.last_t = r.s end            -- the first item began after START was written
  table.move(r.v, 1, k, base + 1, self.out)
  if r.x then for j, p in pairs(r.x) do self.multi[base + j] = p end end
  local nbad = 0
  local log, e = self.pool.joblog, r.e
  if e or log then
    -- item times: the clock readings t, each closing a group of g[q] items (1 when no g)
    local t, g = r.t, r.g
    local prev, j = f.last_t or f.start, 0
    local where = { pid = h.pid, host = h.host }
    for q = 1, #t do
      local c = g and g[q] or 1
      local span = (t[q] - prev) / c
      for p = 1, c do
        j = j + 1
        local i, err = base + j, e and e[j]
        if err ~= nil then
          nbad = nbad + 1
          local rec = self:record(i, "failed", prev + (p - 1) * span, span,
            { pid = h.pid, host = h.host, error = r.tb and r.tb[j] and type(err) == "string"
              and err .. "\n" .. r.tb[j] or err, traceback = r.tb and r.tb[j] })
          self.bad[i] = rec
          self.failed = self.failed or i
          if log then log:write(rec) end
        elseif log then
          log:write(self:record(i, "ok", prev + (p - 1) * span, span, where))
        end
      end
      prev = t[q]
    end
  end
  local at = f.last_t or f.start
  f.last_t = r.t[#r.t] or at
  -- seconds per item, for the next "auto" chunk: a moving average where a batch weighs by its
  -- items, so one slow first item (a cold worker) does not shrink chunks for long
  local avg = (f.last_t - at) / k
  self.avg = self.avg and self.avg + (avg - self.avg) * k / (k + 8) or avg
  self.pool.chunk_avg[self.name] = self.avg    -- the next map of this fn starts from it
  f.got = f.got + k
  local counts = self.pool.counts
  bump(counts, "ok", k - nbad)
  if nbad > 0 then bump(counts, "failed", nbad) end
  self:_arrived(base + 1, base + k)
end

-- The items of chunk f that no batch reported take the chunk's end: "cancelled" (never
-- started, or ended by a cancel), "lost" with the worker's cause, "error" (no worker).
function Run:ended(f, rec)
  self.outstanding = self.outstanding - 1
  local first, last = f.first + f.got, f.first + f.count - 1
  if first <= last then
    local status = rec.status
    if status == "ok" then status, rec.error = "lost", "the worker ended the chunk early" end
    local extra = { pid = rec.pid, host = rec.host, error = rec.error, code = rec.code,
                    signal = rec.signal, rusage = rec.rusage, interrupted = rec.interrupted }
    local at = f.last_t or rec.start
    for i = first, last do
      local r = self:record(i, status, at, i == first and (rec.start + rec.duration - at) or 0, extra)
      if self.pool.joblog then self.pool.joblog:write(r) end
      self.bad[i] = r
    end
    self.failed = self.failed or first
    bump(self.pool.counts, status, last - first + 1)
    self:_arrived(first, last)
  end
  if not self.stopped then self:cut() end
  loop.wake_all(self.waiters)
end

-- Items from self.next on are never cut: cancelled (a failure or an interrupt ended the run).
function Run:_cancel_uncut(reason, interrupted)
  local first, last = self.next, self.n
  if first > last then return end
  self.next = last + 1
  local c = { first = first, count = last - first + 1, got = last - first + 1 }
  self.chunks[#self.chunks + 1] = c
  local now = core.time()
  local extra = { error = reason, interrupted = interrupted }
  for i = first, last do
    local r = self:record(i, "cancelled", now, 0, extra)
    if self.pool.joblog then self.pool.joblog:write(r) end
    self.bad[i] = r
  end
  bump(self.pool.counts, "cancelled", last - first + 1)
  self:_arrived(first, last)
end

-- The next chunk's size: fixed, or about TARGET seconds of the work measured so far.
function Run:_next_size()
  if self.fixed then return self.fixed end
  local avg = self.avg
  if not avg then return math.min(FIRST, self.cap) end
  local c = avg > 0 and math.floor(TARGET / avg) or self.cap
  return math.max(1, math.min(c, self.cap))
end

-- cut(): chunks for the workers to take, up to two per worker waiting or running.
function Run:cut()
  local pool = self.pool
  if pool.stopping then
    self.stopped = true
    return self:_cancel_uncut("interrupted", pool.stopping == "cancel" and pool.interrupted or nil)
  end
  while self.next <= self.n and self.outstanding < 2 * pool.size and not self.failed do
    local a = self.next
    local b = math.min(self.n, a + self:_next_size() - 1)
    local ok, frame = pcall(core.encode_chunk, self.fn, self.list, a, b, self.all)
    if not ok then return self:_unsendable(a, b, table.move(self.list, a, b, 1, {})) end
    self.next = b + 1
    self.outstanding = self.outstanding + 1
    local f = future.new(pool, self.base + a, self.name, frame, NO_OPTS, nil, pool.termseq, 0)
    f.chunk, f.first, f.count, f.got = self, a, b - a + 1, 0
    self.chunks[#self.chunks + 1] = f
    pool:_queue(f)
  end
end

-- A chunk that cannot be encoded: the item that cannot cross gets an "error" record (the run
-- fails on it); the items before it go as a chunk of their own.
function Run:_unsendable(a, b, slice)
  local bad, why = b, nil
  for q = 1, #slice do
    local ok, e = pcall(core.encode, slice[q], "item")
    if not ok then bad, why = a + q - 1, e; break end
  end
  why = why or select(2, pcall(core.encode, { self.fn }, "fn"))
  if bad > a then
    local saved = self.fixed
    self.fixed = bad - a
    self:cut()
    self.fixed = saved
  end
  self.next = bad + 1
  local c = { first = bad, count = 1, got = 1 }
  self.chunks[#self.chunks + 1] = c
  local r = self:record(bad, "error", core.time(), 0,
    { error = ("cannot send item %d to a worker: %s"):format(bad, tostring(why)) })
  if self.pool.joblog then self.pool.joblog:write(r) end
  self.bad[bad] = r
  self.failed = self.failed or bad
  bump(self.pool.counts, "error", 1)
  self:_arrived(bad, bad)
end

-- fail(i, level): item i did not end "ok": cancel the rest, wait for the running chunks, raise.
function Run:fail(i, level)
  self.stopped = true
  local pool = self.pool
  self:_cancel_uncut("cancelled before start")
  for _, f in ipairs(self.chunks) do
    if f.pool and not f:done() then pool:_cancel(f) end
  end
  loop.wait_for(function() return self.outstanding == 0 end, nil, { self.waiters })
  local r = self.bad[i]
  if r.interrupted then error(errors.interrupted(r.interrupted), level + 1) end
  error(errors.task_error(r), level + 1)
end

-- done(i): has item i its outcome? (imap reads in order: a cursor over the chunks.)
function Run:done(i)
  local c = self.chunks[self.ci]
  while c and i >= c.first + c.count do
    self.ci = self.ci + 1
    c = self.chunks[self.ci]
  end
  if not c or i < c.first then return false end
  return i < c.first + c.got or (c.pool ~= nil and c:done())
end

-- start(pool, fn, list, size, name) -> run; fn is checked by the caller (its name: name)
local function start(pool, fn, list, size, name)
  local n = #list
  local run = setmetatable({
    pool = pool, fn = fn, name = name, list = list, n = n, next = 1,
    fixed = size ~= "auto" and size or nil, cap = M.python_size(n, pool.size),
    out = core.newtable(n), multi = {}, bad = {}, ranges = {}, chunks = {}, ci = 1,
    outstanding = 0, left = n, failed = nil, stopped = false, waiters = {},
    base = pool.next_id, all = pool.joblog and true or nil,   -- a journal records all values
  }, Run)
  pool.chunk_avg = pool.chunk_avg or {}
  run.avg = pool.chunk_avg[name]
  pool.next_id = pool.next_id + n
  pool.counts.submitted = pool.counts.submitted + n
  run:cut()
  return run
end

-- map: the first values in list order; the first item to end not "ok" (in the order items
-- end) cancels the rest and raises.
function M.map(pool, fn, list, size, name)
  local run = start(pool, fn, list, size, name)
  loop.wait_for(function() return run.failed ~= nil or run.left == 0 end, nil, { run.waiters })
  if run.failed then run:fail(run.failed, 3) end
  return run.out
end

function M.imap(pool, fn, list, size, name)
  local run = start(pool, fn, list, size, name)
  local i = 0
  return function()
    i = i + 1
    if i > run.n then return nil end
    loop.wait_for(function() return run:done(i) end, nil, { run.waiters })
    if run.bad[i] then run:fail(i, 2) end
    return i, run.out[i]
  end
end

function M.imap_unordered(pool, fn, list, size, name)
  local run = start(pool, fn, list, size, name)
  local r, i, last = 1, nil, nil
  return function()
    if i and i < last then
      i = i + 1
    else
      loop.wait_for(function() return r <= #run.ranges or (run.left == 0 and r > #run.ranges) end,
        nil, { run.waiters })
      if r > #run.ranges then return nil end
      i, last = run.ranges[r], run.ranges[r + 1]
      r = r + 2
    end
    if run.bad[i] then run:fail(i, 2) end
    return i, run.out[i]
  end
end

return M
