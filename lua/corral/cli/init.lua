-- corral.cli: the `corral` command line. `corral run FILE.lua [args...]` runs a job script;
-- `corral parallel ...` is GNU parallel's subset (corral.cli.parallel); `corral joblog FILE`
-- summarises a journal (corral.cli.joblog); `corral report JOURNAL` draws it as HTML
-- (corral.cli.report_html); `corral status JOURNAL` shows a live run (corral.cli.status);
-- `corral --version`. Usage errors print one line and exit 2.
local M = {}

local USAGE = [[
usage: corral run FILE.lua [ARGS...]   run a job script (arg as in lua)
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

local function run(args)
  local file = args[1]
  if not file then usage_error("run: missing FILE.lua") end
  if file == "--help" or file == "-h" then print(USAGE); os.exit(0) end
  local chunk, err = loadfile(file)
  if not chunk then
    io.stderr:write("corral: ", err, "\n")
    os.exit(1)
  end
  -- `arg` as the standalone interpreter sets it: arg[0] the script, arg[1..] its arguments.
  local script_arg = { [0] = file }
  for i = 2, #args do script_arg[i - 1] = args[i] end
  _G.arg = script_arg
  local corral = require "corral"
  local ok, e = xpcall(chunk, function(e)
    if type(e) == "table" then return e end
    return debug.traceback(tostring(e), 2)
  end, table.unpack(script_arg, 1, #script_arg))
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

function M.main(argv)
  local cmd = argv[1]
  local rest = {}
  for i = 2, #argv do rest[#rest + 1] = argv[i] end
  if cmd == "run" then return run(rest)
  elseif cmd == "parallel" then return require("corral.cli.parallel").main(rest)
  elseif cmd == "joblog" then return require("corral.cli.joblog").main(rest)
  elseif cmd == "report" then return require("corral.cli.report_html").main(rest)
  elseif cmd == "status" then return require("corral.cli.status").main(rest)
  elseif cmd == "--version" then print(require("corral")._VERSION); os.exit(0)
  elseif cmd == "--help" or cmd == "-h" or cmd == nil then
    print(USAGE); os.exit(cmd and 0 or 2)
  end
  usage_error("unknown command '" .. tostring(cmd) .. "'")
end

return M
