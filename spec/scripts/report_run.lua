-- A workflow with every kind of ending, for spec/cli/report_spec: ok jobs along a dependency chain, a
-- retried job (fails once, then passes), a failure with stderr, a timeout, a signaled job, a
-- skipped dependent, a lua job. arg[1]: the journal; arg[2] (optional): a file the "hold" job
-- waits for, so a test can look at the run while it is going.
local corral = require "corral"
local journal, hold = arg[1], arg[2]
local dir = journal:match("^(.*)/") or "."

local wf = corral.workflow { jobs = 3, joblog = journal }
wf:job("fetch", { shell = "sleep 0.3" })
wf:job("compile-a", { shell = "sleep 0.4", after = { "fetch" } })
wf:job("compile-b", { shell = "sleep 0.25", after = { "fetch" } })
wf:job("flaky", { retries = 1, shell = ("if [ -e %s/flaky ]; then sleep 0.1; else touch %s/flaky; "
  .. "echo 'flaky: first try fails' >&2; sleep 0.1; exit 1; fi"):format(dir, dir) })
wf:job("test", { shell = "sleep 0.2; echo 'test_sum: assertion failed: 2 ~= 3' >&2; exit 3",
                 after = { "compile-a", "compile-b" } })
wf:job("package", { shell = "true", after = { "test" } })
wf:job("slow", { shell = "sleep 5", timeout = 0.5 })
wf:job("crash", { shell = "sleep 0.15; kill -9 $$" })
wf:job("lint", { fn = function() local n = 0; for i = 1, 2e6 do n = n + i end; return n end })
wf:job("docs", { shell = "sleep 0.2", after = { "compile-b" } })
if hold then
  wf:job("hold", { shell = ("while [ ! -e %s ]; do sleep 0.02; done"):format(hold) })
end
local r = wf:run()
print("DONE", r.ok)
