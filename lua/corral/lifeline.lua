-- corral.lifeline: if this process dies, even by SIGKILL, the process groups it started must
-- not outlive it. (Placeholder: add/remove register groups; the watchdog lands with issue 6.)
local M = {}

function M.add(pgid) end
function M.remove(pgid) end

return M
