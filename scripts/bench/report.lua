-- corral report on a large journal: writes a synthetic journal of N attempts (a pool of 8
-- slots; 95% ok, the rest failed with stderr, timeout or signaled) and times reading,
-- summarising and rendering it. Not part of `make bench`'s anchors; run by hand:
--   LUA_PATH='lua/?.lua;;' LUA_CPATH='build/?.so;;' lua5.4 scripts/bench/report.lua [N] [DIR] [keep]
-- (keep: leave DIR/corral-report-bench.jsonl for `time scripts/corral report` on it)
local report = require "corral.report"
local report_html = require "corral.report_html"
local cjson = require "cjson"

local n = tonumber(arg[1]) or 100000
local dir = arg[2] or os.getenv("TMPDIR") or "/tmp"
local path = dir .. "/corral-report-bench.jsonl"

local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

-- generate(path, n): n end records (plus their start events) as a size-8 pool writes them
local function generate(file, count)
  math.randomseed(42)
  local fh = assert(io.open(file, "w"))
  local free = {}
  for i = 1, 8 do free[i] = 1.7e9 end
  for id = 1, count do
    local slot, t = 1, free[1]
    for i = 2, 8 do if free[i] < t then slot, t = i, free[i] end end
    local d = 0.01 + math.random() * 0.5
    local roll = math.random(100)
    local r = { id = id, name = ("./step.sh input-%06d.dat"):format(id), attempt = 1,
                start = t, duration = d, pid = 10000 + id, host = "bench",
                rusage = { utime = d * 0.8, stime = d * 0.05, maxrss = 3000 }, stdout = "", stderr = "" }
    if roll <= 95 then r.status, r.code = "ok", 0
    elseif roll <= 98 then r.status, r.code, r.stderr = "failed", 1, "step.sh: input is corrupt\n"
    elseif roll <= 99 then r.status, r.signal, r.error = "timeout", "TERM", "timed out after 0.5s"
    else r.status, r.signal = "signaled", "KILL" end
    fh:write(cjson.encode { event = "start", id = id, name = r.name, attempt = 1, start = t,
                            pid = r.pid, host = "bench" }, "\n")
    fh:write(cjson.encode(r), "\n")
    free[slot] = t + d
  end
  fh:close()
end

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
