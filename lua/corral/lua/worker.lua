-- corral.lua.worker: the loop inside a lua worker process. Reads frames from fd `rfd`, runs tasks
-- one at a time in arrival order, writes frames to `wfd`. Not used by the parent process (see
-- corral.lua.workers).
--
-- In:  a task { function | "module.fn", args..., n = 1 + #args } (table.pack(fn, ...);
--      numbered 1, 2, ... by arrival), { c = seq } to cancel task seq if it has not started,
--      { exit = true }.
-- Out: per task, in order: START before it runs — the float core.time() when it began, so the
--      record's start is the worker's own clock reading —, then its reply: the values
--      themselves { n = ..., ... } or { e = error, tb = traceback } (no n), both with
--      t = core.time() when it ended; or SKIP (the
--      integer 2) instead of both when it was cancelled before it started. Bare numbers and
--      tables: the parent decodes a reply into the values it keeps, nothing more. The parent
--      may send many tasks ahead (pipelining): the worker drains its input before starting
--      each task, so a cancel that arrived in time is honoured, and writes the previous reply,
--      skips and the next START in one write.
local core = require "corral.core"

local M = {}

local encode, time = core.encode, core.time

-- Replies carry no bytecode: the parent never loads code from a worker.
local NO_FUNCTIONS = { functions = false }

-- A plain write: if the parent has closed its end, SIGPIPE ends this worker, as it would any
-- pipeline member whose reader is gone (and saves the signal-mask calls of a guarded write).
local function write_all(fd, s)
  local off = 0
  while off < #s do
    local n, err = core.write(fd, s, off, true)
    if not n then error(err, 0) end
    off = off + n
  end
end

