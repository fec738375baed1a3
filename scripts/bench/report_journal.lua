-- A synthetic journal for corral report at scale (scripts/bench/report.lua, spec/cli/report_spec.lua):
-- n end records, each after its start event, as a pool of 8 slots writes them; 95% ok, the
-- rest failed (with stderr), timeout or signaled. dofile() returns generate(path, n).
local cjson = require "cjson"

-- generate(path, n): n end records (plus their start events) as a size-8 pool writes them
return function(file, count)
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

