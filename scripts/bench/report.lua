-- corral report on a large journal: writes a synthetic journal of N attempts (a pool of 8
-- slots; 95% ok, the rest failed with stderr, timeout or signaled) and times reading,
-- summarising and rendering it. scripts/bench/report.sh runs it (make bench, docs/benchmarks.md
-- section I); by hand:
--   LUA_PATH='lua/?.lua;;' LUA_CPATH='build/?.so;;' lua5.4 scripts/bench/report.lua [N] [DIR] [keep]
-- (keep: leave DIR/corral-report-bench.jsonl for `time scripts/corral report` on it)
local report = require "corral.cli.report"
local report_html = require "corral.cli.report_html"

local n = tonumber(arg[1]) or 100000
local dir = arg[2] or os.getenv("TMPDIR") or "/tmp"
local path = dir .. "/corral-report-bench.jsonl"

local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

local generate = dofile((arg[0]:match("^(.*)/") or ".") .. "/report_journal.lua")

generate(path, n)
local t0 = now()
local run = assert(report.load(path))
local t1 = now()
local s = report.summarize(run)
local t2 = now()
local html = report_html.render(run, s)
local t3 = now()
local jf = io.open(path)
local jsize = jf:seek("end")
jf:close()
print(("%d attempts, journal %.1f MB: load %.2f s, summarize %.2f s, render %.2f s, total %.2f s; HTML %d KB"):format(
  #run.attempts, jsize / 2^20, t1 - t0, t2 - t1, t3 - t2, t3 - t0, (#html + 1023) // 1024))
if arg[3] == "keep" then print("journal kept: " .. path) else os.remove(path) end
