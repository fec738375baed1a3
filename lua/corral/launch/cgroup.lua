-- corral.launch.cgroup: a cgroup per command task, so that nothing it starts can escape being ended
-- (setsid, double fork), and memory limits.
--
-- Layout: one corral-owned parent per process, created with the first task that needs it,
-- <cgroup v2 mount>/<this process's cgroup>/corral-<pid> (or directly under the mount when our
-- own cgroup is not writable; or under $CORRAL_CGROUP_ROOT when that is set), holding one
-- task-<n> per task. The child is born in its task cgroup (clone3 CLONE_INTO_CGROUP, see
-- engine/clone.c). Ending a task runs the termination sequence on every process of the cgroup
-- (the group with killpg, escapees by pid) and, where it would send KILL or has run out, writes
-- "1" to cgroup.kill; the task is finished when cgroup.events says "populated 0" (watched
-- through the loop: the file signals EPOLLPRI when it changes). Empty task cgroups are removed
-- at once; the parent when the last pool closes, at exit, or by the lifeline's watchdog.
--
-- limits.memory uses memory.max in the task cgroup when the v2 memory controller can be
-- enabled for corral's parent; otherwise (hybrid systems, where memory is bound to cgroup v1) a
-- v1 memory cgroup <v1 memory mount>/<our v1 memory cgroup>/corral-<pid>/task-<n> with
-- memory.limit_in_bytes (and memsw), which the child joins before exec. An OOM kill is read from
-- memory.events (v2) or memory.oom_control (v1).
local core = require "corral.core"
local loop = require "corral.loop"

local M = {}

local EEXIST, EBUSY = 17, 16
local GIVE_UP = 5            -- seconds after cgroup.kill before a cgroup is reported stuck
local KILL = core.signum "KILL"
local CONT = core.signum "CONT"

local owner = core.getpid()  -- the state below belongs to this process (not to forked children)
local info                   -- what detect() found
local parent = {}            -- "v2" | "v1" -> { path = } | { err = }
local serial = 0
local live = {}              -- cg -> true: task cgroups not removed yet
local nlive = 0

