-- corral.joblog: a JSON-lines journal, one outcome record per attempt, flushed as each
-- attempt ends so a crash loses nothing that finished (a buffered journal: by the end of the
-- loop turn in which it ended, see open). lua-cjson is fine here (the journal is
-- for people and tools); the wire between processes uses corral's own codec.
--
-- Besides outcome records the journal holds events, lines with an `event` field ("start" as
-- an attempt starts, "run" as a workflow run begins), so `corral status` can see what is
-- running. Readers of outcomes skip them: M.read does, and so does M.is_event for others.
-- lua-cjson is loaded by the first line written or read, not by whoever requires this module
-- (a workflow without a journal never needs it).
local cjson = setmetatable({}, { __index = function(t, k)
  local m = require "cjson.safe"
  setmetatable(t, { __index = m })
  return m[k]
end })

local loop = require "corral.loop"

local M = {}
local Log = {}

M.HOST = require("corral.launch.settings").HOST   -- where a record was made

-- is_event(row): a line that is an event, not an outcome record.
function M.is_event(row) return row.event ~= nil end
Log.__index = Log

local TAIL = 4096   -- bytes of stdout/stderr kept in the journal

-- open(path [, opts]) -> log | nil, message
-- opts.buffered: lines are kept and written together, whole, in one write(2) before the loop
-- next waits (corral.loop.defer), when 64 KB are waiting, and at close: a process killed
-- mid-turn loses only the lines of that turn (a workflow writes two lines a job; on this kind
-- of machine a write(2) costs as much as the rest of a line). Without it, each line is its
-- own write(2).
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
  local log = setmetatable({ fh = fh, path = path, buf = nil, nbuf = 0, bytes = 0,
                            deferred = false, flusher = nil }, Log)
  if opts and opts.buffered then
    log.buf = {}
    log.flusher = function() log.deferred = false; log:flush() end
  end
  return log
end

local FLUSH_AT = 65536

-- put(log, line, nl): line (with nl, "\n" or "", after it) written or buffered.
local function put(self, line, nl)
  local buf = self.buf
  if not buf then                       -- one write(2) per line: the file is unbuffered
    self.fh:write(nl == "" and line or line .. nl)
    return
  end
  local n = self.nbuf
  buf[n + 1], buf[n + 2] = line, nl
  self.nbuf = n + 2
  self.bytes = self.bytes + #line + 1
  if self.bytes >= FLUSH_AT then return self:flush() end
  if not self.deferred then
    self.deferred = true
    loop.defer(self.flusher)
  end
end

-- flush(): the buffered lines to the file now, in one write(2) (nothing to do unbuffered).
function Log:flush()
  local n = self.nbuf
  if n == 0 or not self.fh then return end
  local buf = self.buf
  self.fh:write(table.concat(buf, "", 1, n))
  for i = 1, n do buf[i] = nil end
  self.nbuf, self.bytes = 0, 0
end

local function tail(s)
  if type(s) ~= "string" then return nil end
  if #s > TAIL then return s:sub(-TAIL) end
  return s
end

-- The outcome fields go to one row table refilled for every record (cjson.encode keeps
-- nothing of it; a workflow writes one per job): id, name, status, code, signal, error, pid,
-- host, attempt, start, duration, rusage, the tails of stdout and stderr, values; then the
-- extra fields, taken out again after.
local row = { id = nil, name = nil, status = nil, code = nil, signal = nil, error = nil,
              pid = nil, host = nil, attempt = nil, start = nil, duration = nil, rusage = nil,
              stdout = nil, stderr = nil, values = nil, hash = nil, after = nil, cpus = nil,
              memory = nil }
function Log:write(r, extra)
  row.id, row.name, row.status, row.code, row.signal = r.id, r.name, r.status, r.code, r.signal
  row.error, row.pid, row.host, row.attempt, row.start = r.error, r.pid, r.host, r.attempt, r.start
  row.duration, row.rusage, row.stdout, row.stderr = r.duration, r.rusage, tail(r.stdout), tail(r.stderr)
  row.values = nil
  local v = r.values
  if v and (v.n or 0) > 0 then          -- a JSON array, null for nil (see values())
    local a = {}
    for i = 1, v.n do
      if v[i] == nil then a[i] = cjson.null else a[i] = v[i] end
    end
    row.values = a
  end
  if extra then for k, x in pairs(extra) do row[k] = x end end
  local line = cjson.encode(row)
  if not line then          -- something odd in a value: keep the facts that always encode
    row.stdout, row.stderr, row.error, row.values = nil, nil, tostring(r.error), nil
    line = cjson.encode(row) or "{}"
  end
  if extra then for k in pairs(extra) do row[k] = nil end end
  put(self, line, "\n")
end

-- Event lines begin with their `event` key, so a reader of outcomes (M.read) knows one by its
-- first bytes without decoding it. row: without `event`; the text of the rest follows.
local function event_line(kind, row)
  local rest = cjson.encode(row) or "{}"
  if rest == "{}" then return '{"event":"' .. kind .. '"}\n' end
  return '{"event":"' .. kind .. '",' .. rest:sub(2) .. "\n"
end

-- started(task, extra): a {"event":"start"} line for an attempt that has just started
-- (task: the future, with id, name, attempt, start, pid).
local start_row = { id = nil, name = nil, attempt = nil, start = nil, pid = nil, host = nil,
                    hash = nil }           -- refilled for every start line, as row above
function Log:started(f, extra)
  local sr = start_row
  sr.id, sr.name, sr.attempt, sr.start, sr.pid, sr.host = f.id, f.name, f.attempt, f.start, f.pid, M.HOST
  if extra then for k, v in pairs(extra) do sr[k] = v end end
  local line = event_line("start", sr)
  if extra then for k in pairs(extra) do sr[k] = nil end end
  put(self, line, "")
end

-- event(row): any other event line (row.event, a string, names its kind).
function Log:event(row)
  local kind = row.event
  if type(kind) ~= "string" or kind:find('[%c"\\]') then
    put(self, cjson.encode(row) or "{}", "\n")
    return
  end
  local copy = {}
  for k, v in pairs(row) do if k ~= "event" then copy[k] = v end end
  put(self, event_line(kind, copy), "")
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
