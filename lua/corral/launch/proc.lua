-- corral.launch.proc: one running command and its process group, from spawn to its last byte.
--
-- A command is finished when its main process is reaped, its group holds no live process
-- (unless it lingers) and its captured output is drained. Completion is decided by the exit,
-- not by EOF: a grandchild that escaped the group and keeps stdout open only delays the end by
-- DRAIN seconds. Not for lua workers' protocol traffic (see worker.lua).
local core = require "corral.core"
local loop = require "corral.loop"
local group = require "corral.launch.group"
-- Required on first use: the lifeline by the first process watched (it starts the watchdog
-- then), corral.launch.cgroup by the first task with a cgroup (made by cgroup.create).
local lifeline
local function cgroup() return require "corral.launch.cgroup" end

local M = {}
local Proc = {}
Proc.__index = Proc

local DRAIN = 0.2           -- seconds to wait for output after the group is gone
local CHUNK = 65536

local function try_finish(self)
  if self.finished or not self.reaped or not self.group_done then return end
  if self.open > 0 then
    if not self.drain_timer then
      self.drain_timer = loop.timer(DRAIN, function()
        for _, s in ipairs(self.streams) do
          if s.fd then
            loop.close(s.fd); s.fd = nil
          end
        end
        self.open = 0
        try_finish(self)
      end)
    end
    return
  end
  loop.cancel_timer(self.drain_timer)
  self.finished = true
  lifeline.remove(self.pgid)
  if self.cg then
    lifeline.remove(-self.cg.id)
    if cgroup().finish(self.cg) > 0 then
      self.oom = true
      self.note = ("out of memory (limit %d bytes)"):format(self.cg.mem.limit)
    end
  end
  self.on_end(self)
end

local function on_readable(self, s)
  for _ = 1, 16 do
    local data = core.read(s.fd, CHUNK)
    if data == false then return end
    if not data or data == "" then      -- EOF (or an error: nothing more will come)
      loop.close(s.fd)
      s.fd = nil
      self.open = self.open - 1
      return try_finish(self)
    end
    s.n = s.n + 1
    s.chunks[s.n] = data
  end
end

local function group_done(self)
  self.group_done = true
  try_finish(self)
end

local function on_exit(self)
  local code, sig, utime, stime, maxrss = core.reap(self.pidfd)
  if code == false and sig == nil then return end        -- not yet (spurious wake-up)
  loop.close(self.pidfd)
  self.pidfd = nil
  self.reaped = true
  self.ended_at = loop.now()
  if code == nil then     -- waitid failed: someone else reaped it (waitpid(-1) in the host)
    self.error = sig
    self.lost = "exit status lost: " .. tostring(sig)
  else
    self.code = code or nil
    self.signal = sig and (core.signame(sig) or tostring(sig)) or nil
    self.rusage = { utime = utime, stime = stime, maxrss = maxrss }
  end
  if self.stopping then return try_finish(self) end       -- group.stop reports the group's end
  -- The task owns its group (and its cgroup): whatever it left running is ended with it.
  if self.linger then return group_done(self) end
  if self.cg and self.cg.path then
    if not cgroup().populated(self.cg) then return group_done(self) end
    self.stopping = true
    cgroup().stop(self.cg, self.pgid, self.termseq, function() group_done(self) end)
  elseif core.group_exists(self.pgid) then
    self.stopping = true
    group.stop(self.pgid, self.termseq, function() group_done(self) end)
  else
    group_done(self)
  end
end

