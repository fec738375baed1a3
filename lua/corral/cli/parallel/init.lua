-- corral.cli.parallel: `corral parallel`, GNU parallel's everyday subset on a corral shell pool.
--
-- Jobs are submitted only while a slot is free, so input is read as slots free up and {%}
-- (the slot) is known at start. Each job's output is printed whole when it ends (stdout,
-- then stderr: GNU's --group), or line by line from its own pipes with --line-buffer. The
-- exit status, --halt, --joblog and --resume follow GNU parallel 20221122 (see docs/cli.md).
local corral = require "corral"
local core = require "corral.core"
local loop = require "corral.loop"
local halt = require "corral.workflow.halt"
local cli_args = require "corral.cli.parallel.args"
local template = require "corral.cli.parallel.template"
local input = require "corral.cli.parallel.input"
local sched = require "corral.cli.parallel.sched"
-- Loaded when an option asks for them (start-up is part of every run): the joblog (tsv),
-- --results/--files, --progress/--eta, --bar, --pipe.
local function tsv() return require "corral.cli.parallel.log" end
local function results() return require "corral.cli.parallel.results" end
local function meter() return require "corral.cli.parallel.meter" end
local function progress() return require "corral.workflow.progress" end
local function pipe() return require "corral.cli.parallel.pipe" end

local M = {}

local GNU_TERMSEQ = "TERM,200,TERM,100,TERM,50,KILL,25"
local INFINITE_RETRIES = 1 << 31      -- GNU's --retries 0

local function say(...) io.stderr:write("corral parallel: ", ...); io.stderr:write("\n") end

-- A usage error: one line, exit 255 as GNU parallel.
local function usage_error(msg)
  say(msg)
  os.exit(255)
end

-- GNU's words for an input holding a NUL without -0 (it goes on, with "\0" in its place).
local function nul_warning()
  say("Warning: A NUL character in the input was replaced with \\0.")
  say("Warning: NUL cannot be passed through in the argument list.")
  say("Warning: Did you mean to use the --null option?")
end

local MAX_LINE = 120000     -- -X/-m: a command line stays under Linux's 131072-byte argument

-- Exitval and Signal as GNU's joblog has them.
local function gnu_status(r)
  local sig = r.signal and core.signum(r.signal) or 0
  if r.status == "ok" then return 0, 0 end
  if r.status == "failed" and r.code then return r.code, 0 end
  if r.status == "signaled" then return 0, sig end
  return -1, sig                      -- timeout, or could not start
end

local Run = {}
Run.__index = Run
local output = require "corral.cli.parallel.output"
for k, f in pairs(output.methods) do Run[k] = f end
local tagged = output.tagged
local SKIPPED = output.SKIPPED

-- Jobs ------------------------------------------------------------------------------------

