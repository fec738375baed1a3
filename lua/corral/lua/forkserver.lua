-- corral.lua.forkserver: lua workers for start = "forkserver". A clean server process (a fresh
-- `lua5.4`, started like a spawned worker, in its own process group) requires the `preload`
-- modules once and then forks workers on demand: a worker starts in well under a millisecond
-- and shares the preloaded modules' pages, and the pool owner, however big or threaded, is
-- never forked.
--
-- Owner and server talk over a SOCK_SEQPACKET pair (the server's end is its fd 3): a request
-- is the worker's two pipe ends (SCM_RIGHTS) with the fd numbers they get in the worker; the
-- reply is the worker's pid. The server forks with CLONE_PARENT (core.fork_parent), so every
-- worker is the owner's child: the owner sets its process group, opens its pidfd and reaps it
-- exactly as it does a spawned or forked worker, and the server can end without touching
-- them. The server is watched by corral.launch.proc, which registers its group with the lifeline.
--
-- One request at a time, blocking: the owner waits for the reply (a fork), and, on the first
-- request to a new server, for the server's start and its preloads.
local core = require "corral.core"
local luacmd = require "corral.launch.luacmd"
local loop = require "corral.loop"
local proc = require "corral.launch.proc"

local M = {}
local Server = {}
Server.__index = Server

local MAXMSG = 65536
local CLOSE_WAIT = 2          -- seconds a closed server gets to exit before it is stopped
local EPIPE, ECONNRESET = 32, 104           -- Linux: a send to a server that has ended

-- Server side -----------------------------------------------------------------------------

local function reply(sock, t)
  local ok, err = core.send_fds(sock, core.encode(t))
  if not ok then io.stderr:write("corral forkserver: ", tostring(err), "\n"); os.exit(1) end
end

-- main(sock, preload, init): preload, say hello, then serve fork requests until the owner's
-- end of the socket closes. Never returns.
function M.main(sock, preload, init)
  core.sigdefault { "INT" }
  local worker = require "corral.lua.worker"        -- in the server, so no worker loads it again
  for _, name in ipairs(preload or {}) do
    local ok, err = pcall(require, name)
    if not ok then
      reply(sock, { err = ("cannot preload '%s': %s"):format(name, tostring(err)) })
      os.exit(1)
    end
  end
  reply(sock, { pid = core.getpid() })
  collectgarbage()                              -- workers start from a compact heap
  while true do
    local data, fds = core.recv_fds(sock, MAXMSG)
    if not data then io.stderr:write("corral forkserver: ", tostring(fds), "\n"); os.exit(1) end
    if data == "" then os.exit(0) end           -- the owner closed: done
    local targets = core.decode(data)
    local map = {}
    for i, n in ipairs(type(targets) == "table" and targets or {}) do map[n] = fds[i] end
    local pid, err = core.fork_parent(map)
    if pid == 0 then                  -- an error must end the child, not unwind into this loop
      local ok, e = pcall(worker.main, 3, 4, init, core.exit_now)
      if not ok then io.stderr:write("corral worker: ", tostring(e), "\n") end
      core.exit_now(ok and 0 or 70)
    end
    for _, fd in ipairs(fds) do core.close(fd) end
    reply(sock, pid and { pid = pid } or { err = err })
  end
end

-- Owner side ------------------------------------------------------------------------------

local function drop(self)
  if self.sock then core.close(self.sock); self.sock = nil end
end

-- One message from the server, decoded; nil, message when it is gone or says no.
local function receive(self)
  local data, err = core.recv_fds(self.sock, MAXMSG)
  if data == "" then err = "the fork server exited" end
  if not data or data == "" then drop(self); return nil, err end
  local r = core.decode(data)
  if type(r) ~= "table" or (r.err == nil and math.type(r.pid) ~= "integer") then
    drop(self)
    return nil, "the fork server sent a bad reply"
  end
  if r.err then return nil, tostring(r.err) end
  return r
end

-- Start a server and wait for its hello (it has loaded the preload modules).
local function start(self)
  local o = self.opts
  local mine, theirs = core.seqpacket_pair()
  if not mine then return nil, theirs end
  local p, err
  p, err = proc.start({
    argv = luacmd.argv(o.interpreter, "corral.lua.forkserver", 3, o.preload or {}, o.init),
    env = o.env, cwd = o.cwd,
    stdin = "null", stdout = o.stdout, stderr = o.stderr, termseq = o.termseq, fds = { [3] = theirs },
    block_int = true,             -- made fatal again in main (lua.c would turn it into an error)
  }, function(ended)
    if self.proc == ended then self.proc = nil; drop(self) end
  end)
  core.close(theirs)
  if not p then core.close(mine); return nil, err end
  self.proc, self.sock = p, mine
  local hello
  hello, err = receive(self)
  if not hello then
    drop(self)
    p:stop()                                  -- it is exiting anyway; the loop reaps it
    return nil, err
  end
  self.pid = hello.pid
  return true
end

-- new(opts) -> server (started on the first fork). opts: preload (list of module names),
-- init ("module.fn" run in each worker), interpreter, and for the server process (and so its
-- workers): env, cwd, stdout, stderr (as for core.spawn), termseq.
function M.new(opts)
  return setmetatable({ opts = opts }, Server)
end

-- fork({ [n] = fd, ... }) -> pid, pidfd | nil, message. The worker is this process's child, in
-- its own process group. A server that died is replaced here.
function Server:fork(fds)
  local targets, list = {}, {}
  for n, fd in pairs(fds) do targets[#targets + 1] = n; list[#list + 1] = fd end
  local msg = core.encode(targets)
  local ok, err, errno
  for _ = 1, 2 do
    if not self.sock then
      ok, err = start(self)
      if not ok then return nil, "cannot start the fork server: " .. tostring(err) end
    end
    ok, err, errno = core.send_fds(self.sock, msg, list)
    if ok then break end
    drop(self)            -- it died while idle: nothing was forked, so a new one may try
    if errno ~= EPIPE and errno ~= ECONNRESET then break end
  end
  if not ok then return nil, "fork server: " .. tostring(err) end
  local r
  r, err = receive(self)
  -- No retry once the request went out: had the server forked before dying, a second worker
  -- would share the first one's pipes. (That one reads EOF and exits, an unreaped zombie.)
  if not r then return nil, "fork server: " .. err end
  local pid = r.pid
  -- The child sets its group too; doing it here as well means the group exists before we
  -- signal it. Failure is harmless: the child is gone (its pidfd reports that) or did it.
  core.setpgid(pid, pid)
  local pidfd
  pidfd, err = core.pidfd_open(pid)
  if not pidfd then          -- (EMFILE) our child, unreaped, so the pid is still its
    core.kill(pid, "KILL")
    return nil, err
  end
  return pid, pidfd
end

-- close([hard]): end the server (its workers are not affected) and wait until it is reaped.
function Server:close(hard)
  local p = self.proc
  drop(self)                       -- EOF: the server exits on its own
  if not p then return end
  if hard then p:stop() end
  if not loop.run_until(function() return p.finished end, loop.now() + CLOSE_WAIT) then
    p:stop()
    loop.run_until(function() return p.finished end)
  end
  if self.proc == p then self.proc = nil end
end

function Server:kill_now()
  if self.proc then self.proc:kill_now() end
end

return M
