-- A workflow for spec/workflow/jobs_spec's resume test. arg[1] = work dir. Every job appends its name to
-- DIR/count when it runs; "slow" blocks until DIR/gate exists. Prints "ready" once a, b, c and
-- slow have started.
local corral = require "corral"
local dir = arg[1]
local function mark(name) return ("echo %s >> %s/count"):format(name, dir) end
local wf = corral.workflow { jobs = 2, joblog = dir .. "/journal.jsonl", resume = true }
wf:job("a", { shell = mark("a") })
wf:job("b", { shell = mark("b"), after = { "a" } })
wf:job("c", { fn = function(d) local f = io.open(d .. "/count", "a"); f:write("c\n"); f:close() end,
              args = { dir }, after = { "a" } })
wf:job("slow", { shell = mark("slow") .. "; while [ ! -e " .. dir .. "/gate ]; do sleep 0.05; done",
                 after = { "b", "c" } })
wf:job("last", { cmd = { "sh", "-c", mark("last") }, after = { "slow" } })
local report = wf:run()
io.write(("DONE %s %d\n"):format(tostring(report.ok), report.counts.ok))
