-- corral.loop: the one event loop of a Lua state.
--
-- It owns an epoll descriptor, a timerfd armed for the earliest deadline (so a host that
-- polls only `pollfd()` still wakes for timers), and, while work is active, a signalfd for
-- INT/TERM/HUP. Coroutines started with `go` are resumed from here; plain code blocks in
-- `run_until`. It is not a general-purpose loop: no sockets, no threads.
local core = require "corral.core"
local heap_mod = require "corral.loop.heap"

local M = {}

local ep = assert(core.epoll_create())
local tfd = assert(core.timerfd_create())
assert(core.epoll_add(ep, tfd))
local armed = math.huge          -- deadline the timerfd is armed for

local watchers = {}              -- fd -> callback(fd)
local heap = {}                  -- timers: min-heap of { at, fn, seq } (corral.loop.heap)
local seq = 0
local ready, nready = {}, 0      -- coroutines to resume, with their resume values
local owned = setmetatable({}, { __mode = "k" })   -- coroutines started by go()

local sigfd, sigusers = nil, 0
local sighandlers = {}           -- handler -> true
local catching_enabled = true

local now = core.now
M.now = now

-- Descriptors ---------------------------------------------------------------

function M.watch(fd, fn, mode)
  watchers[fd] = fn
  local ok, err, errno = core.epoll_add(ep, fd, mode)
  if not ok then watchers[fd] = nil end
  return ok, err, errno
end

function M.unwatch(fd)
  if watchers[fd] then
    watchers[fd] = nil
    core.epoll_del(ep, fd)
  end
end

