-- corral.executors: what a task is for each executor kind, and how it is named.
--
-- "exec" runs an argv table without a shell; "shell" runs a string with /bin/sh -c; both run
-- as a process group through corral.launch.proc. "lua" (functions in worker processes) lives in
-- corral.lua.worker. Each executor checks its task argument at submit and raises naming it.
local M = {}

local function bad(fname, msg) error(("bad argument #1 to '%s' (%s)"):format(fname, msg), 4) end

-- A readable name for a record: the command as a user would type it.
local function shell_quote(s)
  if s:match("^[%w%%+,./:=@_-]+$") then return s end
  return "'" .. s:gsub("'", [['"'"']]) .. "'"
end
M.shell_quote = shell_quote

M.exec = {
  returns_record = true,
  -- prepare(task, fname) -> argv, name
  prepare = function(task, fname)
    if type(task) ~= "table" then bad(fname, "argv table expected, got " .. type(task)) end
    local n = #task
    if n == 0 then bad(fname, "argv is empty") end
    local parts = {}
    for i = 1, n do
      local a = task[i]
      if type(a) ~= "string" then
        if math.type(a) == "integer" then a = tostring(a)
        else bad(fname, ("argv[%d] is %s, string expected"):format(i, type(a))) end
      end
      if a:find("\0", 1, true) then bad(fname, ("argv[%d] contains a zero byte"):format(i)) end
      parts[i] = a
    end
    local names = {}
    for i = 1, n do names[i] = shell_quote(parts[i]) end
    return parts, table.concat(names, " ")
  end,
}

M.shell = {
  returns_record = true,
  prepare = function(task, fname)
    if type(task) ~= "string" then bad(fname, "shell command string expected, got " .. type(task)) end
    if task:find("\0", 1, true) then bad(fname, "command contains a zero byte") end
    return { "/bin/sh", "-c", task }, task
  end,
}

-- "lua": a function without upvalues other than _ENV (sent as bytecode) or "module.fn", plus
-- arguments. The task is encoded here, at submit, so a value that cannot cross is refused now,
-- naming its path (args[2].cb), instead of failing later in a worker.
local fn_names = setmetatable({}, { __mode = "k" })

M.lua = {
  lua = true,
  prepare = function(fn, fname, ...)
    local core = require "corral.core"
    local name
    if type(fn) == "string" then
      if not fn:match("^[%w_.]+%.[%w_]+$") then bad(fname, '"module.fn" expected, got "' .. fn .. '"') end
      name = fn
    elseif type(fn) == "function" then
      name = fn_names[fn]
      if not name then          -- map submits one function many times: name it once
        local info = debug.getinfo(fn, "S")
        name = ("function <%s:%d>"):format(info.short_src, info.linedefined)
        fn_names[fn] = name
      end
    else
      bad(fname, "function or \"module.fn\" expected, got " .. type(fn))
    end
    local ok, frame = pcall(core.encode_pack, "task", fn, ...)   -- table.pack(fn, ...)
    if not ok then
      local msg = tostring(frame):gsub("task%[(%d+)%]", function(i)
        i = tonumber(i)
        return i == 1 and "fn" or ("args[%d]"):format(i - 1)
      end)
      error(("bad argument to '%s' (%s)"):format(fname, msg), 3)
    end
    return frame, name
  end,
}

return M
