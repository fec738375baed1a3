-- Ctrl-C scenarios for spec/pool/interrupt_spec: arg[1] = on_interrupt mode, arg[2] = task flavour.
-- Tasks print "ready" on the script's stdout (inherited) once they run; at the end every
-- record is printed as a REC line, then the script raises what it caught.
local corral = require "corral"
local mode, flavour, termseq, marker = arg[1], arg[2], arg[3], arg[4]
if termseq == "" then termseq = nil end

local tasks = {
  plain = "echo ready; exec sleep 30",
  -- finishes on its own 2 s after starting: what drain waits for
  finish = "echo ready; sleep 2; exit 5",
  -- acknowledges TERM and keeps running: only KILL ends it
  stubborn = "trap 'echo got-TERM' TERM; echo ready; while :; do sleep 0.05; done",
  -- ends with its own code on INT
  trapint = "trap 'exit 7' INT; echo ready; while :; do sleep 0.05; done",
}

-- A marker in each command line (": MARKER;" is a no-op) lets the spec count survivors.
if marker then
  for k, t in pairs(tasks) do tasks[k] = ": " .. marker .. "; " .. t:gsub("exec sleep 30", "exec sleep " .. marker) end
end

local pool = corral.pool { executor = "shell", size = 2, on_interrupt = mode,
                           stdout = "inherit", termseq = termseq }
local fs = {}
fs[1] = pool:submit(tasks[flavour])
fs[2] = pool:submit(tasks[flavour])
fs[3] = pool:submit(flavour == "trapint" and "exit 0" or "echo started-3")
fs[4] = pool:submit(flavour == "trapint" and "exit 0" or "echo started-4")

local ok, err = pcall(pool.join, pool)
for _, f in ipairs(fs) do
  local r = f.record
  io.write(("REC id=%d status=%s code=%s signal=%s error=%s\n"):format(r.id, r.status,
    tostring(r.code), tostring(r.signal), tostring(r.error and r.error:gsub("%s", "_"))))
end
io.write(ok and "JOIN returned\n" or ("JOIN raised " .. tostring(getmetatable(err) == corral.Interrupted and "Interrupted" or err) .. "\n"))
io.stdout:flush()
if not ok then error(err, 0) end
