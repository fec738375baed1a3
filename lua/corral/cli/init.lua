-- corral.cli: the `corral` command line. `corral run FILE.lua [args...]` runs a job script;
-- `corral parallel ...` is GNU parallel's subset (corral.cli.parallel); `corral joblog FILE`
-- summarises a journal (corral.cli.joblog); `corral report JOURNAL` draws it as HTML
-- (corral.cli.report_html); `corral status JOURNAL` shows a live run (corral.cli.status);
-- `corral --version`. Usage errors print one line and exit 2; every other failure is one line
-- too (CORRAL_TRACEBACK=1 adds Lua's whole traceback).
local errors = require "corral.errors"

local M = {}

local USAGE = [[
usage: corral run FILE.lua [ARGS...]   run a job script (arg as in lua; FILE - reads stdin)
       corral run --dry-run FILE.lua [ARGS...]
                                       print each workflow's plan instead of running it
       corral parallel [OPTIONS] COMMAND [::: ARGS | :::: FILE]...
                                       run COMMAND per input, as GNU parallel
       corral joblog FILE              summarise a job log (corral's or GNU's)
       corral report JOURNAL [-o FILE] draw a journal as an HTML timeline and summary
       corral status JOURNAL           what a run writing JOURNAL is doing now
       corral --version
       corral --help]]

local EXIT = { INT = 130, TERM = 143, HUP = 129 }

local function usage_error(msg)
  io.stderr:write("corral: ", msg, "\n", "try 'corral --help'\n")
  os.exit(2)
end

local TRACEBACK = os.getenv("CORRAL_TRACEBACK")

-- The script's own frames from `level` out: "file:line:" and what ran there; corral's modules,
-- C functions and the command's -e chunk left out.
local function script_frames(level)
  local out = {}
  while true do
    local info = debug.getinfo(level, "Sln")
    if not info then return out end
    if info.what ~= "C" and not errors.internal(info.source) and info.source ~= "=(command line)" then
      local what = info.what == "main" and "main chunk"
        or info.name and ("function '" .. info.name .. "'")
        or ("function <%s:%d>"):format(info.short_src, info.linedefined)
      out[#out + 1] = { at = ("%s:%d:"):format(info.short_src, info.currentline), what = what }
    end
    level = level + 1
  end
end

-- A script's error as the user reads it: the message, then the script's frames, unless the
-- message already names the only one (a mistake in the main chunk is one line).
local function script_error(e)
  if type(e) == "table" then return e end
  local msg = tostring(e)
  if TRACEBACK then return debug.traceback(msg, 2) end
  local frames = script_frames(2)
  if #frames == 0 or (#frames == 1 and msg:sub(1, #frames[1].at) == frames[1].at) then return msg end
  local lines = { msg, "the script's frames:" }
  for _, f in ipairs(frames) do lines[#lines + 1] = "\t" .. f.at .. " in " .. f.what end
  return table.concat(lines, "\n")
end

local function run(args)
  if args[1] == "--dry-run" then
    -- workflows print their plans instead of running; plain pool tasks end "cancelled"
    require("corral.pool").dry_run = true
    table.remove(args, 1)
  end
  local file = args[1]
  if not file then usage_error("run: missing FILE.lua") end
  if file == "--help" or file == "-h" then print(USAGE); os.exit(0) end
  -- "-": the script from stdin, named "stdin" in messages, as lua does
  local chunk, err
  if file == "-" then chunk, err = loadfile() else chunk, err = loadfile(file) end
  if not chunk then
    io.stderr:write("corral: ", err, "\n")
    os.exit(1)
  end
  -- `arg` as the standalone interpreter sets it: arg[0] the script, arg[1..] its arguments.
  local script_arg = { [0] = file }
  for i = 2, #args do script_arg[i - 1] = args[i] end
  _G.arg = script_arg
  local corral = require "corral"
  local ok, e = xpcall(chunk, script_error, table.unpack(script_arg, 1, #script_arg))
  if not ok then
    if getmetatable(e) == corral.Interrupted then
      io.stderr:write("corral: ", tostring(e), "\n")
      os.exit(EXIT[e.signal] or 130, true)
    end
    io.stderr:write("corral: ", tostring(e), "\n")
    os.exit(1, true)
  end
  local sig = corral.interrupted()
  os.exit(sig and (EXIT[sig] or 130) or 0, true)
end

-- A subcommand's unexpected error (a bug in corral, not bad input, which each names itself):
-- one line with where it happened, exit 70 (EX_SOFTWARE).
local function guarded(name, module, rest)
  local ok, e = xpcall(function() return require(module).main(rest) end, function(e)
    return TRACEBACK and debug.traceback(tostring(e), 2) or tostring(e)
  end)
  if ok then return e end
  io.stderr:write("corral ", name, ": internal error: ", (e:gsub("\n", "\n  ")), "\n")
  os.exit(70, true)
end

function M.main(argv)
  local cmd = argv[1]
  local rest = {}
  for i = 2, #argv do rest[#rest + 1] = argv[i] end
  if cmd == "run" then return run(rest)
  elseif cmd == "parallel" then return guarded(cmd, "corral.cli.parallel", rest)
  elseif cmd == "joblog" then return guarded(cmd, "corral.cli.joblog", rest)
  elseif cmd == "report" then return guarded(cmd, "corral.cli.report_html", rest)
  elseif cmd == "status" then return guarded(cmd, "corral.cli.status", rest)
  elseif cmd == "--version" then print(require("corral")._VERSION); os.exit(0)
  elseif cmd == "--help" or cmd == "-h" or cmd == nil then
    print(USAGE); os.exit(cmd and 0 or 2)
  end
  usage_error("unknown command '" .. tostring(cmd) .. "'")
end

return M