-- watch(pid, pidfd, outfd, errfd, spec, on_end) -> proc: follow a child started elsewhere
-- (spawned, or forked as a lua worker) to its end.
function M.watch(pid, pidfd, outfd, errfd, spec, on_end)
  lifeline = lifeline or require "corral.launch.lifeline"
  lifeline.add(pid)
  local self = setmetatable({
    pid = pid, pgid = pid, pidfd = pidfd, on_end = on_end,
    termseq = spec.termseq, linger = spec.linger, cg = spec.cgroup or nil,
    started_at = loop.now(), streams = {}, open = 0,
  }, Proc)
  if self.cg then
    cgroup().started(self.cg)
    lifeline.add(-self.cg.id)
  end
  local function add(name, fd)
    local s = { name = name, fd = fd, chunks = {}, n = 0, captured = fd ~= nil }
    self.streams[#self.streams + 1] = s
    self[name] = s
    if fd then
      self.open = self.open + 1
      loop.watch(fd, function() on_readable(self, s) end)
    end
  end
  add("out", outfd or nil)
  add("err", errfd or nil)
  loop.watch(pidfd, function() on_exit(self) end)
  return self
end

-- start(spec, on_end) -> proc | nil, message, errno
-- spec: argv, cwd, env (list of "K=V"), stdin, stdout, stderr ("capture" | "inherit" | "null" |
-- { path = }), setsid, linger, termseq (parsed), fds ({ [n] = fd } for the child),
-- cgroup (a corral.launch.cgroup task cgroup the child is born in), rlimits ({ cpu =, nofile =, as = }).
-- on_end(proc) runs once, when it is finished.
function M.start(spec, on_end)
  local out = spec.stdout == "capture" and "pipe" or spec.stdout
  local err = spec.stderr == "capture" and "pipe" or spec.stderr
  local opts = {
    argv = spec.argv, cwd = spec.cwd, env = spec.env, setsid = spec.setsid, fds = spec.fds,
    stdin = spec.stdin or "null", stdout = out, stderr = err, block_int = spec.block_int,
    rlimits = spec.rlimits,
  }
  if spec.cgroup then cgroup().spawn_options(spec.cgroup, opts) end
  local pid, pidfd, errno, outfd, errfd = core.spawn(opts)
  if not pid then
    if spec.cgroup then cgroup().remove(spec.cgroup) end
    return nil, pidfd, errno
  end
  return M.watch(pid, pidfd, outfd, errfd, spec, on_end)
end

-- output("out" | "err") -> the captured text, or nil when that stream was not captured.
function Proc:output(name)
  local s = self[name]
  return s and s.captured and table.concat(s.chunks) or nil
end

function Proc:running() return not self.reaped end

-- send(sig): one signal to the group while the main process is unreaped (its pgid cannot
-- have been reused then). Returns true when sent.
function Proc:send(sig)
  if self.reaped then return false end
  return core.killpg(self.pgid, sig) and true or false
end

-- stop([steps]): end the whole group with the termination sequence. A second call hurries
-- to the last signal. Returns false when the main process had already exited (then what it
-- left is hurried away).
function Proc:stop(steps)
  if self.finished then return false end
  -- A main process that has already exited (its pidfd is readable, the loop has not seen it
  -- yet) ends as it did: reaped now, a cancel or timeout that came too late has no say in
  -- its record. What it left in its group is being ended anyway.
  if not self.reaped and self.pidfd then on_exit(self) end
  if self.reaped then
    if self.stopping and not self.finished then
      if self.cg and self.cg.path then cgroup().hurry(self.cg) else group.hurry(self.pgid) end
    end
    return false
  end
  if self.stopping then
    if self.cg and self.cg.path then cgroup().hurry(self.cg) else group.hurry(self.pgid) end
    return true
  end
  self.stopping = true
  if self.cg and self.cg.path then
    cgroup().stop(self.cg, self.pgid, steps or self.termseq, function() group_done(self) end)
  else
    group.stop(self.pgid, steps or self.termseq, function() group_done(self) end)
  end
  return true
end

-- kill_now(): KILL the group without waiting (finalizers, lifeline).
function Proc:kill_now()
  if not self.finished and (not self.reaped or self.stopping) then
    core.killpg(self.pgid, "KILL")
    if self.cg then cgroup().kill(self.cg) end
  end
end

return M
