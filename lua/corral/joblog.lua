-- corral.joblog: a JSON-lines journal, one outcome record per attempt, flushed as each
-- attempt ends so a crash loses nothing that finished. lua-cjson is fine here (the journal is
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

local M = {}
local Log = {}

M.HOST = require("corral.launch.settings").HOST   -- where a record was made

-- is_event(row): a line that is an event, not an outcome record.
function M.is_event(row) return row.event ~= nil end
Log.__index = Log

local TAIL = 4096   -- bytes of stdout/stderr kept in the journal

-- open(path) -> log | nil, message
function M.open(path)
  local fh, err = io.open(path, "a+")
  if not fh then return nil, "joblog: " .. err end
  fh:setvbuf("no")
  -- A crash mid-write leaves a torn last line: end it, so our first record stands on its own.
  local size = fh:seek("end")
  if size and size > 0 then
    fh:seek("set", size - 1)
    if fh:read(1) ~= "\n" then fh:write("\n") end
  end
  return setmetatable({ fh = fh, path = path }, Log)
end

local function tail(s)
  if type(s) ~= "string" then return nil end
  if #s > TAIL then return s:sub(-TAIL) end
  return s
end

-- The outcome fields are copied in one table constructor (the row is allocated at its size:
-- a workflow writes one per job): id, name, status, code, signal, error, pid, host, attempt,
-- start, duration, rusage, and the tails of stdout and stderr.
function Log:write(r, extra)
  local row = { id = r.id, name = r.name, status = r.status, code = r.code, signal = r.signal,
                error = r.error, pid = r.pid, host = r.host, attempt = r.attempt, start = r.start,
                duration = r.duration, rusage = r.rusage, stdout = tail(r.stdout),
                stderr = tail(r.stderr), values = nil }
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
  self.fh:write(line .. "\n")          -- one write(2) per line: the file is unbuffered
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
function Log:started(f, extra)
  local row = { id = f.id, name = f.name, attempt = f.attempt, start = f.start, pid = f.pid,
                host = M.HOST, hash = nil }
  if extra then for k, v in pairs(extra) do row[k] = v end end
  self.fh:write(event_line("start", row))
end

-- event(row): any other event line (row.event, a string, names its kind).
function Log:event(row)
  local kind = row.event
  if type(kind) ~= "string" or kind:find('[%c"\\]') then
    self.fh:write((cjson.encode(row) or "{}") .. "\n")
    return
  end
  local copy = {}
  for k, v in pairs(row) do if k ~= "event" then copy[k] = v end end
  self.fh:write(event_line(kind, copy))
end

function Log:close()
  if self.fh then self.fh:close(); self.fh = nil end
end

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
