-- corral.cli.parallel.log: GNU parallel's --joblog, a TSV file other tools already read.
--
-- Header and number formats are GNU parallel 20221122's: Starttime "%.3f" epoch seconds,
-- JobRuntime "%10.3f" truncated to the millisecond, Host ":" for this machine, Send the bytes
-- of stdin given (--pipe, else 0), Receive the bytes of output, a newline in the command
-- written as NUL. One line per job, for its last attempt, flushed as it ends.
local M = {}

M.HEADER = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"

local Log = {}
Log.__index = Log

-- open(path, append, resume) -> log | nil, message. A new log gets the header; "+FILE"
-- (append) adds lines only; with --resume a log that has a header is appended to.
function M.open(path, append, resume)
  if resume then
    local fh = io.open(path, "rb")
    if fh then
      local first = fh:read("L")
      fh:close()
      if first and first ~= "" then append = true end
    end
  end
  local fh, err = io.open(path, append and "ab" or "wb")
  if not fh then return nil, ("cannot write --joblog %s: %s"):format(path, err) end
  fh:setvbuf("no")
  if not append then fh:write(M.HEADER, "\n") end
  return setmetatable({ fh = fh }, Log)
end

-- line{ seq, start, duration, send, receive, exitval, signal, command } -> the TSV line
function M.line(j)
  local runtime = math.floor(j.duration * 1000) / 1000
  return table.concat({
    tostring(j.seq), ":", ("%.3f"):format(j.start), ("%10.3f"):format(runtime),
    tostring(j.send or 0), tostring(j.receive or 0), tostring(j.exitval), tostring(j.signal),
    (j.command:gsub("\n", "\0")),
  }, "\t")
end

function Log:write(j)
  self.fh:write(M.line(j), "\n")
end

function Log:close()
  if self.fh then self.fh:close(); self.fh = nil end
end

-- done_seqs(path, failed_too) -> set of Seq already run | nil, message. --resume: every Seq
-- in the log; --resume-failed: only those with Exitval 0 and Signal 0. A missing log is an
-- empty one; a line that is not a job line is an error, as for GNU parallel.
function M.done_seqs(path, ok_only)
  local fh = io.open(path, "rb")
  local done = {}
  if not fh then return done end
  fh:read("L")                                 -- the header
  local format = "%d+%s+%S+%s+" .. ("[-0-9.]+%s+"):rep(6)
  for line in fh:lines() do
    local seq = line:match("^(%d+)")
    if ok_only then seq = line:match("^(%d+)\t[^\t]+\t[^\t]+\t[^\t]+\t[^\t]+\t[^\t]+\t0\t0\t") end
    if seq then
      done[tonumber(seq)] = true
    elseif not line:find(format) then
      fh:close()
      return nil, ("format of joblog '%s' is wrong: %s"):format(path, line)
    end
  end
  fh:close()
  return done
end

-- failed_jobs(path) -> { { seq =, cmd = } } in Seq order | nil, message: --retry-failed's
-- jobs, those whose last line in the joblog has a non-zero Exitval or Signal.
function M.failed_jobs(path)
  local fh, err = io.open(path, "rb")
  if not fh then return nil, ("cannot read --joblog %s: %s"):format(path, err) end
  fh:read("L")                                 -- the header
  local last = {}
  for line in fh:lines() do
    local row = M.parse_line(line)
    if row then last[row.seq] = row end
  end
  fh:close()
  local seqs = {}
  for seq, row in pairs(last) do
    if row.exitval ~= 0 or row.signal ~= 0 then seqs[#seqs + 1] = seq end
  end
  table.sort(seqs)
  local jobs = {}
  for i, seq in ipairs(seqs) do jobs[i] = { seq = seq, args = {}, cmd = last[seq].command } end
  return jobs
end

-- parse_line(line) -> row | nil: a job line as a table (for `corral joblog`).
function M.parse_line(line)
  local f = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
  if #f < 9 or not f[1]:match("^%d+$") then return nil end
  local exitval, signal = tonumber(f[7]), tonumber(f[8])
  if not exitval or not signal then return nil end
  return { seq = tonumber(f[1]), host = f[2], start = tonumber(f[3]), duration = tonumber(f[4]),
           send = tonumber(f[5]), receive = tonumber(f[6]), exitval = exitval, signal = signal,
           command = table.concat(f, "\t", 9):gsub("%z", "\n") }
end

return M
