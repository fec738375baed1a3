-- corral.launch.luacmd: the argv of a fresh Lua process that calls `require(module).main(...)` with
-- this process's package.path and cpath (lua workers, the fork server, the lifeline watchdog).
local M = {}

-- A Lua literal for an argument: nil, a number, a string, or a list of those.
local function literal(v)
  if type(v) == "table" then
    local out = {}
    for i, x in ipairs(v) do out[i] = literal(x) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  if v == nil then return "nil" end
  return ("%q"):format(v)
end

-- argv(interpreter, module, ...) -> { interpreter or "lua5.4", "-e", code }
function M.argv(interpreter, module, ...)
  local args = table.pack(...)
  for i = 1, args.n do args[i] = literal(args[i]) end
  local code = ("package.path=%q package.cpath=%q require(%q).main(%s)")
    :format(package.path, package.cpath, module, table.concat(args, ", ", 1, args.n))
  return { interpreter or "lua5.4", "-e", code }
end

return M