-- close(fd): stop watching and close. Closing drops the fd from the epoll set by itself (our
-- fds are never dup'ed), so the epoll_ctl DEL is saved: a few syscalls per task.
function M.close(fd)
  watchers[fd] = nil
  return core.close(fd)
end

-- Timers --------------------------------------------------------------------

local function heap_less(a, b) return a.at < b.at or (a.at == b.at and a.seq < b.seq) end

local function arm(at)
  if at ~= armed then
    armed = at
    core.timerfd_set(tfd, at ~= math.huge and at or nil)
  end
end

-- timer(delay, fn) -> handle; handle.fn = nil cancels it.
function M.timer(delay, fn)
  seq = seq + 1
  local t = { at = now() + delay, fn = fn, seq = seq }
  heap_mod.push(heap, t, heap_less)
  if t.at < armed then arm(t.at) end
  return t
end

function M.cancel_timer(t)
  if t then t.fn = nil end
end

local function next_deadline()
  while heap[1] and heap[1].fn == nil do heap_mod.pop(heap, heap_less) end
  return heap[1] and heap[1].at or math.huge
end

local function run_timers()
  local t0 = now()
  while heap[1] and heap[1].at <= t0 do
    local t = heap_mod.pop(heap, heap_less)
    local fn = t.fn
    if fn then
      t.fn = nil
      fn()
    end
  end
end

-- Coroutines ----------------------------------------------------------------

-- go(fn, ...): run fn in a coroutine now, until it first waits; later waits yield to the loop.
-- An error inside it is raised again, with its traceback, from the code that resumed it.
local function resume(co, ...)
  local ok, err = coroutine.resume(co, ...)
  if not ok then
    local tb = debug.traceback(co, tostring(err))
    if type(err) == "table" then error(err, 0) end
    error(tb, 0)
  end
end

function M.go(fn, ...)
  if type(fn) ~= "function" then
    error(("bad argument #1 to 'go' (function expected, got %s)"):format(type(fn)), 2)
  end
  local co = coroutine.create(fn)
  owned[co] = true
  resume(co, ...)
  return co
end

-- The running coroutine if corral may yield it, else nil (plain code, or a host's coroutine).
function M.current()
  local co, main = coroutine.running()
  if not main and owned[co] then return co end
  return nil
end

function M.wake(co)
  nready = nready + 1
  ready[nready] = co
end

local function run_ready()
  while nready > 0 do
    local list, n = ready, nready
    ready, nready = {}, 0
    for i = 1, n do
      local co = list[i]
      if coroutine.status(co) == "suspended" then resume(co) end
    end
  end
end

-- Signals -------------------------------------------------------------------

local signames = { [core.signum "INT"] = "INT", [core.signum "TERM"] = "TERM", [core.signum "HUP"] = "HUP" }

local function dispatch_signals()
  local sigs = { core.sigread(sigfd) }
  for _, s in ipairs(sigs) do
    local name = signames[s]
    for h in pairs(sighandlers) do h(name) end
  end
end

-- add_signal_handler(handler): while at least one handler is registered, INT/TERM/HUP are
-- blocked and delivered to every handler as "INT" | "TERM" | "HUP". Adding one already there
-- does nothing. remove_signal_handler(handler) takes it away (nothing when it is not there).
-- The pair makes no closure: a pool adds and removes its one handler each time it goes busy
-- and idle (once per task when tasks come one at a time).
function M.add_signal_handler(handler)
  if not catching_enabled or sighandlers[handler] then return end
  sighandlers[handler] = true
  sigusers = sigusers + 1
  if sigusers == 1 then
    sigfd = assert(core.sigcatch { "INT", "TERM", "HUP" })
    watchers[sigfd] = dispatch_signals
    assert(core.epoll_add(ep, sigfd))
  end
end

function M.remove_signal_handler(handler)
  if not sighandlers[handler] then return end
  sighandlers[handler] = nil
  sigusers = sigusers - 1
  if sigusers == 0 then
    watchers[sigfd] = nil
    core.epoll_del(ep, sigfd)
    core.sigrelease(sigfd)
    sigfd = nil
  end
end

-- catch_signals(handler) -> release: add_signal_handler, and a function that removes it.
function M.catch_signals(handler)
  M.add_signal_handler(handler)
  return function() M.remove_signal_handler(handler) end
end

-- set_signals(false): the process-wide switch for hosts that keep all signal handling.
function M.set_signals(on)
  catching_enabled = not not on
end

function M.signals_enabled() return catching_enabled end

-- Driving the loop ----------------------------------------------------------

-- step([seconds]): run what is ready, blocking at most `seconds` (nil: until something happens).
-- defer(fn): run fn once before the loop next waits (or at the end of this step). Lets
-- writers coalesce what one step produces into one syscall.
local deferred, ndeferred = {}, 0

function M.defer(fn)
  ndeferred = ndeferred + 1
  deferred[ndeferred] = fn
end

local function run_deferred()
  local i = 1
  while i <= ndeferred do           -- a deferred function may defer more
    local fn = deferred[i]
    deferred[i] = nil
    fn()
    i = i + 1
  end
  ndeferred = 0
end

-- stepping(): is the loop running its callbacks (fd watches, timers, deferred functions) now?
-- Not while a coroutine it resumed runs: that is the script's own code. (An error out of a
-- callback leaves it set until the next step begins.)
local stepping = false
function M.stepping() return stepping end

-- The coroutines woken so far (the script's code), then the deferred functions (callbacks).
local function run_pending()
  stepping = false
  run_ready()
  stepping = true
  run_deferred()
  stepping = false
end

-- A callback that raises unwinds step(); the loop is then not stepping any more (a task
-- submitted after the caller caught the error is written at once, not deferred).
local not_stepping = setmetatable({}, { __close = function() stepping = false end })

-- The table epoll_wait fills with a step's ready descriptors, reused from step to step; a
-- step run from inside a callback (a nested one) takes a new one.
local spare_fds = {}
function M.step(timeout)
  local _ <close> = not_stepping
  run_pending()
  local deadline = next_deadline()
  local wait
  if nready > 0 or ndeferred > 0 then
    wait = 0
  else
    local limit = timeout and now() + timeout or math.huge
    if deadline < limit then limit = deadline end
    if limit == math.huge then wait = -1
    else
      wait = math.ceil((limit - now()) * 1000)
      if wait < 0 then wait = 0 end
    end
  end
  local fds = spare_fds or {}
  spare_fds = nil
  local n = assert(core.epoll_wait(ep, wait, fds))
  stepping = true
  for i = 1, n do
    local fd = fds[i]
    if fd == tfd then        -- expired: clear its count; the re-arm below sets the next one
      core.timerfd_set(tfd, nil)
      armed = math.huge
    else
      local fn = watchers[fd]
      if fn then fn(fd) end
    end
  end
  spare_fds = fds
  run_timers()
  run_pending()
  arm(next_deadline())
end

-- run_until(done, [deadline]): step until done() is true or the monotonic deadline passes.
function M.run_until(done, deadline)
  while not done() do
    local left
    if deadline then
      left = deadline - now()
      if left <= 0 then return false end
    end
    M.step(left)
  end
  return true
end

-- wait_for(done, deadline, lists): block until done() or the deadline. A coroutine of ours
-- yields, registering itself in each table of `lists` (whoever makes done() true wakes
-- everyone registered there); plain code runs the loop. Returns done().
function M.wait_for(done, deadline, lists)
  if done() then return true end
  local co = M.current()
  if not co then return M.run_until(done, deadline) end
  for _, l in ipairs(lists) do l[#l + 1] = co end
  local t = deadline and M.timer(deadline - now(), function() M.wake(co) end)
  while not done() and not (deadline and now() >= deadline) do coroutine.yield() end
  M.cancel_timer(t)
  for _, l in ipairs(lists) do
    for i = #l, 1, -1 do if l[i] == co then table.remove(l, i) end end
  end
  return done()
end

-- wake_all(list): wake every coroutine registered in list and empty it.
function M.wake_all(list)
  for i = 1, #list do M.wake(list[i]); list[i] = nil end
end

function M.pollfd() return ep end

function M.timeout()
  if nready > 0 or ndeferred > 0 then return 0 end
  local d = next_deadline()
  if d == math.huge then return nil end
  local left = d - now()
  return left > 0 and left or 0
end

return M
