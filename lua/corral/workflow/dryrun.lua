-- corral.workflow.dryrun: what `corral run --dry-run` shows in place of a workflow's run: its
-- plan, one line per job, on stdout; and the report run() returns then (nothing ran).
local M = {}

-- show(plan, level) -> report. level: the stack level of the script's call to run(), named in
-- the heading so a script with several workflows tells them apart.
function M.show(plan, level)
  local info = debug.getinfo(level + 1, "Sl")
  local where = info and info.currentline and info.currentline > 0
    and ("%s:%d"):format(info.short_src, info.currentline) or "?"
  local nrun, width = 0, 0
  for _, e in ipairs(plan) do
    if e.action == "run" then nrun = nrun + 1 end
    if #e.name > width then width = #e.name end
  end
  local out = { ("dry run: workflow at %s: %d to run, %d to skip\n"):format(where, nrun, #plan - nrun) }
  for _, e in ipairs(plan) do
    out[#out + 1] = ("  %-4s  %s%s  %s\n"):format(e.action, e.name, (" "):rep(width - #e.name), e.reason)
  end
  io.stdout:write(table.concat(out))
  io.stdout:flush()
  return { ok = true, dry_run = true, plan = plan, counts = {}, records = {}, list = {}, duration = 0 }
end

return M
