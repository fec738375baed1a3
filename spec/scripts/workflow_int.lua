-- Ctrl-C during a workflow (spec/workflow/jobs_spec): arg[1] = journal path, arg[2] = "m=" .. a sleep
-- marker. Two jobs sleep, two wait for them.
local corral = require "corral"
local path, m = arg[1], arg[2]:match("^m=(.*)$")
local wf = corral.workflow { jobs = 2, joblog = path }
wf:job("s1", { cmd = { "sleep", m } })
wf:job("s2", { shell = "sleep " .. m })
wf:job("after1", { shell = "true", after = { "s1" } })
wf:job("free", { shell = "true", after = { "s1", "s2" } })
wf:run()
