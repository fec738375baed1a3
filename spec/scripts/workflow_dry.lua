-- `corral run --dry-run` of a script with two workflows and a plain pool task
-- (spec/workflow/files_spec): arg[1] = work dir. Run for real, every job writes a file there.
local corral = require "corral"
local d = arg[1]
local wf = corral.workflow { jobs = 2 }
wf:job("make", { shell = "echo x > made", cwd = d, outputs = { "made" } })
wf:job("use", { shell = "cp made used", cwd = d, inputs = { "made" }, outputs = { "used" } })
local report = wf:run()
print("REPORT", report.ok, report.dry_run, #report.list)
local wf2 = corral.workflow {}
wf2:job("other", { cmd = { "touch", d .. "/other" } })
wf2:run()
local p <close> = corral.pool { executor = "shell", size = 1 }
local r = p:submit("echo x > " .. d .. "/pooled"):wait()
print("POOL", r.status, r.error)
