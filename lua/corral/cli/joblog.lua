-- corral.cli.joblog: `corral joblog FILE`, a summary of a journal: how many jobs ended
-- how, which failed and why, and the slowest. Reads corral's JSON-lines journals (one
-- record per attempt; the last attempt of each id counts) and GNU parallel's TSV joblogs
-- (as `corral parallel --joblog` writes them; the last line of each Seq counts). A torn last
-- line, as a crash mid-write leaves, is skipped and mentioned; event lines (`"event"`) are not
-- outcomes and are skipped.
local cjson = require "cjson.safe"
local tsv = require "corral.cli.parallel.log"
local report = require "corral.cli.report"
local key_of = report.key_of

local M = {}

local USAGE = [[
usage: corral joblog FILE
Summarises a job log: corral's JSON-lines journal (pool option joblog) or GNU parallel's
TSV --joblog (also what corral parallel --joblog writes): jobs per status, the failures
with their exit codes or signals, the 5 slowest jobs.]]

local SLOWEST = 5
local ORDER = report.ORDER

-- A GNU row as a corral-like record. Exitval -1 is GNU's "killed": a timeout, Ctrl-C, or
-- --memfree; corral parallel writes it for timeouts.
local function from_tsv(row)
  local status
  if row.exitval == 0 and row.signal == 0 then status = "ok"
  elseif row.exitval == -1 then status = "timeout"
  elseif row.signal ~= 0 then status = "signaled"
  else status = "failed" end
  return { id = row.seq, name = row.command, status = status,
           code = row.exitval > 0 and row.exitval or nil,
           signal = row.signal ~= 0 and row.signal or nil,
           start = row.start, duration = row.duration }
end

-- read(path) -> { format =, records = (final, by first appearance), attempts =, bad = } | nil, err
function M.read(path)
  local fh, err = io.open(path, "rb")
  if not fh then return nil, err end
  local text, rerr = fh:read("a")             -- nil for a directory: "Is a directory"
  fh:close()
  if not text then return nil, path .. ": " .. tostring(rerr) end
  local lines = {}
  for line in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local tail = text:match("([^\n]+)$")           -- no newline yet: maybe torn
  if tail then lines[#lines + 1] = tail end
  local first = lines[1] or ""
  local format = (first:sub(1, 1) == "{" or first == "") and "corral" or "gnu"
  local order, final, attempts, bad, torn = {}, {}, 0, 0, false
  local start = 1
  if format == "gnu" and first == tsv.HEADER then start = 2 end
  for i = start, #lines do
    local line = lines[i]
    local rec
    if line ~= "" then
      if format == "corral" then
        local r = cjson.decode(line)
        if type(r) == "table" then
          if r.event ~= nil then goto next end      -- a start or run event, not an outcome
          rec = r
        end
      else
        local row = tsv.parse_line(line)
        if row then rec = from_tsv(row) end
        -- a torn TSV line may still parse: trust it only if it ended with its newline
        if rec and i == #lines and tail then rec = nil end
      end
      if rec then
        attempts = attempts + 1
        -- a job's attempts share report.key_of (a workflow's: its name, as ids repeat
        -- across its pools); a record with neither name nor id stands alone
        local key = key_of(rec)
        if key == "i:nil" then key = "line " .. i end
        if not final[key] then order[#order + 1] = key end
        final[key] = rec
      elseif i == #lines then
        torn = true
      else
        bad = bad + 1
      end
    end
    ::next::
  end
  if attempts == 0 and (bad > 0 or torn) and first:sub(1, 1) ~= "{" and first ~= tsv.HEADER then
    return nil, ("%s: neither a corral journal nor a GNU parallel joblog"):format(path)
  end
  local records = {}
  for k, key in ipairs(order) do records[k] = final[key] end
  return { format = format, records = records, attempts = attempts, bad = bad, torn = torn }
end

local function cmp_duration(a, b)
  return (tonumber(a.duration) or 0) > (tonumber(b.duration) or 0)
end

local num = report.text

local function how(r)
  local parts = {}
  if r.code and r.code ~= cjson.null then parts[#parts + 1] = "exit " .. num(r.code) end
  if r.signal and r.signal ~= cjson.null then parts[#parts + 1] = "signal " .. num(r.signal) end
  if r.error and r.error ~= cjson.null then parts[#parts + 1] = tostring(r.error) end
  return table.concat(parts, ", ")
end

-- One line of printable text (a NUL would also make string.format's padded %s raise).
local function one_line(s)
  s = tostring(s or ""):gsub("[\r\n]+", " "):gsub("%c", "?")
  if #s > 100 then s = s:sub(1, 97) .. "..." end
  return s
end

-- report(info, path) -> the summary as text.
function M.report(info, path)
  local out = {}
  local function add(...) out[#out + 1] = table.concat({ ... }) end
  local recs = info.records
  add(path, ": ", info.format == "gnu" and "GNU parallel joblog" or "corral journal", ", ",
      tostring(#recs), " jobs, ", tostring(info.attempts), " attempts")
  local counts, seen = {}, {}
  for _, r in ipairs(recs) do
    local s = tostring(r.status or "?")
    counts[s] = (counts[s] or 0) + 1
  end
  local parts = {}
  for _, s in ipairs(ORDER) do
    if counts[s] then parts[#parts + 1] = s .. " " .. counts[s]; seen[s] = true end
  end
  local others = {}
  for s in pairs(counts) do if not seen[s] then others[#others + 1] = s end end
  table.sort(others)
  for _, s in ipairs(others) do parts[#parts + 1] = s .. " " .. counts[s] end
  add("status: ", #parts > 0 and table.concat(parts, ", ") or "no jobs")
  local failures = {}
  for _, r in ipairs(recs) do
    if r.status ~= "ok" and r.status ~= "skipped" then failures[#failures + 1] = r end
  end
  if #failures > 0 then
    add("failures:")
    for _, r in ipairs(failures) do
      local h = how(r)
      add(("  #%-5s %-9s %-18s %s"):format(one_line(num(r.id or "?")), one_line(r.status),
        h ~= "" and one_line(h) or "-", one_line(r.name)))
    end
  end
  local sorted = {}
  for k, r in ipairs(recs) do sorted[k] = r end
  table.sort(sorted, cmp_duration)
  if #sorted > 0 then
    add("slowest:")
    for k = 1, math.min(SLOWEST, #sorted) do
      local r = sorted[k]
      add(("  %10.3fs  #%-5s %s"):format(tonumber(r.duration) or 0, one_line(num(r.id or "?")), one_line(r.name)))
    end
  end
  if info.torn then add("(a torn last line was skipped)") end
  if info.bad > 0 then add(("(%d unreadable lines skipped)"):format(info.bad)) end
  return table.concat(out, "\n") .. "\n"
end

function M.main(argv)
  local path = argv[1]
  if path == "--help" or path == "-h" then print(USAGE); os.exit(0) end
  if not path or argv[2] then
    io.stderr:write("corral joblog: ", path and "one FILE expected" or "missing FILE", "\n")
    os.exit(2)
  end
  if path:sub(1, 1) == "-" and path ~= "-" then
    io.stderr:write("corral joblog: unknown option '", path, "'\n")
    os.exit(2)
  end
  local info, err = M.read(path == "-" and "/dev/stdin" or path)
  if not info then
    io.stderr:write("corral joblog: ", err, "\n")
    os.exit(1)
  end
  io.stdout:write(M.report(info, path))
  os.exit(0)
end

return M
