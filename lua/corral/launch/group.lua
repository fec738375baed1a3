-- corral.launch.group: ending process groups with a termination sequence.
--
-- A sequence "TERM,200,KILL" is: send TERM (and CONT, so a stopped group can act on it),
-- wait up to 200 ms for the group to be gone, then send KILL. "Gone" means no live member:
-- zombies do not count (PID 1 may take seconds to reap orphans; waiting for it is what makes
-- other tools slow to stop). One /proc scan serves every group being ended at the time.
local core = require "corral.core"
local loop = require "corral.loop"

local M = {}

local POLL = 0.005          -- seconds between scans while groups are being ended
local GIVE_UP = 5           -- seconds after the last signal before a group is reported stuck

-- parse("TERM,200,KILL") -> { { sig = 15, name = "TERM", wait = 0.2 }, { sig = 9, name = "KILL" } }
-- Raises, naming the bad item, on a malformed sequence.
function M.parse(spec, argname)
  argname = argname or "termseq"
  if type(spec) ~= "string" then
    error(("bad option '%s' (string expected, got %s)"):format(argname, type(spec)), 0)
  end
  local steps, expect_sig, n = {}, true, 0
  for item in (spec .. ","):gmatch("([^,]*),") do
    n = n + 1
    item = item:match("^%s*(.-)%s*$")
    if expect_sig then
      local ok, num = pcall(core.signum, tonumber(item) or item)
      if item == "" or not ok then
        error(("bad option '%s' ('%s': item %d, '%s', is not a signal)"):format(argname, spec, n, item), 0)
      end
      steps[#steps + 1] = { sig = num, name = core.signame(num) or tostring(num) }
    else
      local ms = tonumber(item)
      if not ms or ms < 0 or ms ~= ms then
        error(("bad option '%s' ('%s': item %d, '%s', is not a number of milliseconds)"):format(argname, spec, n, item), 0)
      end
      steps[#steps].wait = ms / 1000
    end
    expect_sig = not expect_sig
  end
  return steps
end

local ending = {}           -- pgid -> { steps, i, deadline, on_done }
local scanning = false

local CONT = core.signum "CONT"
local KILL = core.signum "KILL"

local function send(pgid, sig)
  local ok = core.killpg(pgid, sig)
  if ok and sig ~= CONT and sig ~= KILL then core.killpg(pgid, CONT) end
  return ok
end

local function finish(pgid, st, gone)
  ending[pgid] = nil
  st.on_done(gone)
end

local function advance(pgid, st)
  st.i = st.i + 1
  local step = st.steps[st.i]
  if not step then return finish(pgid, st, false) end
  if not send(pgid, step.sig) then return finish(pgid, st, true) end
  st.deadline = loop.now() + (step.wait or (st.i == #st.steps and GIVE_UP or 0))
end

local function scan()
  local list = {}
  for pgid in pairs(ending) do list[#list + 1] = pgid end
  if #list == 0 then scanning = false; return end
  local live = core.live_groups(list) or {}
  local t = loop.now()
  for _, pgid in ipairs(list) do
    local st = ending[pgid]
    if st then
      if not live[pgid] then finish(pgid, st, true)
      elseif t >= st.deadline then advance(pgid, st) end
    end
  end
  if next(ending) then loop.timer(POLL, scan) else scanning = false end
end

-- stop(pgid, steps, on_done): run the sequence on the group; on_done(gone) once no live
-- member is left (gone = true) or the sequence ran out (gone = false). A second call for a
-- group already being ended only moves it to its next signal at once (an impatient user).
function M.stop(pgid, steps, on_done)
  local st = ending[pgid]
  if st then
    advance(pgid, st)
    return
  end
  st = { steps = steps, i = 0, on_done = on_done }
  ending[pgid] = st
  advance(pgid, st)
  if ending[pgid] and not scanning then
    scanning = true
    loop.timer(POLL / 5, scan)
  end
end

-- hurry(pgid): skip to KILL now for a group being ended (second Ctrl-C).
function M.hurry(pgid)
  local st = ending[pgid]
  if st then
    send(pgid, KILL)
    st.i = #st.steps
    st.deadline = loop.now() + GIVE_UP
  end
end

function M.ending(pgid) return ending[pgid] ~= nil end

return M
