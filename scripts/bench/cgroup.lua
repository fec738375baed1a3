-- cgroup.lua [N] [ROUNDS]: what cgroup mode and limits cost (docs/api.md, "Cgroup mode and
-- resource limits"), printed as the body of docs/benchmarks.md's section H. Run by
-- scripts/bench/run.sh (make bench), or by hand:
--   scripts/corral run scripts/bench/cgroup.lua 1000 3
-- Launch: N × /bin/true on an exec pool of 2 (stdout/stderr "null"), each setting in turn
-- within a round (round-robin), median of the rounds; the ratio is the median of the ratios
-- to the default within each round. Cancel: cancel() to the record of a cgroup-mode task whose
-- main process has a setsid escapee, median of ROUNDS * 5.
local corral = require "corral"
local core = require "corral.core"

local n = tonumber(arg[1]) or 1000
local rounds = tonumber(arg[2]) or 3

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  return s[(#s + 1) // 2]
end

local SETTINGS = {
  { "default (no cgroup, no limits)", {} },
  { "rlimits only: `limits = { nofile = 4096 }`", { limits = { nofile = 4096 } } },
  { "`cgroup = true`", { cgroup = true } },
  { "`cgroup = true`, `limits = { memory = 256 MiB }`", { cgroup = true, limits = { memory = 256 * 2^20 } } },
}

-- rate(opts) -> tasks per second, or nil, why
local function rate(extra)
  local opts = { executor = "exec", size = 2, stdout = "null", stderr = "null" }
  for k, v in pairs(extra) do opts[k] = v end
  local t0 = core.now()
  local pool <close> = corral.pool(opts)
  local fs = {}
  for i = 1, n do fs[i] = pool:submit { "/bin/true" } end
  pool:join()
  local secs = core.now() - t0
  for _, f in ipairs(fs) do
    local r = f.record
    if r.status ~= "ok" then return nil, ("%s: %s"):format(r.status, tostring(r.error or r.code)) end
  end
  return n / secs
end

local rates, ratios, why = {}, {}, {}
for i = 1, #SETTINGS do rates[i], ratios[i] = {}, {} end
for _ = 1, rounds do
  local base
  for i, s in ipairs(SETTINGS) do
    local r, err = rate(s[2])
    if r then
      rates[i][#rates[i] + 1] = r
      base = base or (i == 1 and r)
      if base then ratios[i][#ratios[i] + 1] = r / base end
    else
      why[i] = err
    end
  end
end

-- cancel(script) -> ms from cancel() to the record, or nil, why
local function cancel_ms(script)
  local pool <close> = corral.pool { size = 1, cgroup = true }
  local f = pool:submit(script)
  corral.sleep(0.1)                          -- the escapee has started (a bench, not a test)
  local t0 = core.now()
  f:cancel()
  local r = f:wait()
  local ms = (core.now() - t0) * 1000
  if r.status ~= "cancelled" then return nil, r.status .. ": " .. tostring(r.error) end
  return ms
end

local CANCELS = {
  { "TERM ends them: `setsid sleep 300 & sleep 300`", "setsid sleep 300 & sleep 300" },
  { "the escapee ignores TERM: `setsid sh -c 'trap \"\" TERM; sleep 300' & sleep 300`",
    "setsid sh -c 'trap \"\" TERM; sleep 300' & sleep 300" },
}
local cancels = {}
for i, c in ipairs(CANCELS) do
  cancels[i] = {}
  for _ = 1, rounds * 5 do
    local ms, err = cancel_ms(c[2])
    if ms then cancels[i][#cancels[i] + 1] = ms else why["c" .. i] = err end
  end
end

print(("`scripts/corral run scripts/bench/cgroup.lua %d %d`: %d × `/bin/true` on an exec pool of 2"):format(n, rounds, n))
print("(stdout and stderr `\"null\"`), each setting in turn within a round, median of " .. rounds .. " rounds; the")
print("ratio is the median of the ratios to the default within each round.")
print()
print("| setting | tasks/s | × default |")
print("|---|---:|---:|")
for i, s in ipairs(SETTINGS) do
  if #rates[i] > 0 then
    print(("| %s | %.0f | %.2f |"):format(s[1], median(rates[i]), #ratios[i] > 0 and median(ratios[i]) or 0))
  else
    print(("| %s | not measured: %s | |"):format(s[1], why[i]))
  end
end
print()
print(("`cancel()` to the record of a `cgroup = true` task whose main process has a setsid escapee, median of %d:"):format(rounds * 5))
print()
print("| case | ms |")
print("|---|---:|")
for i, c in ipairs(CANCELS) do
  if #cancels[i] > 0 then print(("| %s | %.1f |"):format(c[1], median(cancels[i])))
  else print(("| %s | not measured: %s |"):format(c[1], why["c" .. i])) end
end
