-- corral.cli.parallel.pipe: --pipe, GNU parallel's mode where stdin is cut into blocks and
-- each block is a job's stdin. A block is about --block bytes (default 1M), extended to the
-- end of the record it stops in; -N N makes a block of N records instead. Records end with
-- --recend (default "\n") and start with --recstart (default none): a block is cut only
-- where a record end is followed by a record start. Each job's stdin is a pipe that the
-- loop writes its block into as the job reads it.
local core = require "corral.core"
local loop = require "corral.loop"

local M = {}

M.BLOCK = 1024 * 1024     -- GNU's default --block

local Splitter = {}
Splitter.__index = Splitter

-- splitter(o, reader) -> splitter: blocks of the reader's data. reader: input.lua's raw
-- stdin reader (reader:read() -> data | "" at EOF | false when it would block).
function M.splitter(o, reader)
  local recend = o.recend or (o.recstart and "" or "\n")
  local recstart = o.recstart or ""
  return setmetatable({ reader = reader, parts = {}, len = 0, eof = false,
                        size = o.block or M.BLOCK, records = o.max_replace,
                        cut = recend .. recstart, endlen = #recend,
                        pos = 1, count = 0 }, Splitter)
end

-- next_end(buf, pos) -> the last byte of the next record end at or after pos, and where to
-- look after it | nil. A record start at the very beginning is no boundary.
function Splitter:next_end(buf, pos)
  while true do
    local i = buf:find(self.cut, pos, true)
    if not i then return nil end
    local at = i + self.endlen - 1
    if at >= 1 then return at, i + 1 end
    pos = i + 1
  end
end

-- The end of the next block in buf, or nil when more input is needed (eof: all of it).
function Splitter:block_end(buf)
  if self.records then                    -- -N: after the Nth record end
    local pos = self.pos
    while true do
      local at, nxt = self:next_end(buf, pos)
      if not at then break end
      self.count = self.count + 1
      if self.count == self.records then return at end
      pos = nxt
    end
    self.pos = math.max(1, #buf - #self.cut + 2)     -- rescan only what may hold a new end
    return self.eof and #buf or nil
  end
  if #buf < self.size and not self.eof then return nil end
  if #buf <= self.size and self.eof then return #buf end
  if self.cut == "" then return math.min(self.size, #buf) end
  -- GNU: the last record end within the size; a longer record goes whole.
  local best, pos = nil, 1
  while true do
    local at, nxt = self:next_end(buf, pos)
    if not at or (at > self.size and best) then break end
    best = at
    if at > self.size then break end
    pos = nxt
  end
  if best then return best end
  return self.eof and #buf or nil
end

-- next() -> block | nil (no more) | false (waiting for stdin: wait on splitter.reader)
function Splitter:next()
  while true do
    if self.len > 0 and (self.eof or self.records or self.len >= self.size) then
      local buf = table.concat(self.parts)
      local at = self:block_end(buf)
      if at then
        local rest = buf:sub(at + 1)
        self.parts, self.len, self.pos, self.count = { rest }, #rest, 1, 0
        if rest == "" then self.parts = {} end
        return buf:sub(1, at)
      end
      self.parts = { buf }
    elseif self.eof then
      return nil
    end
    local data = self.reader.read(self.reader)
    if data == false then return false end
    if data == "" then
      self.eof = true
    else
      self.parts[#self.parts + 1] = data
      self.len = self.len + #data
    end
  end
end

-- feed(block, on_done) -> read end for the job's stdin | nil, message. The write end is
-- non-blocking and written by the loop until the block is in, or the job stops reading
-- (EPIPE: the rest is dropped, as GNU does); on_done() then.
function M.feed(block, on_done)
  local r, w = core.pipe()
  if not r then return nil, w end
  local ok, err = core.set_blocking(r, true)        -- the job reads a plain blocking stdin
  if ok then ok, err = core.set_blocking(w, false) end
  if not ok then core.close(r); core.close(w); return nil, err end
  local off = 0
  local function finish()
    loop.close(w)
    if on_done then on_done() end
  end
  local function push()
    while off < #block do
      local n = core.write(w, block, off)
      if not n then finish(); return true end          -- the job closed its stdin
      if n == 0 then return false end                  -- full: wait for room
      off = off + n
    end
    finish()
    return true
  end
  if not push() then
    loop.watch(w, function()
      if push() then return end
    end, "w")
  end
  return r
end

return M
