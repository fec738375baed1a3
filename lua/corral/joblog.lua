-- corral.joblog: a JSON-lines journal, one outcome record per attempt, flushed as each
-- attempt ends so a crash loses nothing that finished (a buffered journal: by the end of the
-- loop turn in which it ended, see open). JSON because the journal is for people and tools;
-- the wire between processes uses corral's own codec. Lines are written by core.jsonl (in C,
-- into a buffer: a workflow of 100000 jobs writes 200000 lines) and read by lua-cjson, which
-- also writes the rare line core.jsonl refuses.
--
-- Besides outcome records the journal holds events, lines with an `event` field ("start" as
-- an attempt starts, "run" as a workflow run begins), so `corral status` can see what is
-- running. Readers of outcomes skip them: M.read does, and so does M.is_event for others.
-- lua-cjson is loaded by the first line read (or refused by core.jsonl), not by whoever
-- requires this module.
local cjson = setmetatable({}, { __index = function(t, k)
  local m = require "cjson.safe"
  setmetatable(t, { __index = m })
  return m[k]
end })

local core = require "corral.core"
local loop = require "corral.loop"

local M = {}
local Log = {}

M.HOST = require("corral.launch.settings").HOST   -- where a record was made

-- is_event(row): a line that is an event, not an outcome record.
function M.is_event(row) return row.event ~= nil end
Log.__index = Log

local TAIL = 4096   -- bytes of stdout/stderr kept in the journal

