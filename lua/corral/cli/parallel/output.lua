-- corral.cli.parallel.output: how `corral parallel` prints its jobs' output: whole when a job
-- ends (GNU's --group, stdout then stderr), in input order with -k, line by line from the
-- job's own pipes with --line-buffer, tagged with --tag/--tagstring, the command first with
-- -v. These are methods of the run (init.lua's Run).
local core = require "corral.core"
local loop = require "corral.loop"
local template = require "corral.cli.parallel.template"

local Run = {}
local SKIPPED = {}          -- a job --resume left out (keeps -k's order)

-- tagged(s, tag): every line of s prefixed with tag (a last partial line too).
local function tagged(s, tag)
  if not tag or s == "" then return s end
  local parts, pos, n = {}, 1, #s
  while pos <= n do
    local e = s:find("\n", pos, true) or n
    parts[#parts + 1] = tag
    parts[#parts + 1] = s:sub(pos, e)
    pos = e + 1
  end
  return table.concat(parts)
end

function Run.write_out(self, s)
  if s == "" then return end
  if self.bar then self.bar:clear() end
  io.stdout:write(s)
  io.stdout:flush()
end

function Run.write_err(self, s)
  if s == "" then return end
  if self.bar then self.bar:clear() end
  io.stderr:write(s)
end

-- Output ---------------------------------------------------------------------------------

-- What --tag or --tagstring puts before a job's lines.
function Run.tag_of(self, job)
  if self.tagtpl then return template.line(self.tagtpl, job.args, job.seq, job.slot) .. "\t" end
  if self.o.tag then return template.tag(job.args) end
end

-- A finished job's output, whole (the default, GNU's --group).
function Run.emit(self, job)
  local r = job.record
  if job == SKIPPED or job.cancelled or not r then return end
  if self.results then       -- --results, --files: the output is elsewhere
    self:write_out(self.results:printed(job))
    return self.results:row(job, r)
  end
  if self.o.line_buffer then return self:flush_held(job) end
  if self.o.ungroup then return end
  if self.o.verbose then self:write_out(tagged(job.cmd .. "\n", job.tag)) end
  self:write_out(tagged(r.stdout or "", job.tag))
  self:write_err(tagged(r.stderr or "", job.tag))
end

-- -k: jobs print in input order (ord: the Seq, or the place in --retry-failed's list); a job
-- is printed once every earlier one has been.
function Run.ready(self, seq, job)
  if not self.o.keep_order then return self:emit(job) end
  self.held[seq] = job
  while self.held[self.next_print] do
    local j = self.held[self.next_print]
    self.held[self.next_print] = nil
    self:emit(j)
    self.next_print = self.next_print + 1
    -- --line-buffer -k: the next job in order now prints as its lines come.
    local live = self.by_seq[self.next_print]
    if live then self:flush_held(live) end
  end
end

-- --line-buffer: a job's own pipes, read as lines complete. The job in front (any job
-- without -k) prints at once; the others keep their lines until their turn.
function Run.live(self, job)
  return not self.o.keep_order or job.ord == self.next_print
end

function Run.deliver(self, job, stream, text)
  if text == "" then return end
  if self:live(job) then
    if stream == "out" then self:write_out(tagged(text, job.tag))
    else self:write_err(tagged(text, job.tag)) end
  else
    job.held[#job.held + 1] = { stream, text }
  end
end

function Run.flush_held(self, job)
  local held = job.held
  if not held or #held == 0 then return end
  job.held = {}
  for _, h in ipairs(held) do self:deliver(job, h[1], h[2]) end
end

local function on_pipe(self, job, s, final)
  while s.fd do
    local data = core.read(s.fd, 65536)
    if data == false then
      if not final then return end
      data = ""                       -- a writer escaped the group: stop at what we have
    end
    if not data or data == "" then
      loop.close(s.fd); s.fd = nil
      break
    end
    job.receive = job.receive + #data
    local buf = s.buf .. data
    local last = buf:match(".*()\n")
    if last then
      self:deliver(job, s.name, buf:sub(1, last))
      buf = buf:sub(last + 1)
    end
    s.buf = buf
  end
  if not s.fd and s.buf ~= "" then
    self:deliver(job, s.name, s.buf)  -- a last line without its newline, as it is
    s.buf = ""
  end
end

function Run.open_pipes(self, job)
  job.held, job.streams = {}, {}
  local fds = {}
  for _, name in ipairs({ "out", "err" }) do
    local r, w = core.pipe()
    if not r then return nil, w end
    local s = { name = name, fd = r, w = w, buf = "" }
    job.streams[#job.streams + 1] = s
    fds[name] = w
    loop.watch(r, function() on_pipe(self, job, s, false) end)
  end
  return fds
end

function Run.close_pipes(self, job)
  for _, s in ipairs(job.streams or {}) do
    if s.w then core.close(s.w); s.w = nil end
    on_pipe(self, job, s, true)
  end
end

return { methods = Run, SKIPPED = SKIPPED, tagged = tagged }