-- resolve("module.fn") -> function | nil, why. A module that is not found is said in one line
-- (require's list of every path it tried is the worker's business, not the task's).
local function resolve(name)
  local mod, fn = name:match("^(.*)%.([%w_]+)$")
  local ok, m = pcall(require, mod)
  if not ok then
    m = tostring(m)
    if m:match("^module '[^']*' not found:") then m = m:match("^[^\n]*"):gsub(":$", "") end
    return nil, ("cannot load module '%s' for '%s': %s"):format(mod, name, m)
  end
  local f = type(m) == "table" and m[fn]
  if type(f) ~= "function" then return nil, ("'%s' is not a function"):format(name) end
  return f
end

-- A traceback of the task's own frames: from the error up to where the worker called it.
local function traceback()
  local tb = debug.traceback(nil, 3)
  local a = tb:find("\n[^\n]*%[C%]: in function 'xpcall'")
  local b = tb:find("\n[^\n]*corral/lua/worker%.lua:")
  local cut = a and b and math.min(a, b) or a or b
  if cut then tb = tb:sub(1, cut - 1) end
  return (tb:gsub("\n\t%(%.%.%.tail calls%.%.%.%)$", ""))
end

-- run(task) -> reply table
local function run(task)
  local fn = task[1]
  if type(fn) == "string" then
    local f, why = resolve(fn)
    if not f then return { e = why, t = time() } end
    fn = f
  end
  local tb
  local handler = function(e)
    tb = traceback()
    return e
  end
  local res = table.pack(xpcall(fn, handler, table.unpack(task, 2, task.n)))
  local ended = time()
  if res[1] then
    return table.move(res, 2, res.n, 1, { n = res.n - 1, t = ended })
  end
  return { e = res[2], tb = tb, t = ended }
end

-- One encode on the normal path; a value that cannot cross becomes a failure naming its path.
local function reply_frame(r)
  local ok, frame = pcall(core.encode, r, r.n and "values" or "reply", NO_FUNCTIONS)
  if ok then return frame end
  if r.n then
    return core.encode { e = "cannot return the task's values: " .. tostring(frame), t = r.t }
  end
  return core.encode { e = tostring(r.e), tb = r.tb, t = r.t }
end

local SKIP = core.encode(2)

-- A chunk { fn, m = items, n = #items }: fn(item) for each item in order, reported in batches
-- { k = count, v = first values, x = { [j] = all values when not exactly one }, e = { [j] =
-- error }, tb = { [j] = traceback }, t = clock readings, g = items per reading, z = true on
-- the last, s = when the first item began (first batch only: writing START took time that
-- is no item's) }. The clock is read after every item; an item that took SHORT or more gets a
-- reading of its own, and a run of shorter ones shares one (up to GROUP_MAX items: each is
-- given the run's mean, within SHORT of its own time), so a million no-op items do not cost a
-- million numbers on the wire. A batch goes out as soon as an item fails and otherwise at most
-- BATCH_EVERY after the previous one; the worker then reads its input, and a cancel of this
-- chunk ends it there (the items not yet run never start: the parent knows them by count).
local SHORT, GROUP_MAX = 20e-6, 1024
local BATCH_EVERY = 0.001

-- run_chunk(task, write, cancelled) -> the last batch's frame (written with the next START).
-- task.all: keep every value of each item (a journal records them), not just the first.
local function run_chunk(task, write, cancelled)
  local fn, items, all = task[1], task.m, task.all
  local n = task.n or #items
  local v, x, e, tb, t, g = {}, nil, nil, nil, {}, nil
  local i, k, ng = 0, 0, 0
  local failed, stop = false, false

  local began                        -- the first batch says when the first item began
  local function frame(last)
    local r = { k = k, v = v, x = x, e = e, tb = tb, t = t, g = g, z = last or nil, s = began }
    began = nil
    local ok, s = pcall(encode, r, "batch", NO_FUNCTIONS)
    if ok then return s end
    e, tb = e or {}, tb or {}          -- find what cannot cross; it becomes that item's failure
    for j = 1, k do
      local good, why = pcall(encode, x and x[j] or { v[j], n = 1 }, "values", NO_FUNCTIONS)
      if not good then
        e[j] = "cannot return the task's values: " .. tostring(why)
        v[j] = nil
        if x then x[j] = nil end
      elseif e[j] ~= nil and not pcall(encode, e[j], "e", NO_FUNCTIONS) then
        e[j] = tostring(e[j])
      end
    end
    r.v, r.x, r.e, r.tb = v, x, e, tb
    return encode(r, "batch", NO_FUNCTIONS)
  end

  local last = time()                -- when the previous item ended (at first: now, after START)
  local flushed = last
  began = last
  local short = 0                     -- items since the last group, each shorter than SHORT
  local function close(at, count)     -- a group of `count` items ends at `at`
    ng = ng + 1
    t[ng] = at
    if count ~= 1 or g then
      if not g then g = {}; for q = 1, ng - 1 do g[q] = 1 end end
      g[ng] = count
    end
  end
  -- an item ended at `now`: time it, send a batch when one is due and look for a cancel
  -- then. False: stop here.
  local function tick(now)
    if now - last >= SHORT then
      if short > 0 then close(last, short); short = 0 end
      close(now, 1)
    else
      short = short + 1
      if short >= GROUP_MAX then close(now, short); short = 0 end
    end
    last = now
    if (failed or now - flushed >= BATCH_EVERY) and i < n then
      if short > 0 then close(now, short); short = 0 end
      write(frame(false))
      v, x, e, tb, t, g, k, ng, failed = {}, nil, nil, nil, {}, nil, 0, 0, false
      flushed = now
      if cancelled() then stop = true; return false end
    end
    return true
  end
  local function keep(...)
    local c = select("#", ...)
    v[k] = (...)
    if c ~= 1 then x = x or {}; x[k] = table.pack(...) end
  end
  -- one xpcall for a run of items, not one per item; a failing item ends the run
  local function run_items()
    while i < n do
      i, k = i + 1, k + 1
      if all then keep(fn(items[i])) else v[k] = fn(items[i]) end
      local now = time()
      if now - last < SHORT and short < GROUP_MAX - 1 and now - flushed < BATCH_EVERY then
        short, last = short + 1, now         -- the common case of short items, inline
      elseif not tick(now) then
        return
      end
    end
  end
  local trace
  local function handler(err) trace = traceback(); return err end

  local resolved, why = true, nil
  if type(fn) == "string" then
    resolved, why = resolve(fn)
    fn = resolved
  end
  while i < n and not stop do
    local ok, err
    if resolved then ok, err = xpcall(run_items, handler)
    else i, k = i + 1, k + 1; ok, err, trace = false, why, nil end
    if not ok then
      e, tb = e or {}, tb or {}
      e[k], tb[k] = err == nil and "error object is nil" or err, trace
      failed = true
      tick(time())
    end
  end
  if short > 0 then close(last, short) end
  return frame(true)
end

-- main(rfd, wfd, init, exit): serve until told to exit or the parent's end closes.
function M.main(rfd, wfd, init, exit)
  exit = exit or os.exit
  -- lua.c (spawned workers) turns SIGINT into a Lua error; a worker dies of it, like any
  -- process, whatever its start method. Spawned workers start with it blocked till here.
  core.sigdefault { "INT" }
  core.set_blocking(rfd, false)
  if init then
    local f, err = resolve(init)
    local ok = false
    if f then ok, err = pcall(f) end
    if not ok then
      -- the parent gives it to the tasks this worker was to run (they end "error")
      pcall(write_all, wfd, encode { i = ("init '%s' failed: %s"):format(init, tostring(err)) })
      exit(78)
    end
  end
  local ep = core.epoll_create()
  core.epoll_add(ep, rfd, "r")
  local buf, pos = "", 1
  local inbox, ihead, itail = {}, 1, 0     -- decoded frames not yet acted on
  local nseq, cancelled = 0, {}
  local eof = false
  local out = nil                          -- frames to write before blocking or running

  -- Decode every complete frame in buf; cancels are noted at once, the rest queued in order.
  local function decode_all()
    while true do
      local msg, nextpos = core.decode(buf, pos, { functions = true })
      if msg == false then break end
      if msg == nil then
        io.stderr:write("corral worker: protocol error: ", tostring(nextpos), "\n")
        exit(70)
      end
      pos = nextpos
      if msg.c then
        cancelled[msg.c] = true
      else
        if not msg.exit then
          nseq = nseq + 1
          msg.seq = nseq
        end
        itail = itail + 1
        inbox[itail] = msg
      end
    end
    if pos > 1 then buf, pos = buf:sub(pos), 1 end
  end

  -- Read what is available (block = wait for at least one byte or EOF).
  local function pull(block)
    while not eof do
      local data = core.read(rfd, 1 << 16)
      if data == false then
        if not block then return end
        core.epoll_wait(ep, -1)
      elseif not data or data == "" then
        eof = true
      else
        buf = buf .. data
        block = false
      end
    end
  end

  while true do
    pull(false)
    decode_all()
    local msg = inbox[ihead]
    if msg then
      inbox[ihead], ihead = nil, ihead + 1
      if msg.exit then
        if out then write_all(wfd, out) end
        io.stdout:flush(); exit(0)
      elseif cancelled[msg.seq] then
        cancelled[msg.seq] = nil
        out = (out or "") .. SKIP
      else
        local start = encode(time())
        write_all(wfd, out and out .. start or start)
        if msg.m then
          local seq = msg.seq
          out = run_chunk(msg, function(s) write_all(wfd, s) end, function()
            pull(false); decode_all()
            return cancelled[seq]
          end)
          cancelled[seq] = nil
        else
          out = reply_frame(run(msg))
        end
      end
    else
      if out then write_all(wfd, out); out = nil end
      if eof then io.stdout:flush(); exit(0) end
      pull(true)
    end
  end
end

return M
