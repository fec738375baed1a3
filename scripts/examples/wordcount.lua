-- A resumable pipeline: count the words of every licence text on this machine, one job per
-- file, then add them up in Lua. Kill it (even with kill -9) and run it again: the journal
-- makes it pick up where it stopped. Run it with:
--   scripts/corral run scripts/examples/wordcount.lua [DIR] [JOURNAL]
-- The journal is wordcount.jsonl in the current directory unless given: the same path every
-- run, which is what lets a run resume the last one.
local corral = require "corral"

local dir = arg[1] or "/usr/share/common-licenses"
local journal = arg[2] or "wordcount.jsonl"

-- a word for /bin/sh: single quotes, with any ' inside closed, escaped and reopened
local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local d = io.open(dir .. "/.")
if not d then
  io.stderr:write("wordcount: ", dir, ": not a readable directory\n")
  os.exit(2)
end
d:close()

local wf = corral.workflow { jobs = 4, joblog = journal, resume = true, retries = 1,
                             halt = "soon,fail=3", progress = true }

-- One shell job per file; `wc -w < file` prints just the number.
local names = {}
for name in io.popen("ls " .. shell_quote(dir)):lines() do
  local path = dir .. "/" .. name
  wf:job(name, { shell = "wc -w < " .. shell_quote(path), timeout = 10 })
  names[#names + 1] = name
end

-- A Lua job, run in a worker process once every count is done. The counts are in the journal
-- already (each record is flushed as its job ends), with each job's captured stdout.
wf:job("total", {
  fn = function(path)
    local cjson = require "cjson.safe"
    local last = {}                        -- the last record of each job wins
    for line in io.lines(path) do
      local r = cjson.decode(line)
      if r and r.name then last[r.name] = r end
    end
    local sum, files = 0, 0
    for _, r in pairs(last) do
      local n = r.status == "ok" and tonumber(r.stdout or "")
      if n then sum, files = sum + n, files + 1 end
    end
    return sum, files
  end,
  args = { journal },
  after = names,
})

local report = wf:run()
local total = report.records.total
if total.status == "ok" then
  print(("%d words in %d files (journal: %s)"):format(total.values[1], total.values[2], journal))
else
  print("total: " .. total.status .. " " .. tostring(total.error))
end
for status, n in pairs(report.counts) do print(("  %-9s %d"):format(status, n)) end
os.exit(report.ok and 0 or 1)
