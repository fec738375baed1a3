-- corral.worker: the loop inside a lua worker process. Reads task frames from fd `rfd`, runs
-- each, writes one reply frame per task to `wfd`, in order. Blocking I/O: a worker does
-- nothing else. Not used by the parent process (see corral.workers).
--
-- A task frame is { f = function | "module.fn", a = { n = ..., ... } }; { exit = true } ends
-- the worker. A reply is { ok = true, v = values } or { ok = false, e = error, tb = traceback }.
local core = require "corral.core"

local M = {}

-- Replies carry no bytecode: the parent never loads code from a worker.
local NO_FUNCTIONS = { functions = false }

local function write_all(fd, s)
  local off = 0
  while off < #s do
    local n, err = core.write(fd, s, off)
    if not n then error(err, 0) end
    off = off + n
  end
end

local function resolve(name)
  local mod, fn = name:match("^(.*)%.([%w_]+)$")
  local ok, m = pcall(require, mod)
  if not ok then error(("cannot load module '%s' for '%s': %s"):format(mod, name, m), 0) end
  local f = type(m) == "table" and m[fn]
  if type(f) ~= "function" then error(("'%s' is not a function"):format(name), 0) end
  return f
end

-- run(task) -> reply table
local function run(task)
  local fn = task.f
  local tb
  local handler = function(e)
    tb = debug.traceback(nil, 2)
    return e
  end
  local res = table.pack(xpcall(function()
    if type(fn) == "string" then fn = resolve(fn) end
    return fn(table.unpack(task.a, 1, task.a.n))
  end, handler))
  if res[1] then
    local values = table.move(res, 2, res.n, 1, { n = res.n - 1 })
    return { ok = true, v = values }
  end
  return { ok = false, e = res[2], tb = tb }
end

-- One encode on the normal path; a value that cannot cross becomes a failure naming its path.
local function reply_frame(r)
  local ok, frame = pcall(core.encode, r, "reply", NO_FUNCTIONS)
  if ok then return frame end
  frame = tostring(frame):gsub("reply%.v", "values"):gsub("reply%.e", "error")
  if r.ok then
    return core.encode { ok = false, e = "cannot return the task's values: " .. frame }
  end
  return core.encode { ok = false, e = tostring(r.e), tb = r.tb }
end

-- main(rfd, wfd, init, exit): serve until told to exit or the parent's end closes.
function M.main(rfd, wfd, init, exit)
  exit = exit or os.exit
  core.set_blocking(rfd, true)
  if init then
    local ok, err = pcall(function() resolve(init)() end)
    if not ok then
      io.stderr:write("corral worker: init '", init, "' failed: ", tostring(err), "\n")
      exit(78)
    end
  end
  local buf, pos = "", 1
  while true do
    local task, nextpos = core.decode(buf, pos, { functions = true })
    if task == false then
      local data = core.read(rfd, 1 << 16)
      if not data or data == "" then io.stdout:flush(); exit(0) end
      buf = buf:sub(pos) .. data
      pos = 1
    elseif task == nil then
      io.stderr:write("corral worker: protocol error: ", tostring(nextpos), "\n")
      exit(70)
    else
      pos = nextpos
      if task.exit then io.stdout:flush(); exit(0) end
      write_all(wfd, reply_frame(run(task)))
    end
  end
end

return M
