-- corral.cli.status: `corral status JOURNAL`, what a run writing that journal is doing now, read
-- from another terminal: the attempts running (from the journal's start events) with their
-- elapsed time, done and failed counts, and an ETA when the journal knows the run's size (a
-- workflow's run event). Redraws every second on a terminal; prints once on a pipe or file.
-- Only the journal is read: the run is not disturbed.
local core = require "corral.core"
local report = require "corral.cli.report"
local joblog = require "corral.joblog"

local M = {}

local USAGE = [[
usage: corral status JOURNAL [--once] [--interval SECONDS]
Shows what the run writing JOURNAL (a pool's or a workflow's joblog) is doing: running
attempts with their elapsed time, done and failed counts, an ETA for a workflow.
On a terminal it redraws every SECONDS (default 1) until the run ends or Ctrl-C;
on a pipe, or with --once, it prints once.]]

local function clock(s)
  s = math.floor(math.max(0, s) + 0.5)
  if s >= 3600 then return ("%d:%02d:%02d"):format(s // 3600, s // 60 % 60, s % 60) end
  return ("%d:%02d"):format(s // 60, s % 60)
end

local int = report.text

-- alive(pid, host): nil when it cannot be told (another host)
local function alive(pid, host)
  if type(pid) ~= "number" or host ~= joblog.HOST then return nil end
  local f = io.open(("/proc/%d/stat"):format(math.tointeger(pid) or 0))
  if not f then return false end
  local st = f:read("a") or ""
  f:close()
  return st:match("^%d+ %b() (%a)") ~= "Z"
end

-- state(run, now) -> { total, done, counts, failed, running = {events}, started, ended,
--                     owner_alive, eta } for the journal's last run (all of it for a pool).
function M.state(run, now)
  local last = run.runs[#run.runs]
  local from = last and last.seq or 0
  local st = { counts = {}, done = 0, failed = 0, running = {}, total = last and last.total,
               workflow = run.workflow, jobs = last and last.jobs }
  local running_keys = {}
  for _, ev in ipairs(run.running) do
    if ev.seq > from then
      st.running[#st.running + 1] = ev
      ev.alive = alive(ev.pid, ev.host)
      running_keys[report.key_of(ev)] = true
    end
  end
  local lastrec, order = {}, {}
  local t0 = last and last.start
  for _, a in ipairs(run.attempts) do
    if a.seq > from then
      if not lastrec[a.key] then order[#order + 1] = a.key end
      lastrec[a.key] = a
      if not t0 or a.start < t0 then t0 = a.start end
    end
  end
  for _, ev in ipairs(st.running) do
    if ev.start and (not t0 or ev.start < t0) then t0 = ev.start end
  end
  for _, k in ipairs(order) do
    if not running_keys[k] then                    -- a job being retried is not done yet
      local s = lastrec[k].status
      st.counts[s] = (st.counts[s] or 0) + 1
      st.done = st.done + 1
      if report.is_failure(s) then st.failed = st.failed + 1 end
    end
  end
  st.started = t0
  st.elapsed = t0 and now - t0 or 0
  if last then st.owner_alive = alive(last.pid, last.host) end
  st.ended = st.total ~= nil and st.done >= st.total and #st.running == 0
  if st.total and not st.ended and st.done > 0 and st.elapsed > 0 then
    st.eta = (st.total - st.done) / (st.done / st.elapsed)
  end
  return st
end

-- text(run, st, now) -> the status as lines of text
function M.text(run, st, now)
  local out = {}
  local function add(...) out[#out + 1] = table.concat({ ... }) end
  local head = run.path .. ": " .. (st.workflow and "workflow" or "pool")
  if st.started then
    head = head .. ", started " .. os.date("!%H:%M:%S UTC", math.floor(st.started)) .. ", "
      .. clock(st.elapsed) .. " ago"
  else
    head = head .. ", nothing started yet"
  end
  if st.owner_alive == false and not st.ended then head = head .. " (its process is gone)" end
  add(head)
  local parts = {}
  for _, s in ipairs(report.ORDER) do
    if st.counts[s] then parts[#parts + 1] = s .. " " .. st.counts[s] end
  end
  local done = st.total and ("done %d/%d"):format(st.done, st.total) or ("done %d"):format(st.done)
  if #parts > 0 then done = done .. " (" .. table.concat(parts, ", ") .. ")" end
  local line = { done, ("%d running"):format(#st.running), ("%d failed"):format(st.failed) }
  if st.total and not st.ended then
    local waiting = st.total - st.done - #st.running
    if waiting > 0 then line[#line + 1] = ("%d waiting"):format(waiting) end
    line[#line + 1] = "ETA " .. (st.eta and clock(st.eta) or "?")
  end
  if st.ended then line[#line + 1] = "finished" end
  add(table.concat(line, ", "))
  if #st.running > 0 then
    add("running:")
    for _, ev in ipairs(st.running) do
      local name = tostring(ev.name ~= nil and ev.name ~= report.NULL and ev.name or ("#" .. int(ev.id)))
      if #name > 80 then name = name:sub(1, 77) .. "..." end
      local note = ev.alive == false and ", gone: no end record" or ""
      add(("  %9s  %s (attempt %s, pid %s%s)"):format(clock(now - (ev.start or now)),
        name, int(ev.attempt), int(ev.pid), note))
    end
  end
  if run.torn then add("(a torn last line was skipped)") end
  return table.concat(out, "\n") .. "\n"
end

local function fail(msg, code)
  io.stderr:write("corral status: ", msg, "\n")
  os.exit(code or 2)
end

function M.main(argv)
  local path, once, interval
  local i = 1
  while argv[i] do
    local a = argv[i]
    if a == "-h" or a == "--help" then print(USAGE); os.exit(0)
    elseif a == "--once" then once = true
    elseif a == "--interval" or a == "-n" then
      interval = tonumber(argv[i + 1])
      if not interval or interval <= 0 then fail("option '" .. a .. "' needs a number of seconds") end
      i = i + 1
    elseif a:sub(1, 1) == "-" then fail("unknown option '" .. a .. "'")
    elseif path then fail("one JOURNAL expected, got '" .. path .. "' and '" .. a .. "'")
    else path = a end
    i = i + 1
  end
  if not path then fail("missing JOURNAL") end
  local tty = not once and require("corral.workflow.progress").isatty(1)
  local reader = report.reader(path)
  while true do
    local run, err = reader:update(not tty)        -- on a terminal: only what was appended
    err = err or (run and report.not_journal(run))
    if err then fail(err) end
    local now = core.time()
    local st = M.state(run, now)
    local text = M.text(run, st, now)
    if not tty then io.stdout:write(text); os.exit(0) end
    io.stdout:write("\27[H\27[2J", text)
    io.stdout:flush()
    if st.ended or (st.owner_alive == false) then os.exit(0) end
    require("corral.loop").step(interval or 1)
  end
end

return M