local function slurp(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function has_file(path)            -- control files may be write-only: open for writing
  local fd = core.open(path, "w")
  if fd then core.close(fd) end
  return fd ~= nil
end

local function unescape(s)
  return (s:gsub("\\(%d%d%d)", function(o) return string.char(tonumber(o, 8)) end))
end

-- A cgroup path as the mount sees it: /proc/self/cgroup is relative to the hierarchy's root,
-- a mount may show only a subtree of it.
local function under(mount, mroot, path)
  if mroot ~= "/" then
    if path:sub(1, #mroot) ~= mroot then return nil end
    path = path:sub(#mroot + 1)
  end
  if path == "" or path == "/" then return mount end
  return mount .. path
end

-- detect(): where cgroup v2 and the v1 memory hierarchy are, and where our parents may go.
function M.detect()
  if info then return info end
  info = {}
  local v2, mem
  for line in io.lines("/proc/self/mountinfo") do
    local pre, fstype, super = line:match("^(.-) %- (%S+) %S+ (%S+)")
    if pre then
      local f = {}
      for w in pre:gmatch("%S+") do f[#f + 1] = w end
      if fstype == "cgroup2" and not v2 then
        v2 = { mount = unescape(f[5]), root = f[4] }
      elseif fstype == "cgroup" and not mem and ("," .. super .. ","):find(",memory,", 1, true) then
        mem = { mount = unescape(f[5]), root = f[4] }
      end
    end
  end
  local own2, ownmem
  for line in io.lines("/proc/self/cgroup") do
    local ctrl, path = line:match("^%d+:([^:]*):(.*)$")
    if ctrl == "" then own2 = path
    elseif ctrl and ("," .. ctrl .. ","):find(",memory,", 1, true) then ownmem = path end
  end
  local override = os.getenv("CORRAL_CGROUP_ROOT")
  if override and override ~= "" then
    info.v2 = { override }
  elseif v2 then
    info.v2 = { under(v2.mount, v2.root, own2 or "/"), v2.mount }
  else
    info.v2why = "no cgroup v2 hierarchy is mounted"
  end
  if mem then
    info.v1 = { under(mem.mount, mem.root, ownmem or "/"), mem.mount }
  end
  return info
end

-- The parents this process would use (existing or not): for the watchdog and the specs.
function M.parent_paths(pid)
  local d, out = M.detect(), {}
  for _, key in ipairs { "v2", "v1" } do
    for _, b in ipairs(d[key] or {}) do out[#out + 1] = b .. "/corral-" .. (pid or owner) end
  end
  return out
end

local function check_fork()
  local me = core.getpid()
  if me ~= owner then
    owner, parent, live, nlive, serial = me, {}, {}, 0, 0
  end
end

-- make_parent("v2" | "v1") -> { path = } | { err = }: created once, lazily.
local function make_parent(key)
  if parent[key] then return parent[key] end
  local d = M.detect()
  local bases = d[key]
  if not bases then
    parent[key] = { err = key == "v2" and d.v2why or "no cgroup v1 memory hierarchy is mounted" }
    return parent[key]
  end
  local last
  for _, base in ipairs(bases) do
    local path = base .. "/corral-" .. owner
    local ok, err, errno = core.mkdir(path)
    if ok or errno == EEXIST then
      if key == "v1" or has_file(path .. "/cgroup.kill") then
        local lifeline = require "corral.launch.lifeline"
        lifeline.add(lifeline.CGROUPS)      -- the watchdog removes it if this process dies
        local p = { path = path, made = ok }
        if key == "v2" and (" " .. (slurp(path .. "/cgroup.controllers") or "") .. " "):find("%smemory%s") then
          p.memory = core.write_file(path .. "/cgroup.subtree_control", "+memory") or nil
        end
        parent[key] = p
        return p
      end
      if ok then core.rmdir(path) end
      last = path .. " has no cgroup.kill (not a cgroup v2 directory, or a kernel older than 5.14)"
    else
      last = "cannot create " .. err
    end
  end
  parent[key] = { err = last }
  return parent[key]
end

local function new_dir(p)
  for _ = 1, 3 do
    serial = serial + 1
    local path = p.path .. "/task-" .. serial
    local ok, err, errno = core.mkdir(path)
    if ok then return path end
    if errno ~= EEXIST then return nil, err end
    core.rmdir(path)           -- a stale one of an earlier process with our pid
    if core.mkdir(path) then return path end
  end
  return nil, "cannot create a task cgroup under " .. p.path
end

-- create(mode, memory) -> cg | false (mode "auto" and no cgroup v2, no memory limit)
--                      | nil, message
-- mode: true | "auto" | false; memory: bytes or nil.
function M.create(mode, memory)
  check_fork()
  local cg = { id = nil }
  local p2
  if mode or memory then
    p2 = make_parent("v2")
    if p2.err and mode == true then return nil, "cgroup = true: " .. p2.err end
    if p2.err then p2 = nil end
  end
  if p2 and (mode or (memory and p2.memory)) then
    local path, err = new_dir(p2)
    if not path then return nil, "cgroup: " .. err end
    cg.path, cg.id = path, serial
    live[cg], nlive = true, nlive + 1
    local why
    cg.dirfd, why = core.open(path, "d")
    if cg.dirfd then cg.evfd, why = core.open(path .. "/cgroup.events", "r") end
    if not cg.evfd then M.remove(cg); return nil, "cgroup: " .. why end
  end
  if memory then
    local lim = ("%d"):format(memory)
    if cg.path and p2.memory then
      core.write_file(cg.path .. "/memory.swap.max", "0")      -- absent without swap: no matter
      local ok, err = core.write_file(cg.path .. "/memory.max", lim)
      if not ok then M.remove(cg); return nil, "limits.memory: " .. err end
      cg.mem = { v = 2, path = cg.path, limit = memory }
    else
      local p1 = make_parent("v1")
      if p1.err then
        if cg.path then M.remove(cg) end
        return nil, ("limits.memory: no memory controller (cgroup v2: %s; cgroup v1: %s)")
          :format(p2 and "the memory controller is not available to corral's cgroup"
                    or (parent.v2 and parent.v2.err or "not used"), p1.err)
      end
      local path, err = new_dir(p1)
      if not path then if cg.path then M.remove(cg) end; return nil, "limits.memory: " .. err end
      cg.mem = { v = 1, path = path, limit = memory }
      cg.id = cg.id or serial
      if not cg.path then live[cg], nlive = true, nlive + 1 end
      local ok, e2 = core.write_file(path .. "/memory.limit_in_bytes", lim)
      if ok then core.write_file(path .. "/memory.memsw.limit_in_bytes", lim) end   -- no swap either
      local fd
      if ok then fd, e2 = core.open(path .. "/cgroup.procs", "w") end
      if not fd then M.remove(cg); return nil, "limits.memory: " .. e2 end
      cg.join = { fd }
    end
  end
  if not cg.path and not cg.mem then return false end
  return cg
end

-- spawn_options(cg, t): the fields core.spawn needs to start the child inside cg.
function M.spawn_options(cg, t)
  t.cgroup = cg.dirfd
  t.join = cg.join
  return t
end

-- started(cg): the child has exec'd; the join fds are no longer needed.
function M.started(cg)
  if cg.join then
    for _, fd in ipairs(cg.join) do core.close(fd) end
    cg.join = nil
  end
end

function M.populated(cg)
  if not cg.evfd then return false end
  local s = core.pread(cg.evfd, 256)
  return not s or s:match("populated (%d)") ~= "0"
end

-- kill(cg): SIGKILL to every process of the task's cgroup at once. False without cgroup v2.
function M.kill(cg)
  if not cg.path then return false end
  return core.write_file(cg.path .. "/cgroup.kill", "1") and true or false
end

-- signal(cg, pgid, sig): sig (and CONT) to the task's process group and to every process of
-- the cgroup outside it (escapees). The group is signalled only while a member of it is in the
-- cgroup: once its leader is reaped and the group empty, the number may belong to someone else.
local function signal(cg, pgid, sig)
  local procs = cg.path and slurp(cg.path .. "/cgroup.procs") or ""
  local others, ingroup = {}, false
  for pid in procs:gmatch("%d+") do
    pid = tonumber(pid)
    if core.getpgid(pid) == pgid then ingroup = true else others[#others + 1] = pid end
  end
  local cont = sig ~= CONT and sig ~= KILL
  if ingroup and core.killpg(pgid, sig) and cont then core.killpg(pgid, CONT) end
  for _, pid in ipairs(others) do
    if core.kill(pid, sig) and cont then core.kill(pid, CONT) end
  end
end

local stopping = {}          -- cg -> { steps, i, on_done, pgid, timer }

local function finish(cg, st, gone)
  stopping[cg] = nil
  loop.cancel_timer(st.timer)
  loop.unwatch(cg.evfd)
  st.on_done(gone)
end

local function check(cg)
  local st = stopping[cg]
  if st and not M.populated(cg) then finish(cg, st, true) end
end

local function advance(cg, st)
  loop.cancel_timer(st.timer)
  st.i = st.i + 1
  local step = st.steps[st.i]
  if not step or step.sig == KILL then
    st.i = #st.steps + 1
    M.kill(cg)
    st.timer = loop.timer(GIVE_UP, function() finish(cg, st, false) end)
  else
    signal(cg, st.pgid, step.sig)
    local wait = step.wait or (st.i == #st.steps and GIVE_UP or 0)
    st.timer = loop.timer(wait, function() advance(cg, st) end)
  end
  check(cg)
end

-- stop(cg, pgid, steps, on_done): the termination sequence on every process of the cgroup;
-- where it would send KILL, or once it has run out, cgroup.kill. on_done(gone) when the cgroup
-- is empty (gone = true) or GIVE_UP seconds after cgroup.kill (false). A second call moves to
-- the next step at once (as group.stop).
function M.stop(cg, pgid, steps, on_done)
  local st = stopping[cg]
  if st then return advance(cg, st) end
  st = { steps = steps, i = 0, on_done = on_done, pgid = pgid }
  stopping[cg] = st
  loop.watch(cg.evfd, function() check(cg) end, "p")
  advance(cg, st)
end

-- hurry(cg): cgroup.kill now for a cgroup being stopped (second Ctrl-C).
function M.hurry(cg)
  local st = stopping[cg]
  if st then
    st.i = #st.steps
    advance(cg, st)
  end
end

-- oom_kills(cg) -> how many processes the OOM killer ended in the task's memory cgroup.
function M.oom_kills(cg)
  if not cg.mem then return 0 end
  local file = cg.mem.v == 2 and "/memory.events" or "/memory.oom_control"
  local s = slurp(cg.mem.path .. file) or ""
  return tonumber(s:match("oom_kill (%d+)")) or 0
end

-- finish(cg) -> OOM kills: the task has ended (its record is being made); remove its cgroup.
function M.finish(cg)
  local n = M.oom_kills(cg)
  cg.done = true
  M.remove(cg)
  return n
end

-- remove(cg): close its fds and remove its directories. One still in use (a lingering
-- process) stays listed and is retried by release().
function M.remove(cg)
  M.started(cg)
  if cg.evfd then loop.close(cg.evfd); cg.evfd = nil end
  if cg.dirfd then core.close(cg.dirfd); cg.dirfd = nil end
  local busy = false
  for _, key in ipairs { "path", "mem" } do
    local path = key == "path" and cg.path or (cg.mem and cg.mem.v == 1 and cg.mem.path)
    if path then
      local ok, _, errno = core.rmdir(path)
      if ok or errno ~= EBUSY then
        if key == "path" then cg.path = nil else cg.mem.path = nil end
      else
        busy = true
      end
    end
  end
  if not busy and live[cg] then live[cg], nlive = nil, nlive - 1 end
  return not busy
end

-- release([final]): when no task cgroup is left, remove the parents (the last pool closed).
-- final (the Lua state is closing): kill what still runs in cgroups of unfinished tasks, give
-- it a moment to go, and remove what can be removed.
function M.release(final)
  if core.getpid() ~= owner then return end
  if final then
    for cg in pairs(live) do if not cg.done then M.kill(cg) end end
    local ep = core.epoll_create()
    local deadline = core.now() + 0.5
    for cg in pairs(live) do
      while not cg.done and M.populated(cg) and core.now() < deadline do core.epoll_wait(ep, 5) end
    end
    if ep then core.close(ep) end
  end
  for cg in pairs(live) do
    if cg.done or final then M.remove(cg) end
  end
  if nlive > 0 then return false end
  local had = false
  for _, key in ipairs { "v2", "v1" } do
    local p = parent[key]
    if p and p.path then
      core.rmdir(p.path)
      parent[key] = nil
      had = true
    end
  end
  if had then
    local lifeline = require "corral.launch.lifeline"
    lifeline.remove(lifeline.CGROUPS)
  end
  return true
end

-- reap_owner(pid, ids): for the lifeline's watchdog after its owner died: kill the task
-- cgroups task-<id> of that process's parents, wait (up to 1 s) for them to empty, remove
-- them, then the parents if nothing else is left in them.
function M.reap_owner(pid, ids)
  local parents = M.parent_paths(pid)
  local dirs = {}
  for _, p in ipairs(parents) do
    for _, id in ipairs(ids) do
      local d = p .. "/task-" .. id
      if core.write_file(d .. "/cgroup.kill", "1") then dirs[#dirs + 1] = d end
    end
  end
  local ep = core.epoll_create()
  local deadline = core.now() + 1
  for _, d in ipairs(dirs) do
    while core.now() < deadline and not (slurp(d .. "/cgroup.events") or "populated 0"):match("populated 0") do
      core.epoll_wait(ep, 5)
    end
  end
  core.close(ep)
  for _, p in ipairs(parents) do
    for _, id in ipairs(ids) do core.rmdir(p .. "/task-" .. id) end
    core.rmdir(p)
  end
end

-- Leftovers when the Lua state closes (the end of a script): see release(true).
M._sentinel = setmetatable({}, { __gc = function() pcall(M.release, true) end })

return M
