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

-- stdin_raw(): stdin as chunks (reader.read(reader) -> data | "" | false), for --pipe.
function M.stdin_raw() return stdin_reader("\n") end

-- read_stdin() -> all of stdin (--pipe --tee), the loop served while it waits.
function M.read_stdin()
  local r, parts = stdin_reader("\n"), {}
  while true do
    local data = r.read(r)
    if data == "" then return table.concat(parts) end
    if data == false then
      M.wait(r)
      loop.run_until(function() return r.ready end)
    else
      parts[#parts + 1] = data
    end
  end
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

-- colsep(re) -> a Lua pattern for GNU's --colsep regexp | nil, why. Perl's regexps are
-- wider than Lua's patterns: literals, '.', \t \n \s \d \w (and capitals), [classes], and
-- * + ? after one of those are taken; groups, alternation, anchors and {n,m} are refused.
local CLASS = { s = "%s", S = "%S", d = "%d", D = "%D", w = "[%w_]", W = "[^%w_]" }
local INCLASS = { s = "%s", S = "%S", d = "%d", D = "%D", w = "%w_" }
local LIT = { t = "\t", n = "\n", r = "\r", f = "\f", e = "\27", a = "\a" }
local function lit(c)
  if c:match("^[%^%$%(%)%%%.%[%]%*%+%-%?]$") then return "%" .. c end
  return c
end
function M.colsep(re)
  local out, i, last_item = {}, 1, false
  while i <= #re do
    local c = re:sub(i, i)
    if c == "\\" then
      local e = re:sub(i + 1, i + 1)
      if e == "" then return nil, "a trailing backslash" end
      if CLASS[e] then out[#out + 1] = CLASS[e]
      elseif LIT[e] then out[#out + 1] = lit(LIT[e])
      elseif e:match("%w") then return nil, ("'\\%s' is not supported"):format(e)
      else out[#out + 1] = lit(e) end
      i, last_item = i + 2, true
    elseif c == "[" then
      local j, cls = i + 1, { "[" }
      if re:sub(j, j) == "^" then cls[2] = "^"; j = j + 1 end
      local first = true
      while true do
        local d = re:sub(j, j)
        if d == "" then return nil, "an unclosed '['" end
        if d == "]" and not first then break end
        if d == "\\" then
          local e = re:sub(j + 1, j + 1)
          if INCLASS[e] then cls[#cls + 1] = INCLASS[e]
          elseif LIT[e] then cls[#cls + 1] = LIT[e]
          elseif e:match("%w") or e == "" then return nil, ("'\\%s' in a class is not supported"):format(e)
          else cls[#cls + 1] = "%" .. e end
          j = j + 2
        else
          cls[#cls + 1] = (d == "%" or d == "]") and "%" .. d or d
          j = j + 1
        end
        first = false
      end
      cls[#cls + 1] = "]"
      out[#out + 1] = table.concat(cls)
      i, last_item = j + 1, true
    elseif c == "*" or c == "+" or c == "?" then
      if not last_item then return nil, ("'%s' after nothing it can repeat"):format(c) end
      local lazy = re:sub(i + 1, i + 1) == "?"
      if lazy and c ~= "*" then return nil, ("'%s?' is not supported"):format(c) end
      out[#out + 1] = lazy and "-" or c
      i, last_item = i + (lazy and 2 or 1), false
    elseif c:match("[%(%)|{^$]") then
      return nil, ("'%s' (groups, alternation, anchors, counts) is not supported"):format(c)
    else
      out[#out + 1] = c == "." and "." or lit(c)
      i, last_item = i + 1, true
    end
  end
  local pat = table.concat(out)
  if pat == "" or (""):find(pat) then return nil, "it matches an empty string" end
  return pat
end

-- split(s, pat): the fields between matches of pat, empty ones kept (Perl's split -1).
local function split(s, pat)
  local out, pos = {}, 1
  while true do
    local a, b = s:find(pat, pos)
    if not a then out[#out + 1] = s:sub(pos); return out end
    out[#out + 1] = s:sub(pos, a - 1)
    pos = b + 1
  end
end

local TRIM = {
  n = function(s) return s end,
  l = function(s) return (s:gsub("^%s+", "")) end,
  r = function(s) return (s:gsub("%s+$", "")) end,
  lr = function(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end,
}
TRIM.rl = TRIM.lr

-- A source's records as fields: NUL replaced (without -0), -E's end, -L's continued lines,
-- --colsep's columns, --trim. next() -> fields | nil | false (waiting on its reader).
local Source = {}
Source.__index = Source

function Source:fields(rec)
  local f = self.pat and split(rec, self.pat) or { rec }
  local trim = self.trim
  if trim then for k = 1, #f do f[k] = trim(f[k]) end end
  return f
end

function Source:next()
  while not self.ended do
    local rec = self.raw:next()
    if rec == false then return false end
    if rec == nil or (self.eof and rec == self.eof) then
      self.ended = true
      if self.cont then return self:fields(self.cont) end
      return nil
    end
    if self.warn and rec:find("\0", 1, true) then
      rec = rec:gsub("%z", "\\0")
      self.warn()
    end
    if self.cont then rec, self.cont = self.cont .. rec, nil end
    if self.lines and rec:find("[ \t]$") then
      self.cont = rec                 -- -L: a trailing blank continues the line
    else
      return self:fields(rec)
    end
  end
  return nil
end

local function read_all(src)
  local out = {}
  while true do
    local rec = src:next()
    if rec == nil then return out end
    if rec == false then
      M.wait(src.raw)
      loop.run_until(function() return src.raw.ready end)
    else
      out[#out + 1] = rec
    end
  end
end

local function concat(lists)
  local out = {}
  for _, l in ipairs(lists) do for _, v in ipairs(l) do out[#out + 1] = v end end
  return out
end

-- A group of linked sources, read whole: row i is every source's i-th record, joined. With
-- --link the shorter sources wrap around to the longest; linked with :::+ the group ends
-- with its shortest source (GNU parallel 20221122 does both).
local function linked_rows(lists, wrap)
  local len = wrap and 0 or math.huge
  for _, l in ipairs(lists) do len = wrap and math.max(len, #l) or math.min(len, #l) end
  local rows = {}
  for i = 1, len do
    local parts = {}
    for k, l in ipairs(lists) do parts[k] = #l > 0 and l[(i - 1) % #l + 1] or {} end
    rows[i] = concat(parts)
  end
  return rows
end

-- open(o, warn) -> product | nil, message. o: the parsed options (sources, delimiter, eof,
-- colsep, trim, header, link, max_lines); warn() is called for each input holding a NUL.
-- product.next() -> fields | nil (done) | false (waiting: product.reader is the source to
-- wait for). product.total is known once every input has been read; product.names maps
-- --header's names to positions.
function M.open(o, warn)
  local delim = o.delimiter or "\n"
  local sources = o.sources
  if #sources == 0 then sources = { { file = "-" } } end
  local pat
  if o.colsep then
    local why
    pat, why = M.colsep(o.colsep)
    if not pat then return nil, ("bad value '%s' for '--colsep' (%s)"):format(o.colsep, why) end
  end
  local srcs = {}
  for k, s in ipairs(sources) do
    local raw
    if s.list then
      -- GNU parallel passes ::: arguments through its record reader: an argument holding
      -- the delimiter (a newline by default) is several arguments.
      local list = s.list
      if delim ~= "\0" then
        list = {}
        for _, a in ipairs(s.list) do
          local pos = 1
          while true do
            local e = a:find(delim, pos, true)
            if not e then list[#list + 1] = a:sub(pos); break end
            list[#list + 1] = a:sub(pos, e - 1)
            pos = e + #delim
          end
        end
      end
      raw = list_reader(list)
    else
      local err
      raw, err = file_reader(s.file, delim)
      if not raw then return nil, err end
    end
    srcs[k] = setmetatable({ raw = raw, pat = pat, trim = TRIM[o.trim or "n"],
                             eof = o.eof, lines = o.max_lines ~= nil,
                             warn = not delim:find("\0", 1, true) and warn or nil,
                             linked = k > 1 and (o.link or s.linked) and true,
                             is_list = s.list ~= nil }, Source)
  end
  -- --header: each source's first input names its columns.
  local names, offset = nil, 0
  if o.header then
    names = {}
    for _, src in ipairs(srcs) do
      local h = src:next()
      while h == false do
        M.wait(src.raw)
        loop.run_until(function() return src.raw.ready end)
        h = src:next()
      end
      h = h or {}
      for c, name in ipairs(h) do
        if names[name] == nil then names[name] = offset + c end
      end
      offset = offset + #h
    end
  end
  -- Groups: a source and those linked to it. The first group, when it is one source, is
  -- read lazily; the others whole, since the product goes over them again and again.
  local groups = {}
  for _, src in ipairs(srcs) do
    if src.linked then table.insert(groups[#groups], src) else groups[#groups + 1] = { src } end
  end
  local whole = {}
  for k = 1, #groups do
    if k > 1 or #groups[k] > 1 or groups[k][1].is_list then
      local lists = {}
      for j, src in ipairs(groups[k]) do lists[j] = read_all(src) end
      whole[k] = #lists == 1 and lists[1] or linked_rows(lists, o.link)
    end
  end
  local rest, size = {}, 1
  for k = 2, #groups do
    rest[k - 1] = whole[k]
    size = size * #whole[k]
  end
  local first = groups[1][1]
  if whole[1] then
    local raw = list_reader(whole[1])
    raw.count = #whole[1]
    first = { raw = raw, next = function() return raw.next() end }
  end
  local p = { reader = first.raw, total = nil, read = 0, names = names }
  if first.raw.count then p.total = first.raw.count * size end
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
    local parts = { cur }
    for k = 1, n do parts[k + 1] = rest[k][idx[k]] end
    return n == 0 and cur or concat(parts)
  end
  -- all(): every job's arguments now (for percentages, --shuf, -X and --bar totals).
  function p.all()
    local list = {}
    while true do
      local a = p.next()
      if a == nil then return list end
      if a == false then
        M.wait(p.reader)
        loop.run_until(function() return p.reader.ready end)
      else
        list[#list + 1] = a
      end
    end
  end
  return p
end

return M
