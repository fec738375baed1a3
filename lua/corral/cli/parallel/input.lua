-- corral.cli.parallel.input: the inputs of `corral parallel` and their cross product.
--
-- A source is a ::: list, a file (:::: FILE, -a FILE; "-" is stdin) or stdin. Records end
-- with "\n" (or NUL with -0); a last record without its delimiter still counts. The first
-- source is read lazily, as jobs are wanted: stdin on a pipe or terminal is watched through
-- corral's loop, so running jobs are served while it has nothing to say. The other sources
-- are read whole at the start, since the product goes over them again and again.
local core = require "corral.core"
local loop = require "corral.loop"

local M = {}
local CHUNK = 65536

-- A record reader over chunks: read() -> data | "" at EOF | false when it would block.
local Reader = {}
Reader.__index = Reader

local function new_reader(delim, read, fd)
  return setmetatable({ delim = delim, read = read, fd = fd, buf = "", pos = 1,
                        eof = false, ready = false }, Reader)
end

-- next() -> record | nil (no more) | false (nothing yet: M.wait(reader), run the loop, retry)
function Reader:next()
  while true do
    local e = self.buf:find(self.delim, self.pos, true)
    if e then
      local rec = self.buf:sub(self.pos, e - 1)
      self.pos = e + 1
      return rec
    end
    if self.eof then
      if self.pos <= #self.buf then
        local rec = self.buf:sub(self.pos)
        self.buf, self.pos = "", 1
        return rec
      end
      return nil
    end
    local data = self.read(self)
    if data == false then return false end
    if data == "" then
      self.eof = true
    else
      self.buf = self.buf:sub(self.pos) .. data
      self.pos = 1
    end
  end
end

-- stdin through fd 0: watched by the loop when epoll can (pipes, terminals); read blocking
-- otherwise (a regular file never keeps us waiting).
local function stdin_reader(delim)
  return new_reader(delim, function(self)
    if self.watchable == nil then
      self.watchable = loop.watch(0, function() end) and true or false
      if self.watchable then loop.unwatch(0) end
    end
    if self.watchable and not self.ready then return false end
    self.ready = false
    local data = core.read(0, CHUNK)
    if data == false then return false end        -- non-blocking and empty after all
    return data or ""                              -- an error reads as the end
  end, 0)
end

local function file_reader(path, delim)
  if path == "-" then return stdin_reader(delim) end
  local fh, err = io.open(path, "rb")
  if not fh then return nil, err end
  return new_reader(delim, function(self)
    local data = fh:read(CHUNK)
    if not data then fh:close(); return "" end
    return data
  end)
end

local function list_reader(list)
  local i = 0
  return { next = function()
    i = i + 1
    return list[i]
  end }
end

-- wait(reader): block in corral's loop until the reader's fd may have data.
function M.wait(r)
  if not r.fd or r.ready or r.watching then return end
  r.watching = true
  loop.watch(r.fd, function()
    r.ready, r.watching = true, false
    loop.unwatch(r.fd)
  end)
end

-- waiting(reader): true while a wait() is pending (the loop will wake us for it).
function M.waiting(r) return r.watching == true end

local function read_all(r)
  local out = {}
  while true do
    local rec = r:next()
    if rec == nil then return out end
    if rec == false then
      M.wait(r)
      loop.run_until(function() return r.ready end)
    else
      out[#out + 1] = rec
    end
  end
end

-- open(sources, null) -> product | nil, message. sources: { { list = } | { file = } }; none
-- means stdin. product:next() -> args | nil (done) | false (waiting: product.reader is the
-- source to wait for). product.total is known once every input has been read.
function M.open(sources, null)
  local delim = null and "\0" or "\n"
  if #sources == 0 then sources = { { file = "-" } } end
  local readers = {}
  for k, s in ipairs(sources) do
    if s.list then
      -- GNU parallel passes ::: arguments through its record reader: without -0 an
      -- argument holding newlines is several arguments.
      local list = s.list
      if not null then
        list = {}
        for _, a in ipairs(s.list) do
          for piece in (a .. "\n"):gmatch("(.-)\n") do list[#list + 1] = piece end
        end
      end
      readers[k] = list_reader(list)
      readers[k].list = list
      readers[k].count = #list
    else
      local r, err = file_reader(s.file, delim)
      if not r then return nil, err end
      readers[k] = r
    end
  end
  local rest = {}                      -- sources 2..n, whole
  local size = 1
  for k = 2, #readers do
    rest[k - 1] = readers[k].list or read_all(readers[k])
    size = size * #rest[k - 1]
  end
  local first = readers[1]
  local p = { reader = first, total = nil, read = 0 }
  if first.count then p.total = first.count * size end
  local cur, idx = nil, {}
  local n = #rest
  function p.next()
    if size == 0 then p.total = 0; return nil end
    -- Advance the odometer over the other sources (the last moves fastest).
    if cur then
      local k = n
      while k >= 1 do
        idx[k] = idx[k] + 1
        if idx[k] <= #rest[k] then break end
        idx[k] = 1
        k = k - 1
      end
      if k < 1 then cur = nil end
    end
    if not cur then
      local v = first:next()
      if v == false then return false end
      if v == nil then p.total = p.read * size; return nil end
      p.read = p.read + 1
      cur = v
      for k = 1, n do idx[k] = 1 end
    end
    local args = { cur }
    for k = 1, n do args[k + 1] = rest[k][idx[k]] end
    return args
  end
  -- all(): every job's arguments now (for percentages and --bar totals).
  function p.all()
    local list = {}
    while true do
      local a = p.next()
      if a == nil then return list end
      if a == false then
        M.wait(first)
        loop.run_until(function() return first.ready end)
      else
        list[#list + 1] = a
      end
    end
  end
  return p
end

return M
