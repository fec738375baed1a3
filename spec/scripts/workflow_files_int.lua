-- Ctrl-C during a workflow whose jobs have outputs (spec/workflow/files_spec): arg[1] = work
-- dir, arg[2] = "m=" .. a sleep marker (so that this process is not counted as a sleeper). Each job writes its output, then sleeps; "keep" keeps its partial
-- output, "drop" does not.
local corral = require "corral"
local d, m = arg[1], arg[2]:match("^m=(.*)$")
local wf = corral.workflow { jobs = 2, joblog = d .. "/j.jsonl" }
wf:job("drop", { shell = "echo part > drop.out; exec sleep " .. m, cwd = d, outputs = { "drop.out" } })
wf:job("keep", { shell = "echo part > keep.out; exec sleep " .. m, cwd = d, outputs = { "keep.out" },
                 keep_partial = true })
wf:run()