-- next_args() -> the next job's arguments (one flat list) | nil (no more) | false (input
-- not ready yet). A job takes self.per inputs (-n, -N, -L); with -N0 it shows none of them.
function Run:next_args()
  if self.list then
    self.li = self.li + 1
    return self.list[self.li]
  end
  local recs = self.partial or {}
  self.partial = nil
  while #recs < self.per do
    local r = self.input.next()
    if r == false then self.partial = recs; return false end
    if r == nil then break end
    recs[#recs + 1] = r
  end
  if #recs == 0 then return nil end
  if self.o.max_replace == 0 then return { recs = recs } end
  if #recs == 1 then recs[1].recs = recs; return recs[1] end
  local flat = { recs = recs }
  for _, r in ipairs(recs) do for _, v in ipairs(r) do flat[#flat + 1] = v end end
  return flat
end

-- next_job() -> job | nil (no more) | false (input not ready yet). --retry-failed's jobs
-- come from the joblog, commands made.
function Run:next_job()
  if self.splitter then                 -- --pipe: the next block of stdin
    local block = self.splitter:next()
    if not block then return block end
    self.seq = self.seq + 1
    return { seq = self.seq, ord = self.seq, args = {}, block = block }
  end
  if self.fixed then
    self.li = self.li + 1
    local job = self.fixed[self.li]
    if job then job.ord = self.li end
    return job
  end
  while true do
    local a = self:next_args()
    if not a then return a end
    self.seq = self.seq + 1
    if not self.skip[self.seq] then return { seq = self.seq, ord = self.seq, args = a } end
    self.nskipped = self.nskipped + 1
    self:ready(self.seq, SKIPPED)
  end
end

-- prepare(): every job's arguments now, for what needs them all first: --halt N%, --shuf,
-- and -X/-m, which spread the inputs evenly over the job slots as GNU parallel does.
function Run:prepare()
  local o = self.o
  local recs = self.input.all()
  if o.shuf then
    for i = #recs, 2, -1 do
      local j = math.random(i)
      recs[i], recs[j] = recs[j], recs[i]
    end
  end
  local per = self.per
  local spread = (o.xargs or o.xargs_context) and not (o.max_args or o.max_replace or o.max_lines)
  if spread then per = math.max(1, math.ceil(#recs / o.jobs)) end
  local base = #template.line(self.tpl, {}, 1, 1)
  local list, cur, len = {}, {}, base
  local function flush()
    if #cur == 0 then return end
    local flat = { recs = cur }
    if o.max_replace ~= 0 then
      for _, r in ipairs(cur) do for _, v in ipairs(r) do flat[#flat + 1] = v end end
    end
    list[#list + 1] = flat
    cur, len = {}, base
  end
  for _, r in ipairs(recs) do
    local cost = spread and #template.line(self.tpl, r, 1, 1) - base + 1 or 0
    if #cur > 0 and (#cur >= per or len + cost > MAX_LINE) then flush() end
    cur[#cur + 1] = r
    len = len + cost
  end
  flush()
  self.list = list
end

function Run:take_slot()
  for i = 1, #self.slots + 1 do
    if not self.slots[i] then self.slots[i] = true; return i end
  end
end

function Run:start(job)
  job.slot = self:take_slot()
  job.cmd = job.cmd or template.line(self.tpl, job.args, job.seq, job.slot)
  job.tag = self:tag_of(job)
  job.receive = 0
  -- As GNU parallel, jobs see their sequence number and slot in the environment.
  local topts = { env = { PARALLEL_SEQ = tostring(job.seq), PARALLEL_JOBSLOT = tostring(job.slot) } }
  if self.results then
    local paths, err = self.results:paths(job)
    if not paths then
      say(err)
      self.stop = "error"
      return
    end
    topts.stdout, topts.stderr = paths.stdout, paths.stderr
  elseif self.o.ungroup then
    if self.o.verbose then self:write_out(tagged(job.cmd .. "\n", job.tag)) end
    topts.stdout, topts.stderr = "inherit", "inherit"
  elseif self.o.line_buffer then
    local fds, err = self:open_pipes(job)
    if not fds then
      say(err)
      self.stop = "error"
      return
    end
    topts.stdout, topts.stderr = fds.out, fds.err
    self.by_seq[job.ord] = job
    if self.o.verbose then self:deliver(job, "out", job.cmd .. "\n") end
  end
  local run = job.cmd
  if self.nice then run = ("exec nice -n %d /bin/sh -c %s"):format(self.nice, template.quote(run)) end
  local block = job.block or self.tee
  if block then                         -- --pipe: the block is the job's stdin
    local r, err = pipe().feed(block)
    if not r then
      say(err)
      self.stop = "error"
      return
    end
    topts.stdin, job.send, job.stdin_fd = r, #block, r
  end
  job.t0 = core.now()
  if self.gate then self.gate:started(job.t0) end
  job.future = self.pool:submit(run, topts)
  self.running[job.future] = job
  self.nrunning = self.nrunning + 1
end

function Run:halt_check(job, r)
  local p = self.halt
  local failed = r.status ~= "ok"
  if (p.why == "fail" and failed) or (p.why == "success" and not failed) or p.why == "done" then
    local what = p.why == "fail" and "failed" or p.why == "success" and "succeeded" or "finished"
    say("This job ", what, ":\n", job.cmd)
  end
  local was = p.triggered
  local when = p:record(r.status)
  if not when or was then return end
  if p.why == "success" then
    self.halt_exit = 0
  elseif p.percent then
    self.halt_exit = math.ceil(self.nfailed / math.max(p.total or 1, 1) * 100)
  elseif p.n == 1 then                -- the job's own status (bash's 128+signal)
    self.halt_exit = job.exitval ~= 0 and job.exitval or (job.signal ~= 0 and job.signal + 128 or 0)
  else
    self.halt_exit = math.min(self.nfailed, 101)
  end
  self.stop = when
  if when == "now" then
    for f in pairs(self.running) do f:cancel() end
  elseif self.nrunning > 0 then
    say(("Starting no more jobs. Waiting for %d jobs to finish."):format(self.nrunning))
  end
end

function Run:finish(job, r)
  self.slots[job.slot] = nil
  -- --pipe: our read end stays open while the job may be (re)started; once closed, what
  -- the job did not read is dropped (the feed gets EPIPE).
  if job.stdin_fd then core.close(job.stdin_fd); job.stdin_fd = nil end
  if self.o.line_buffer then self:close_pipes(job); self.by_seq[job.ord] = nil end
  if r.status == "cancelled" and job.timed_out then  -- --timeout N%
    r.status = "timeout"
  elseif r.status == "cancelled" then -- ended by --halt now or an interrupt: not a result
    job.cancelled = true
    return self:ready(job.ord, job)
  end
  job.record = r
  self.ndone = self.ndone + 1
  local failed = r.status ~= "ok"
  if failed then self.nfailed = self.nfailed + 1 end
  if self.median and not failed then self.median:add(r.duration) end
  job.exitval, job.signal = gnu_status(r)
  if job.timed_out and job.signal == 0 then job.signal = 15 end
  if r.status == "timeout" and not job.timed_out then
    say("Warning: This job was killed because it timed out:")
    say("Warning: ", job.cmd)
  end
  if self.results then
    job.receive = self.results:receive(job, r)
  elseif not self.o.line_buffer and not self.o.ungroup then
    job.receive = #(r.stdout or "")
  end
  if self.log then
    self.log:write({ seq = job.seq, start = r.start, duration = r.duration, receive = job.receive,
                     send = job.send,
                     exitval = job.exitval, signal = job.signal, command = job.cmd })
  end
  if self.halt then self:halt_check(job, r) end
  self:ready(job.ord, job)
end

function Run:collect()
  local n = 0
  for f, job in pairs(self.running) do
    if f:done() then
      self.running[f] = nil
      self.nrunning = self.nrunning - 1
      n = n + 1
      self:finish(job, f.record)
    end
  end
  return n
end

-- fill() -> jobs started; sets self.exhausted when input is done.
function Run:fill()
  local n = 0
  while not self.stop and not self.interrupted and not self.exhausted
        and self.nrunning < self.o.jobs do
    local wait = self.gate and self.gate:wait(core.now()) or 0
    if wait > 0 then self:wake_in(wait); break end
    local job = self:next_job()
    if job == nil then
      self.exhausted = true
    elseif job == false then
      input.wait(self.input.reader)
      break
    else
      self:start(job)
      n = n + 1
    end
  end
  return n
end

-- wake_in(seconds): have loop.step return by then (a held-back start, a timeout to check).
function Run:wake_in(seconds)
  local at = core.now() + seconds
  if self.wake and self.wake_at <= at then return end
  if self.wake then loop.cancel_timer(self.wake) end
  self.wake_at = at
  self.wake = loop.timer(seconds, function() self.wake = nil end)
end

-- --timeout N%: end the jobs running longer than N% of the median runtime so far; GNU
-- warns when it ends one.
function Run:check_timeouts()
  local limit = self.median:limit()
  if not limit then return end
  local now, soonest = core.now(), math.huge
  for f, job in pairs(self.running) do
    if not job.timed_out then
      local left = job.t0 + limit - now
      if left <= 0 then
        say("Warning: This job was killed because it timed out:")
        say("Warning: ", job.cmd)
        job.timed_out = true
        f:cancel()
      elseif left < soonest then
        soonest = left
      end
    end
  end
  if soonest < math.huge then self:wake_in(soonest) end
end

function Run:exit_status()
  if self.interrupted or self.stop == "error" then return 255 end
  local p = self.halt
  if p then
    if self.halt_exit then return self.halt_exit % 256 end
    if p.percent then return math.ceil(self.nfailed / math.max(self.ndone, 1) * 100) end
  end
  return math.min(self.nfailed, 101)
end

function Run:update_bar()
  if not self.bar then return end
  self.bar:update({ done = self.ndone, running = self.nrunning, failed = self.nfailed,
                    total = self.total or (self.exhausted and self.seq - self.nskipped) or nil })
end

function Run:loop()
  local release = loop.catch_signals(function(sig) self.interrupted = self.interrupted or sig end)
  while true do
    local ended = self:collect()
    if self.median then self:check_timeouts() end
    local started = self:fill()
    self:update_bar()
    if self.nrunning == 0 and (self.exhausted or self.stop or self.interrupted) then break end
    if started == 0 and ended == 0 then loop.step() end
  end
  release()
  if self.bar then self.bar:finish() end
end

-- --dry-run: the command lines, in order, without running anything.
function Run:dry_run()
  while true do
    local job = self:next_job()
    if job == false then
      input.wait(self.input.reader)
      loop.run_until(function() return not input.waiting(self.input.reader) end)
    elseif not job then
      break
    else
      job.slot = (job.seq - 1) % self.o.jobs + 1
      local line = job.cmd or template.line(self.tpl, job.args, job.seq, job.slot)
      io.stdout:write(self:tag_of(job) or "", line, "\n")
    end
  end
  io.stdout:flush()
  return 0
end

-- How many jobs the open-file limit allows: each holds a pidfd and two pipe ends (four
-- with --line-buffer).
local function fd_room(line_buffer)
  local f = io.open("/proc/self/limits")
  local text = f and f:read("a") or ""
  if f then f:close() end
  local soft = tonumber(text:match("Max open files%s+(%d+)"))
  if not soft then return math.huge end
  return math.max(1, (soft - 32) // (line_buffer and 5 or 3))
end

-- run(o) -> exit status. o: the options parse() returned.
function M.run(o)
  local room = fd_room(o.line_buffer)
  if o.jobs > room then
    if not o.jobs_max then
      say(("Warning: Only enough file handles to run %d jobs in parallel."):format(room))
    end
    o.jobs = room
  end
  local inp, ierr
  if o.pipe and not o.tee then
    inp = { reader = input.stdin_raw() }
  else
    inp, ierr = input.open(o, nul_warning)
    if not inp then say(ierr); return 255 end
  end
  local topts = { quote_all = o.quote, replace = o.replace, names = inp.names,
                  context = o.xargs_context, no_append = o.pipe }
  local tpl, terr = template.compile(o.command, topts)
  if not tpl then usage_error(terr) end
  local self = setmetatable({
    o = o, tpl = tpl, seq = 0, li = 0, skip = {}, nskipped = 0,
    running = {}, nrunning = 0, slots = {}, held = {}, next_print = 1, by_seq = {},
    ndone = 0, nfailed = 0, input = inp, gate = sched.gate(o),
    per = o.max_args or o.max_replace or o.max_lines or 1,
  }, Run)
  if self.per == 0 then self.per = 1 end                        -- -N0 still reads one
  local res, rerr = nil, nil
  if o.results or o.files then res, rerr = results().new(o, inp.names) end
  if rerr then say(rerr); return 255 end
  self.results = res
  if o.tagstring then
    self.tagtpl = template.compile({ o.tagstring }, { replace = o.replace, names = inp.names,
                                                      bare = true })
  end
  if o.halt then self.halt = halt.parse(o.halt) end
  if o.timeout and o.timeout.pct then self.median = sched.median_timeout(o.timeout.pct) end
  if o.nice and o.nice ~= sched.niceness() then self.nice = o.nice - sched.niceness() end
  if o.retry_failed then
    local jobs, err = tsv().failed_jobs((o.joblog:gsub("^%+", "")))
    if not jobs then say(err); return 255 end
    self.fixed = jobs
  end
  if o.resume or o.resume_failed then
    local done, err = tsv().done_seqs((o.joblog:gsub("^%+", "")), o.resume_failed)
    if not done then say(err); return 255 end
    self.skip = done
  end
  -- Percentages need the number of jobs: read all input first, as GNU parallel does.
  if o.pipe and not o.tee then self.splitter = pipe().splitter(o, inp.reader) end
  if o.tee then self.tee = input.read_stdin() end
  if not self.fixed and not self.splitter and ((self.halt and self.halt.percent) or o.shuf or o.xargs or o.xargs_context) then
    self:prepare()
  end
  if self.halt and self.halt.percent then
    local n = 0
    for i = 1, #(self.list or self.fixed) do if not self.skip[i] then n = n + 1 end end
    self.halt:set_total(n)
  end
  if o.dry_run then return self:dry_run() end
  if o.joblog then
    local path = o.joblog
    local append = path:sub(1, 1) == "+"
    if append then path = path:sub(2) end
    local log, err = tsv().open(path, append, o.resume or o.resume_failed or o.retry_failed)
    if not log then say(err); return 255 end
    self.log = log
  end
  local retries = 0
  if o.retries then retries = o.retries == 0 and INFINITE_RETRIES or o.retries - 1 end
  self.pool = corral.pool {
    executor = "shell", size = o.jobs, timeout = o.timeout and o.timeout.seconds, retries = retries,
    termseq = o.termseq or GNU_TERMSEQ, on_interrupt = "cancel",
  }
  if o.bar or o.progress or o.eta then
    local total = (self.fixed or self.list) and #(self.fixed or self.list) or (inp.total and math.ceil(inp.total / self.per))
    if total then
      for s in pairs(self.skip) do if s <= total then total = total - 1 end end
    end
    self.total = total
    if o.progress or o.eta then self.bar = meter().new(o.jobs, o.eta)
    else self.bar = progress().new({ total = total, stream = io.stderr }) end
    if not self.bar.on then self.bar = nil end
  end
  self:loop()
  if self.log then self.log:close() end
  if self.results then self.results:close() end
  io.stdout:flush()
  return self:exit_status()
end

function M.main(argv)
  local o, err = cli_args.parse(argv)
  if not o then usage_error(err) end
  if o.help then print(cli_args.USAGE); os.exit(0) end
  if o.version then
    print(("corral parallel (%s), a subset of GNU parallel 20221122's options"):format(corral._VERSION))
    print("Options taken and their differences from GNU parallel: docs/cli.md")
    os.exit(0)
  end
  os.exit(M.run(o), true)
end

return M
