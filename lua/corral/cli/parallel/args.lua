-- corral.cli.parallel.args: the command line of `corral parallel`, GNU parallel's subset.
--
-- parse(argv) -> options | nil, message. Options come first (bundled short ones too: -kj2),
-- then the command words up to the first ::: or ::::, then the input sources. A bad option
-- or value is one message naming it; the CLI prints it and exits 255, as GNU parallel does.
local core = require "corral.core"
local halt = require "corral.workflow.halt"
local group = require "corral.launch.group"

local M = {}

M.USAGE = [==[
usage: corral parallel [OPTIONS] [COMMAND [ARG...]] [::: ARGS... | :::: FILE...]...
Runs COMMAND once per input (or input combination), as GNU parallel does.
Input: ::: ARGS (one source), :::: FILE (a source per file, - = stdin), -a FILE;
       several sources give their cross product (the last varies fastest); :::+ and
       ::::+ link a source to the one before; without any, lines of stdin.
       Without COMMAND each input is itself a command.
Replacement strings: {} {.} {/} {//} {/.} {#} {%} and {N} {N.} {N/} {N//} {N/.};
       {name} with --header :; arguments are quoted for the shell; ' {}' is appended
       when COMMAND has none.
  -j, --jobs N         jobs at once: N, +N / -N (CPUs plus/minus N), N% of CPUs,
                       0 = as many as possible (up to 256); default: one per CPU
  -k, --keep-order     print output in input order
      --group          print each job's output whole when it ends (the default)
  -u, --ungroup        jobs write straight to stdout and stderr
      --line-buffer    print output line by line as it arrives
  -v                   print each command line before its output
      --tag            prefix output lines with the arguments and a TAB
      --tagstring STR  prefix output lines with STR (replacement strings allowed)
  -n, --max-args N     up to N arguments per job; -N N the same, and -N0 takes none
  -L, --max-lines N    up to N input lines per job (a trailing blank continues a line)
  -X / -m              as many arguments per job as fit, spread over the job slots;
                       -X repeats the word around {} for each argument
  -I STR               STR is the replacement string instead of {}
  -a, --arg-file FILE  an input source (as :::: FILE)
      --arg-sep SEP    SEP instead of ::: ; --arg-file-sep SEP instead of ::::
  -d, --delimiter D    inputs end with D (\n \t \0 \xHH escapes) instead of newline
  -0, --null           inputs end with NUL
  -E STR               an input equal to STR ends its source
      --colsep RE      split each input into columns {1} {2}... at RE
      --trim n|l|r|lr  strip blanks around inputs (with --colsep: lr)
      --header :       the first input of each source names it ({name})
      --link           link the sources (wrapping the shorter ones) instead of crossing
      --shuf           run the jobs in random order
      --timeout T      end a job after T seconds (suffixes s m h d: 1.5m, 1h30m), or
                       T% of the median runtime of the jobs that succeeded
      --termseq SEQ    how a job is ended (default TERM,200,TERM,100,TERM,50,KILL,25)
      --retries N      run a failing job up to N times in all (0 = forever)
      --halt SPEC      now|soon,fail|success|done=N|N%; legacy 0 1 2 -1 -2
      --joblog FILE    GNU parallel's TSV job log (+FILE appends)
      --resume         skip jobs already in the job log
      --resume-failed  rerun jobs that failed in the job log, then the rest
      --delay T        start jobs at least T seconds apart
      --nice N         run jobs at niceness N
      --load MAX       start jobs only while fewer than MAX processes run (N% of CPUs)
      --memfree SIZE   start jobs only while more than SIZE is free (1G, 500M)
      --retry-failed   rerun the failed commands of --joblog FILE
      --results DIR    each job's stdout, stderr and seq in DIR/1/ARG/...; F.csv, F.tsv:
                       a table of jobs and their output
      --files          each job's stdout in a temporary file; print its name
      --tmpdir DIR     where --files puts them (default $TMPDIR or /tmp)
      --progress/--eta GNU's status on stderr (only when it is a terminal)
      --bar            progress line on stderr (only when it is a terminal)
      --pipe           cut stdin into blocks, each a job's stdin: --block SIZE (1M),
                       -N N records a block, --recend STR ("\n"), --recstart STR;
                       --tee: all of stdin to every job (one per input)
      --dry-run        print the commands instead of running them
  -q, --quote          quote COMMAND too (no shell syntax in it)
      --version        corral's version
  -h, --help           this text
Exit status: 0 all ok; 1-100 the number of failed jobs; 101 more; 255 interrupted,
an error or a usage error; with --halt ...,fail=1 the failing job's status.]==]

local NCPU = core.ncpu()
local MAX_JOBS = 256        -- what -j 0 means: "as many as possible", bounded

-- Flags and options taking a value; long names map to the same keys. A key in VALUE takes
-- the next word (or the rest of a bundled short option, or --name=value).
local SHORT = { k = "keep_order", ["0"] = "null", q = "quote", h = "help",
                j = "jobs", P = "jobs", a = "arg_file", u = "ungroup", v = "verbose",
                n = "max_args", N = "max_replace", L = "max_lines", X = "xargs_context",
                m = "xargs", I = "replace", d = "delimiter", E = "eof", C = "colsep",
                S = "sshlogin", V = "version" }
local LONG = {
  ["keep-order"] = "keep_order", null = "null", quote = "quote", help = "help",
  jobs = "jobs", ["max-procs"] = "jobs", ["arg-file"] = "arg_file",
  tag = "tag", ["line-buffer"] = "line_buffer", lb = "line_buffer",
  timeout = "timeout", termseq = "termseq", ["term-seq"] = "termseq", retries = "retries",
  halt = "halt", ["halt-on-error"] = "halt", joblog = "joblog", jl = "joblog",
  resume = "resume", ["resume-failed"] = "resume_failed", bar = "bar",
  ["dry-run"] = "dry_run", ["will-cite"] = "ignore", ["no-notice"] = "ignore",
  citation = "ignore", group = "ignore", version = "version",
  ungroup = "ungroup", verbose = "verbose", tagstring = "tagstring",
  ["max-args"] = "max_args", ["max-lines"] = "max_lines", delimiter = "delimiter",
  ["arg-sep"] = "arg_sep", ["arg-file-sep"] = "arg_file_sep", colsep = "colsep",
  trim = "trim", header = "header", link = "link", xapply = "link", shuf = "shuf",
  sshlogin = "sshlogin", sshloginfile = "sshlogin", slf = "sshlogin",
  delay = "delay", nice = "nice", memfree = "memfree", load = "load",
  ["retry-failed"] = "retry_failed", results = "results", res = "results", files = "files",
  progress = "progress", eta = "eta", tmpdir = "tmpdir", tempdir = "tmpdir",
  pipe = "pipe", spreadstdin = "pipe", block = "block", ["block-size"] = "block",
  recstart = "recstart", recend = "recend", tee = "tee",
  ["max-replace-args"] = "max_replace", ["output-as-files"] = "files",
  outputasfiles = "files",
}
local VALUE = { jobs = true, arg_file = true, timeout = true, termseq = true, retries = true,
                halt = true, joblog = true, tagstring = true, max_args = true,
                max_replace = true, max_lines = true, replace = true, delimiter = true,
                eof = true, colsep = true, trim = true, header = true, arg_sep = true,
                arg_file_sep = true, sshlogin = true, delay = true, nice = true, memfree = true,
                load = true, results = true, tmpdir = true, block = true, recstart = true,
                recend = true }

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
  if not n or n <= 0 then return nil, "a positive number of seconds expected (suffixes s m h d)" end
  return n
end

-- --timeout: seconds, or "N%" of the median runtime of the jobs that succeeded so far.
function M.timeout(v)
  local pct = v:match("^(%d+%.?%d*)%%$")
  if pct then
    if tonumber(pct) <= 0 then return nil, "a positive percentage expected" end
    return { pct = tonumber(pct) / 100 }
  end
  local n, why = M.seconds(v)
  if not n then return nil, why .. " or N%" end
  return { seconds = n }
end

-- Bytes for a --memfree size, with GNU's prefixes: K M G T P and Ki Mi ... are powers of
-- 1024, k m g t p powers of 1000.
local BIN = { k = 1, m = 2, g = 3, t = 4, p = 5 }
function M.size(v)
  local num, pre, i = v:match("^(%d+%.?%d*)(%a?)(i?)$")
  if not num or (pre == "" and i ~= "") or (pre ~= "" and not BIN[pre:lower()]) then
    return nil, "a size expected (1G, 500M, 2k...)"
  end
  local n = tonumber(num)
  if pre ~= "" then
    local binary = i ~= "" or pre:match("%u")
    n = n * (binary and 1024 or 1000) ^ BIN[pre:lower()]
  end
  return n
end

-- unescape(s): C-style escapes as GNU's -d reads them: \n \t \r \0 \\ \a \b \f \v, \NNN
-- octal, \xHH hex; any other character after a backslash is itself.
local ESC = { n = "\n", t = "\t", r = "\r", a = "\a", b = "\b", f = "\f", v = "\v" }
function M.unescape(s)
  local out, i = {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c ~= "\\" or i == #s then
      out[#out + 1] = c; i = i + 1
    else
      local hex = s:match("^x(%x%x?)", i + 1)
      local oct = not hex and s:match("^[0-7][0-7]?[0-7]?", i + 1)
      if hex then
        out[#out + 1] = string.char(tonumber(hex, 16)); i = i + 2 + #hex
      elseif oct then
        out[#out + 1] = string.char(tonumber(oct, 8) % 256); i = i + 1 + #oct
      else
        local e = s:sub(i + 1, i + 1)
        out[#out + 1] = ESC[e] or e; i = i + 2
      end
    end
  end
  return table.concat(out)
end

local function count(v, min)
  if not v:match("^%d+$") or tonumber(v) < min then
    return nil, min == 0 and "a non-negative integer expected" or "a positive integer expected"
  end
  return tonumber(v)
end

local TRIM = { n = true, l = true, r = true, lr = true, rl = true }

-- reason(err): the why of a corral error, its last parenthesis ("where:12: bad halt 'x'
-- (why)" -> "why"); the location must not leak into it.
local function reason(err)
  local msg = tostring(err)
  return msg:match("%(([^()]*)%)$") or msg
end

local function check_value(key, v)
  if key == "jobs" then return M.jobs(v) end
  if key == "timeout" then return M.timeout(v) end
  if key == "delay" then
    if v:match("^0*%.?0*$") then return 0 end
    return M.seconds(v)
  end
  if key == "nice" then
    if not v:match("^[+-]?%d+$") then return nil, "an integer expected" end
    return math.max(-20, math.min(19, tonumber(v)))
  end
  if key == "memfree" then return M.size(v) end
  if key == "block" then
    local n, why = M.size(v)
    if not n then return nil, why end
    if n < 1 then return nil, "at least one byte" end
    return math.floor(n)
  end
  if key == "recstart" or key == "recend" then return M.unescape(v) end
  if key == "load" then
    local n, pct = v:match("^(%d+%.?%d*)(%%?)$")
    if not n then return nil, "a number or N% of the CPUs expected" end
    local max = pct == "%" and tonumber(n) * NCPU / 100 or tonumber(n)
    return max > 0 and max or false                         -- GNU: 0 is no limit
  end
  if key == "retries" or key == "max_replace" then return count(v, 0) end
  if key == "max_args" or key == "max_lines" then return count(v, 1) end
  if key == "halt" then
    local ok, p = pcall(halt.parse, v)
    if not ok then return nil, reason(p) end
    return v
  end
  if key == "termseq" then
    local ok, err = pcall(group.parse, v, "termseq")
    if not ok then return nil, reason(err) end
    return v
  end
  if key == "trim" then
    if not TRIM[v] then return nil, "n, l, r, lr or rl expected" end
    return v
  end
  if key == "header" and v ~= ":" then
    return nil, "only ':' (the first input of each source) is supported"
  end
  if key == "colsep" then
    local ok, why = require("corral.cli.parallel.input").colsep(v)
    if not ok then return nil, why end
    return v
  end
  if key == "delimiter" then
    local d = M.unescape(v)
    if d == "" then return nil, "an empty delimiter" end
    return d
  end
  if key == "eof" and v == "" then return false end          -- -E '': no end string
  if (key == "recstart" or key == "recend") and v == "" then return "" end
  if v == "" and key ~= "tagstring" then return nil, "an empty value" end
  return v
end

local function set(o, key, v, shown)
  if key == "ignore" then return true end
  if key == "sshlogin" then
    return nil, ("'%s': remote hosts are not supported; for a cluster, run the jobs from a " ..
                 "corral script with corral.pool{ launcher = \"slurm\" } (docs/slurm.md)"):format(shown)
  end
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

-- options(argv, o) -> index of the first word after the options | nil, message
local function options(argv, o)
  local i, n = 1, #argv
  while i <= n do
    local w = argv[i]
    if w == "--" then return i + 1 end
    if w:sub(1, 1) ~= "-" or w == "-" or w:match("^:::") then return i end
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
  return i
end

function M.parse(argv)
  local o = { sources = {}, command = {} }
  local i, err = options(argv, o)
  if not i then return nil, err end
  if o.help or o.version then return o end
  local n = #argv
  local asep, fsep = o.arg_sep or ":::", o.arg_file_sep or "::::"
  -- "linked": this source is paired with the one before (:::+, ::::+) instead of crossed.
  local SEP = { [asep] = "list", [fsep] = "file", [asep .. "+"] = "list+", [fsep .. "+"] = "file+" }
  -- The command: every word up to the first separator.
  while i <= n and not SEP[argv[i]] do
    o.command[#o.command + 1] = argv[i]
    i = i + 1
  end
  -- Sources: "::: a b c" is one list; ":::: f g" is one source per file.
  while i <= n do
    local kind = SEP[argv[i]]
    local linked = kind:sub(-1) == "+"
    if linked and #o.sources == 0 then
      return nil, ("'%s' needs an input source before it"):format(argv[i])
    end
    i = i + 1
    local first = true
    local list = kind:match("^list") and {} or nil
    while i <= n and not SEP[argv[i]] do
      if list then
        list[#list + 1] = argv[i]
      else
        o.sources[#o.sources + 1] = { file = argv[i], linked = linked and first }
        first = false
      end
      i = i + 1
    end
    if list then
      o.sources[#o.sources + 1] = { list = list, linked = linked }
    elseif first then
      return nil, ("'%s' needs a file name"):format(fsep)
    end
  end
  if (o.resume or o.resume_failed or o.retry_failed) and not o.joblog then
    return nil, "--resume, --resume-failed and --retry-failed need --joblog FILE"
  end
  if o.null then o.delimiter = "\0" end
  if o.tee and not o.pipe then return nil, "--tee needs --pipe" end
  if o.pipe and o.retries then return nil, "--retries with --pipe is not supported (a block is read once)" end
  if o.tee and #o.sources == 0 then return nil, "--pipe --tee needs inputs (::: ARGS), one job each" end
  if o.trim == nil then o.trim = o.colsep and "lr" or "n" end
  if o.header and not o.colsep then o.colsep = "\t" end    -- GNU: --header splits at TABs
  o.jobs = o.jobs or NCPU
  return o
end

return M