-- open(path [, opts]) -> log | nil, message
-- Lines are encoded into a C buffer (core.jsonl: no Lua string is made for them) and written
-- from it. Without opts.buffered, each line is its own write(2) at once. With it (a
-- workflow's journal: two lines a job, and on this kind of machine a write(2) of them costs
-- as much as the rest of a job's scheduling), lines wait and go together, whole, in one
-- write(2): at the end of the loop turn that made them (corral.loop.defer: before the loop
-- waits), or, when the last write is less than LINGER old, LINGER after it (a timer), so there
-- is at most one write per LINGER however fast jobs end; at once when 64 KB are waiting; and
-- at close. The file lags by at most LINGER (and a turn); a process killed loses at most that.
function M.open(path, opts)
  local fh, err = io.open(path, "a+")
  if not fh then return nil, "joblog: " .. err end
  fh:setvbuf("no")
  -- A crash mid-write leaves a torn last line: end it, so our first record stands on its own.
  local size = fh:seek("end")
  if size and size > 0 then
    fh:seek("set", size - 1)
    if fh:read(1) ~= "\n" then fh:write("\n") end
  end
  local log = setmetatable({ fh = fh, path = path, buf = core.jsonl(), buffered = false,
                            scheduled = false, flusher = nil, written = -math.huge }, Log)
  if opts and opts.buffered then
    log.buffered = true
    log.flusher = function() log.scheduled = false; log:flush() end
  end
  return log
end

M.LINGER = 0.002      -- seconds a buffered line may wait for others when writes come fast
local FLUSH_AT = 65536

-- added(log, pending): a line went into the buffer (pending: the bytes now waiting there).
local function added(self, pending)
  if not self.buffered or pending >= FLUSH_AT then return self:flush() end
  if self.scheduled then return end
  self.scheduled = true
  local wait = self.written + M.LINGER - loop.now()
  if wait > 0 then loop.timer(wait, self.flusher) else loop.defer(self.flusher) end
end

-- put_cjson(log, t, event): the line of t by lua-cjson, for what core.jsonl refused: nil when
-- lua-cjson cannot either.
local function put_cjson(self, t, event)
  local line = cjson.encode(t)
  if not line then return nil end
  if event then
    line = line == "{}" and '{"event":"' .. event .. '"}' or '{"event":"' .. event .. '",' .. line:sub(2)
  end
  added(self, self.buf:raw(line .. "\n"))
  return true
end

-- put(log, t, event): the line of t (an event line when event names its kind), encoded here,
-- or by lua-cjson when it holds what core.jsonl does not write (NaN, a function): nil when
-- even that fails.
local function put(self, t, event)
  local pending = self.buf:object(t, event)
  if not pending then return put_cjson(self, t, event) end
  added(self, pending)
  return true
end

-- flush(): the buffered lines to the file now, in one write(2).
function Log:flush()
  if #self.buf == 0 or not self.fh then return end
  self.buf:flush(self.fh)
  if self.buffered then self.written = loop.now() end
end

local function tail(s)
  if type(s) ~= "string" then return nil end
  if #s > TAIL then return s:sub(-TAIL) end
  return s
end

-- The outcome fields go to one row table refilled for every record (a workflow writes one per
-- job): id, name, status, code, signal, error, pid, host, attempt, start, duration, rusage,
-- the tails of stdout and stderr, values; then the extra fields, taken out again after.
local row = { id = nil, name = nil, status = nil, code = nil, signal = nil, error = nil,
              pid = nil, host = nil, attempt = nil, start = nil, duration = nil, rusage = nil,
              stdout = nil, stderr = nil, values = nil, hash = nil, after = nil, cpus = nil,
              memory = nil }
local values = {}              -- the values as a JSON array: null for nil (see M.values)
-- The fields a record's line takes from it as they are: all of the row's but values and the
-- output tails, which need a copy of their own.
local KEYS = { "id", "name", "status", "code", "signal", "error", "pid", "host", "attempt",
               "start", "duration", "rusage", "stdout", "stderr" }
local function short(s) return s == nil or #s <= TAIL end
function Log:write(r, extra)
  local v = r.values
  if (not v or (v.n or 0) == 0) and short(r.stdout) and short(r.stderr) then   -- the usual line
    local pending = self.buf:object(r, nil, KEYS, extra)
    if pending then return added(self, pending) end
  end
  row.id, row.name, row.status, row.code, row.signal = r.id, r.name, r.status, r.code, r.signal
  row.error, row.pid, row.host, row.attempt, row.start = r.error, r.pid, r.host, r.attempt, r.start
  row.duration, row.rusage, row.stdout, row.stderr = r.duration, r.rusage, tail(r.stdout), tail(r.stderr)
  row.values = nil
  local nv = v and v.n or 0
  if nv > 0 then
    for i = 1, nv do
      if v[i] == nil then values[i] = cjson.null else values[i] = v[i] end
    end
    row.values = values
  end
  if extra then for k, x in pairs(extra) do row[k] = x end end
  if not put(self, row) then   -- something odd in a value: keep the facts that always encode
    row.stdout, row.stderr, row.error, row.values = nil, nil, tostring(r.error), nil
    if not put(self, row) then put(self, {}) end
  end
  if extra then for k in pairs(extra) do row[k] = nil end end
  if nv > 0 then
    for i = 1, nv do values[i] = nil end
  end
end

-- started(task, extra): a {"event":"start"} line for an attempt that has just started
-- (task: the future, with id, name, attempt, start, pid), with extra's fields and the host.
local START_KEYS = { "id", "name", "attempt", "start", "pid" }
local start_more = { host = nil }          -- refilled for every start line
function Log:started(f, extra)
  local more = start_more
  more.host = M.HOST
  if extra then for k, v in pairs(extra) do more[k] = v end end
  local pending = self.buf:object(f, "start", START_KEYS, more)
  if pending then
    added(self, pending)
  else                                     -- an extra value core.jsonl cannot write
    local row = { id = f.id, name = f.name, attempt = f.attempt, start = f.start, pid = f.pid }
    for k, x in pairs(more) do row[k] = x end
    if not put_cjson(self, row, "start") then put(self, {}, "start") end   -- a line still
  end
  if extra then for k in pairs(extra) do more[k] = nil end end
end

-- event(row): any other event line (row.event, a string, names its kind).
function Log:event(row)
  local kind = row.event
  if type(kind) ~= "string" or kind:find('[%c"\\]') then
    if not put(self, row) then put(self, {}) end
    return
  end
  local copy = {}
  for k, v in pairs(row) do if k ~= "event" then copy[k] = v end end
  if not put(self, copy, kind) then put(self, {}, kind) end
end

function Log:close()
  if self.fh then self:flush(); self.fh:close(); self.fh = nil end
end

-- A buffered journal left open (a run that raised) is written out when it is collected or
-- the Lua state closes (corral run closes it on every exit).
function Log:__gc() self:flush() end

-- values(record) -> the task's return values as a record has them ({ n = ..., ... }). JSON
-- keeps them only roughly: numbers may come back as floats, and values JSON cannot hold
-- (functions, binary strings) are missing.
function M.values(rec)
  local out = { n = 0 }
  if type(rec.values) ~= "table" then return out end
  out.n = #rec.values
  for i = 1, out.n do
    local x = rec.values[i]
    if x ~= cjson.null then out[i] = x end
  end
  return out
end

-- read(path) -> list of outcome records (events skipped); a torn last line (a crash
-- mid-write) is skipped.
function M.read(path)
  local fh, err = io.open(path, "r")
  if not fh then return nil, err end
  local out = {}
  local decode = cjson.decode
  for line in fh:lines() do
    if line:sub(1, 9) ~= '{"event":' then   -- an event line written here: not decoded
      local rec = decode(line)
      if type(rec) == "table" and rec.event == nil then out[#out + 1] = rec end
    end
  end
  fh:close()
  return out
end

return M
