-- corral.cli.parallel.results: where a job's output goes instead of stdout, as GNU parallel
-- 20221122 lays it out.
--
-- --results DIR: DIR/<name>/<value>/.../{seq,stdout,stderr}, a name/value pair per argument
-- (name: the source or column number, or its --header name; values with \ TAB NUL / written
-- as \\ \t \0 \_). --results with replacement strings: that path (ending in / a directory,
-- else PATH, PATH.err, PATH.seq). --results F.csv / F.tsv: one row per job with its output
-- (-.csv: on stdout). --files: each job's stdout in a temporary file whose name is printed.
local core = require "corral.core"
local template = require "corral.cli.parallel.template"

local M = {}

local EEXIST = 17

local function escape(s)
  return (s:gsub("\\", "\\\\"):gsub("\t", "\\t"):gsub("%z", "\\0"):gsub("/", "\\_"))
end

-- mkpath(path) -> true | nil, message: mkdir -p.
local function mkpath(path)
  local cur = path:sub(1, 1) == "/" and "/" or ""
  for part in path:gmatch("[^/]+") do
    cur = cur .. part
    local ok, err, errno = core.mkdir(cur)
    if not ok and errno ~= EEXIST then return nil, err end
    cur = cur .. "/"
  end
  return true
end

local function write(path, s)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  f:write(s)
  f:close()
  return true
end

-- The bytes of a file (GNU's Receive for output that went to a file).
function M.size(path)
  local f = path and io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n or 0
end

local Results = {}
Results.__index = Results

-- new(o, names) -> results | nil (neither --results nor --files) | nil, message.
-- names: --header's name -> position.
function M.new(o, names)
  if not o.results and not o.files then return nil end
  local self = setmetatable({ o = o, header_of = {} }, Results)
  for name, pos in pairs(names or {}) do self.header_of[pos] = name end
  local r = o.results
  if o.files and not r then
    self.kind = "files"
  elseif r:lower():match("%.[ct]sv$") then
    self.kind = "csv"
    self.sep = r:lower():match("%.csv$") and "," or "\t"
    if r == "-.csv" or r == "-.tsv" then
      self.fh = io.stdout
    else
      local fh, err = io.open(r, "wb")
      if not fh then return nil, ("cannot write --results %s: %s"):format(r, err) end
      fh:setvbuf("full")
      self.fh = fh
    end
  else
    self.kind = "dir"
    local tpl = template.compile({ r }, { bare = true, names = names, replace = o.replace })
    if template.line(tpl, { "\1" }, 1, 1) ~= r then self.tpl = tpl end   -- has replacement strings
  end
  return self
end

-- The name of argument position n: its header, or the number.
function Results:name(n)
  return self.header_of[n] or tostring(n)
end

-- GNU sorts the positions by their names, numerically and then as text.
function Results:order(width)
  local idx = {}
  for n = 1, width do idx[n] = n end
  table.sort(idx, function(a, b)
    local na, nb = self:name(a), self:name(b)
    local x, y = tonumber(na) or 0, tonumber(nb) or 0
    if x ~= y then return x < y end
    if na ~= nb then return na < nb end
    return a < b
  end)
  return idx
end

-- paths(job) -> { stdout =, stderr = } for the job's submit options | nil, message. Makes
-- the directories and the seq file as GNU does before the job runs.
function Results:paths(job)
  if self.kind == "csv" then return {} end
  if self.kind == "files" then
    local name, err = self:tmpfile()
    if not name then return nil, err end
    job.files_name = name
    return { stdout = name, stderr = "null" }
  end
  local dir, seqf, out, err
  if self.tpl then
    local p = template.line(self.tpl, job.args, job.seq, job.slot)
    if p:sub(-1) == "/" then dir = p
    else
      local parent = p:match("^(.*)/")
      if parent then
        local ok, why = mkpath(parent)
        if not ok then return nil, why end
      end
      out, err, seqf = p, p .. ".err", p .. ".seq"
    end
  else
    local parts = {}
    for _, rec in ipairs(job.args.recs or { job.args }) do
      for _, n in ipairs(self:order(#rec)) do
        parts[#parts + 1] = self:name(n)
        parts[#parts + 1] = escape(rec[n])
      end
    end
    dir = self.o.results .. "/" .. table.concat(parts, "/") .. "/"
  end
  if dir then
    local ok, why = mkpath(dir)
    if not ok then return nil, why end
    out, err, seqf = dir .. "stdout", dir .. "stderr", dir .. "seq"
  end
  local ok, why = write(seqf, tostring(job.seq))
  if not ok then return nil, why end
  job.results_out = out
  return { stdout = out, stderr = err }
end

-- tmpfile() -> a new empty file's name, GNU's TMPDIR/parXXXXX.par (--tmpdir, $TMPDIR or
-- /tmp) | nil, message. A name taken meanwhile is skipped: the file is created by the first
-- open that finds it absent.
local CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
function Results:tmpfile()
  local dir = self.o.tmpdir or os.getenv("TMPDIR") or "/tmp"
  for _ = 1, 100 do
    local t = {}
    for i = 1, 5 do
      local k = math.random(#CHARS)
      t[i] = CHARS:sub(k, k)
    end
    local name = ("%s/par%s.par"):format(dir, table.concat(t))
    local probe = io.open(name, "rb")
    if probe then
      probe:close()
    else
      local ok, err = write(name, "")
      if not ok then return nil, ("cannot write in --tmpdir %s: %s"):format(dir, err) end
      return name
    end
  end
  return nil, "no free temporary file name in " .. dir
end

-- What is printed for a finished job instead of its output (--files: its file's name).
function Results:printed(job)
  if self.kind == "files" then return (job.tag or "") .. job.files_name .. "\n" end
  return ""
end

-- receive(job, r): the bytes of stdout, wherever they went.
function Results:receive(job, r)
  if self.kind == "csv" then return #(r.stdout or "") end
  return M.size(job.files_name or job.results_out)
end

local function csv_field(v, sep)
  v = tostring(v or "")
  local quote = false
  if v:find('"', 1, true) then v = v:gsub('"', '""'); quote = true end
  if v:find("%s") or v:find(sep, 1, true) or v:find("\0", 1, true) then quote = true end
  return quote and '"' .. v .. '"' or v
end

-- row(job, r): --results F.csv's line for a finished job (the header before the first).
function Results:row(job, r)
  if self.kind ~= "csv" then return end
  local sep, args = self.sep, job.args
  local fields = {}
  local function add(v) fields[#fields + 1] = csv_field(v, sep) end
  if not self.header_done then
    self.header_done = true
    for _, h in ipairs({ "Seq", "Host", "Starttime", "JobRuntime", "Send", "Receive", "Exitval",
                         "Signal", "Command" }) do add(h) end
    for n = 1, #args do add(self.header_of[n] or ("V" .. n)) end
    add("Stdout"); add("Stderr")
    self.fh:write(table.concat(fields, sep), "\n")
    fields = {}
  end
  add(job.seq); add(":"); add(("%.3f"):format(r.start or 0)); add(("%.3f"):format(r.duration or 0))
  add(0); add(job.receive); add(job.exitval); add(job.signal); add(job.cmd)
  for n = 1, #args do add(args[n]) end
  add(r.stdout); add(r.stderr)
  self.fh:write(table.concat(fields, sep), "\n")
end

function Results:close()
  if self.fh and self.fh ~= io.stdout then self.fh:close() end
  if self.fh == io.stdout then io.stdout:flush() end
end

return M
