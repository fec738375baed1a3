-- corral.cli.parallel.args: the command line of `corral parallel`, GNU parallel's subset.
--
-- parse(argv) -> options | nil, message. Options come first (bundled short ones too: -kj2),
-- then the command words up to the first ::: or ::::, then the input sources. A bad option
-- or value is one message naming it; the CLI prints it and exits 2.
local core = require "corral.core"
local halt = require "corral.workflow.halt"
local group = require "corral.launch.group"

local M = {}

M.USAGE = [==[
usage: corral parallel [OPTIONS] [COMMAND [ARG...]] [::: ARGS... | :::: FILE...]...
Runs COMMAND once per input (or input combination), as GNU parallel does.
Input: ::: ARGS (one source), :::: FILE (a source per file, - = stdin), -a FILE;
       several sources give their cross product (the last varies fastest);
       without any, lines of stdin. Without COMMAND each input is itself a command.
Replacement strings: {} {.} {/} {//} {/.} {#} {%} and {N} {N.} {N/} {N//} {N/.};
       arguments are quoted for the shell; ' {}' is appended when COMMAND has none.
  -j, --jobs N         jobs at once: N, +N / -N (CPUs plus/minus N), N% of CPUs,
                       0 = as many as possible (up to 256); default: one per CPU
  -k, --keep-order     print output in input order
      --tag            prefix output lines with the arguments and a TAB
      --line-buffer    print output line by line as it arrives (default: per job)
      --timeout T      end a job after T seconds (suffixes s m h d: 1.5m, 1h30m)
      --termseq SEQ    how a job is ended (default TERM,200,TERM,100,TERM,50,KILL,25)
      --retries N      run a failing job up to N times in all (0 = forever)
      --halt SPEC      now|soon,fail|success|done=N|N%; legacy 0 1 2 -1 -2
      --joblog FILE    GNU parallel's TSV job log (+FILE appends)
      --resume         skip jobs already in the job log
      --resume-failed  rerun jobs that failed in the job log, then the rest
      --bar            progress line on stderr (only when it is a terminal)
      --dry-run        print the commands instead of running them
  -0, --null           inputs end with NUL instead of newline
  -q, --quote          quote COMMAND too (no shell syntax in it)
  -a, --arg-file FILE  an input source (as :::: FILE)
  -h, --help           this text
Exit status: 0 all ok; 1-100 the number of failed jobs; 101 more; 255 interrupted
or an error; 2 a usage error; with --halt ...,fail=1 the failing job's status.]==]

local NCPU = core.ncpu()
local MAX_JOBS = 256        -- what -j 0 means: "as many as possible", bounded

-- Flags and options taking a value; long names map to the same keys. A key in VALUE takes
-- the next word (or the rest of a bundled short option, or --name=value).
local SHORT = { k = "keep_order", ["0"] = "null", q = "quote", h = "help",
                j = "jobs", P = "jobs", a = "arg_file" }
local LONG = {
  ["keep-order"] = "keep_order", null = "null", quote = "quote", help = "help",
  jobs = "jobs", ["max-procs"] = "jobs", ["arg-file"] = "arg_file",
  tag = "tag", ["line-buffer"] = "line_buffer", lb = "line_buffer",
  timeout = "timeout", termseq = "termseq", ["term-seq"] = "termseq", retries = "retries",
  halt = "halt", ["halt-on-error"] = "halt", joblog = "joblog", jl = "joblog",
  resume = "resume", ["resume-failed"] = "resume_failed", bar = "bar",
  ["dry-run"] = "dry_run", ["will-cite"] = "ignore", ["no-notice"] = "ignore",
}
local VALUE = { jobs = true, arg_file = true, timeout = true, termseq = true, retries = true,
                halt = true, joblog = true }

-- The number of job slots for a -j value, or nil, why.
function M.jobs(v, ncpu)
  ncpu = ncpu or NCPU
  local n
  if v:match("^%d+$") then
    n = tonumber(v)
    if n == 0 then return MAX_JOBS, true end
  elseif v:match("^[+-]%d+$") then
    n = ncpu + tonumber(v)
  elseif v:match("^%d+%.?%d*%%$") then
    n = math.floor(ncpu * tonumber(v:sub(1, -2)) / 100)
  else
    return nil, "a number, +N, -N or N% expected"
  end
  return math.max(1, math.min(n, 1 << 20))
end

-- Seconds for a --timeout value: "2.5", or units as GNU parallel reads them ("1h30m").
local UNIT = { s = 1, m = 60, h = 3600, d = 86400 }
function M.seconds(v)
  local n = v:match("^%d+%.?%d*$") and tonumber(v)
  if not n and v:lower():match("^[%d.smhd]+$") then
    n = 0
    local rest = v:lower():gsub("(%d+%.?%d*)([smhd])", function(num, u)
      n = n + tonumber(num) * UNIT[u]
      return ""
    end)
    if rest ~= "" then n = nil end
  end
  if v:match("%%$") then return nil, "a percentage of the median runtime is not supported" end
  if not n or n <= 0 then return nil, "a positive number of seconds expected (suffixes s m h d)" end
  return n
end

local function check_value(key, v)
  if key == "jobs" then return M.jobs(v) end
  if key == "timeout" then return M.seconds(v) end
  if key == "retries" then
    if not v:match("^%d+$") then return nil, "a non-negative integer expected" end
    return tonumber(v)
  end
  if key == "halt" then
    local ok, p = pcall(halt.parse, v)
    if not ok then return nil, (tostring(p):match("%((.*)%)$") or tostring(p)) end
    return v
  end
  if key == "termseq" then
    local ok, err = pcall(group.parse, v, "termseq")
    if not ok then return nil, (tostring(err):match("%((.*)%)$") or tostring(err)) end
    return v
  end
  if v == "" then return nil, "an empty value" end
  return v
end

local function set(o, key, v, shown)
  if key == "ignore" then return true end
  if not VALUE[key] then o[key] = true; return true end
  if v == nil then return nil, ("option '%s' needs a value"):format(shown) end
  local val, why = check_value(key, v)
  if val == nil then return nil, ("bad value '%s' for '%s' (%s)"):format(v, shown, why) end
  if key == "jobs" then o.jobs_max = why == true end        -- -j 0: as many as possible
  if key == "arg_file" then
    o.sources[#o.sources + 1] = { file = val }
  else
    o[key] = val
  end
  return true
end

local function is_sep(w) return w == ":::" or w == "::::" end

function M.parse(argv)
  local o = { sources = {}, command = {} }
  local i, n = 1, #argv
  -- Options: until the first word that is not one (the command) or a separator.
  while i <= n do
    local w = argv[i]
    if w == "--" then i = i + 1; break end
    if is_sep(w) or w:sub(1, 1) ~= "-" or w == "-" then break end
    if w:sub(1, 2) == "--" then
      local name, v = w:match("^%-%-([^=]+)=(.*)$")
      name = name or w:sub(3)
      local key = LONG[name]
      if not key then return nil, ("unknown option '--%s'"):format(name) end
      if VALUE[key] and v == nil then i = i + 1; v = argv[i] end
      if not VALUE[key] and v ~= nil then return nil, ("option '--%s' takes no value"):format(name) end
      local ok, err = set(o, key, v, "--" .. name)
      if not ok then return nil, err end
    else
      local j = 2
      while j <= #w do
        local c = w:sub(j, j)
        local key = SHORT[c]
        if not key then return nil, ("unknown option '-%s'"):format(c) end
        if VALUE[key] then
          local v = w:sub(j + 1)
          if v == "" then i = i + 1; v = argv[i] end
          local ok, err = set(o, key, v, "-" .. c)
          if not ok then return nil, err end
          break
        end
        set(o, key, nil, "-" .. c)
        j = j + 1
      end
    end
    i = i + 1
  end
  if o.help then return o end
  -- The command: every word up to the first separator.
  while i <= n and not is_sep(argv[i]) do
    local w = argv[i]
    if w == ":::+" or w == "::::+" then return nil, ("'%s' (linked input sources) is not supported"):format(w) end
    o.command[#o.command + 1] = w
    i = i + 1
  end
  -- Sources: "::: a b c" is one list; ":::: f g" is one source per file.
  while i <= n do
    local sep = argv[i]
    if sep == ":::+" or sep == "::::+" then return nil, ("'%s' (linked input sources) is not supported"):format(sep) end
    i = i + 1
    if sep == ":::" then
      local list = {}
      while i <= n and not is_sep(argv[i]) and argv[i] ~= ":::+" and argv[i] ~= "::::+" do
        list[#list + 1] = argv[i]; i = i + 1
      end
      o.sources[#o.sources + 1] = { list = list }
    else
      local any = false
      while i <= n and not is_sep(argv[i]) and argv[i] ~= ":::+" and argv[i] ~= "::::+" do
        o.sources[#o.sources + 1] = { file = argv[i] }; i = i + 1
        any = true
      end
      if not any then return nil, "'::::' needs a file name" end
    end
  end
  if (o.resume or o.resume_failed) and not o.joblog then
    return nil, "--resume and --resume-failed need --joblog FILE"
  end
  o.jobs = o.jobs or NCPU
  return o
end

return M
