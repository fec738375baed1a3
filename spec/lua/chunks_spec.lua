-- A lua pool's map, imap and imap_unordered send items in chunks by default (as Python's map
-- does), and every item still has its own exact outcome: its value or its error, its start and
-- duration, its journal line; a worker lost mid-chunk loses only the items it had not
-- reported, a cancel skips the items not started, and nothing waits on an endless item.
local corral = require "corral"
local core = require "corral.core"
local joblog = require "corral.joblog"
local H = require "helpers"

local function range(n)
  local t = {}
  for i = 1, n do t[i] = i end
  return t
end

-- Rows of a journal by item id.
local function by_id(path)
  local rows, n = {}, 0
  for _, r in ipairs(joblog.read(path)) do
    assert(rows[r.id] == nil, "two records for id " .. tostring(r.id))
    rows[r.id] = r
    n = n + 1
  end
  return rows, n
end

describe("a chunked map", function()
  it("returns every item's value in order and journals each item once, with its own times", function()
    local log = H.tmpname()
    local pool <close> = corral.pool { executor = "lua", size = 2, joblog = log }
    local n = 20000
    local t0 = core.time()
    local out = pool:map(function(x) return x * 2, "second" end, range(n))
    local t1 = core.time()
    assert.are.equal(n, #out)
    for i = 1, n do if out[i] ~= 2 * i then error(("item %d: %s"):format(i, tostring(out[i]))) end end
    local rows, count = by_id(log)
    assert.are.equal(n, count)
    local ids = {}
    for _, r in pairs(rows) do ids[#ids + 1] = r.id end
    table.sort(ids)
    assert.are.equal(n, ids[n] - ids[1] + 1)       -- one id per item, no gaps
    local chunked = 0
    for id, r in pairs(rows) do
      local i = id - ids[1] + 1
      assert.are.equal("ok", r.status)
      assert.are.same({ 2 * i, "second" }, r.values)
      assert(r.start >= t0 - 0.01 and r.start + r.duration <= t1 + 0.01, "item times outside the map")
      assert(r.duration >= 0)
      if r.pid then chunked = chunked + 1 end
    end
    assert.are.equal(n, chunked)
    local s = pool:stats()
    assert.are.equal(n, s.ok)
    assert.are.equal(n, s.submitted)
    os.remove(log)
  end)

  it("times each item of a chunk: its own start and duration, from the worker's clock", function()
    local log = H.tmpname()
    local pool <close> = corral.pool { executor = "lua", size = 2, joblog = log }
    pool:map(function(x)
      if x % 2 == 0 then                             -- even items sleep 4 ms
        local c = require "corral.core"
        local ep = c.epoll_create()
        local t = c.now() + 0.004
        while c.now() < t do c.epoll_wait(ep, 1) end
        c.close(ep)
      end
      return x
    end, range(40), { chunksize = 10 })
    local rows = by_id(log)
    local first
    for id in pairs(rows) do first = math.min(first or id, id) end
    for id, r in pairs(rows) do
      local x = id - first + 1
      -- a lower bound only (a loaded machine stretches any item): an even item's own 4 ms
      if x % 2 == 0 then
        assert(r.duration >= 0.0039, ("item %d: duration %.4f"):format(x, r.duration))
      end
      assert(r.duration < 1, ("item %d: duration %.4f"):format(x, r.duration))
      local nxt = rows[id + 1]
      if nxt and x % 10 ~= 0 then                    -- the next item of the same chunk
        assert(math.abs(nxt.start - (r.start + r.duration)) < 0.001,
          ("item %d starts %.4f s after item %d ends"):format(x + 1, nxt.start - r.start - r.duration, x))
      end
    end
    os.remove(log)
  end)

  it("gives the same values for every chunksize, and for an empty list", function()
    local pool <close> = corral.pool { executor = "lua", size = 2 }
    local fn = function(x) return x end
    assert.are.same(range(64), pool:map(fn, range(64)))
    assert.are.same(range(64), pool:map(fn, range(64), { chunksize = 1 }))
    assert.are.same(range(64), pool:map(fn, range(64), { chunksize = 7 }))
    assert.are.same(range(64), pool:map(fn, range(64), { chunksize = "auto" }))
    assert.are.same(range(64), pool:map(fn, range(64), { chunksize = 1000 }))
    assert.are.same({}, pool:map(fn, {}))
  end)

  it("fails on the first failing item, naming its error, and the items after it never start", function()
    local log, ran = H.tmpname(), H.tmpname()
    local pool <close> = corral.pool { executor = "lua", size = 2, joblog = log }
    local t0 = core.now()
    local ok, err = pcall(pool.map, pool, function(a)
      local x, path = a[1], a[2]
      local h = io.open(path, "a"); h:write(x, "\n"); h:close()
      if x == 5 then error("item five is bad") end
      if x > 5 then                                  -- later items take 10 ms: a cancel finds
        local c = require "corral.core"              -- them between two items
        local t = c.now() + 0.01
        while c.now() < t do end
      end
      return x
    end, (function() local t = {} for i = 1, 400 do t[i] = { i, ran } end return t end)(),
      { chunksize = 100 })
    assert.is_false(ok)
    assert.matches("item five is bad", tostring(err))
    assert(core.now() - t0 < 5, "map took too long to fail")
    local rows, count = by_id(log)
    assert.are.equal(400, count)
    local started = {}
    for _, l in ipairs(H.lines(ran)) do started[tonumber(l)] = true end
    local first
    for id in pairs(rows) do first = math.min(first or id, id) end
    local nfailed, ncancelled = 0, 0
    for id, r in pairs(rows) do
      local x = id - first + 1
      if r.status == "failed" then
        nfailed = nfailed + 1
        assert.are.equal(5, x)
        assert.matches("item five is bad", r.error)
      elseif r.status == "cancelled" then
        ncancelled = ncancelled + 1
        assert(not started[x], ("item %d is 'cancelled' but it ran"):format(x))
      else
        assert.are.equal("ok", r.status)
        assert(started[x], ("item %d is 'ok' but never ran"):format(x))
      end
    end
    assert.are.equal(1, nfailed)
    assert(ncancelled > 200, "most items should never have started: " .. ncancelled)
    os.remove(log); os.remove(ran)
  end)

  it("ends a chunk whose item never ends when the map fails elsewhere (nothing waits on it)", function()
    local pool <close> = corral.pool { executor = "lua", size = 2 }
    local t0 = core.now()
    local ok, err = pcall(pool.map, pool, function(x)
      if x == 1 then while true do end end            -- endless, in the first chunk
      local t = os.clock() + 0.05
      while os.clock() < t do end
      if x == 3 then error("three fails") end
      return x
    end, range(4), { chunksize = 2 })
    assert.is_false(ok)
    assert.matches("three fails", tostring(err))
    assert(core.now() - t0 < 3, ("map took %.1f s to fail"):format(core.now() - t0))
  end)

  it("is interrupted by Ctrl-C like any map: corral.Interrupted, every item a record", function()
    local log = H.tmpname()
    local pool = corral.pool { executor = "lua", size = 2, joblog = log }   -- closing it would
    local loop = require "corral.loop"                                    -- raise again: terminate
    loop.timer(0.3, function() core.kill(core.getpid(), "INT") end)
    local t0 = core.now()
    local ok, err = pcall(pool.map, pool, function(x)
      local c = require "corral.core"
      local t = c.now() + 0.01
      while c.now() < t do end
      return x
    end, range(2000))
    assert.is_false(ok)
    assert.matches("interrupted", tostring(err))
    assert(core.now() - t0 < 5)
    local rows, count = by_id(log)
    assert.are.equal(2000, count)
    local n = { ok = 0, cancelled = 0 }
    for _, r in pairs(rows) do
      n[r.status] = (n[r.status] or 0) + 1
      if r.status == "cancelled" then assert.are.equal("interrupted", r.error) end
    end
    assert.are.equal(2000, n.ok + n.cancelled)
    assert(n.ok > 0 and n.cancelled > 1000, ("ok %d, cancelled %d"):format(n.ok, n.cancelled))
    pool:terminate()
    os.remove(log)
  end)

  it("gives imap in order and imap_unordered each index once, with the right values", function()
    local pool <close> = corral.pool { executor = "lua", size = 2 }
    local n, seen, last = 5000, {}, 0
    for i, v in pool:imap(function(x) return -x end, range(n)) do
      assert.are.equal(last + 1, i)
      assert.are.equal(-i, v)
      last = i
    end
    assert.are.equal(n, last)
    local count = 0
    for i, v in pool:imap_unordered(function(x) return -x end, range(n)) do
      assert(not seen[i], "index twice: " .. i)
      seen[i] = true
      assert.are.equal(-i, v)
      count = count + 1
    end
    assert.are.equal(n, count)
  end)

  it("keeps a long item from holding back the rest: auto chunks hold milliseconds of work", function()
    local pool <close> = corral.pool { executor = "lua", size = 2 }
    -- 400 items of 1 ms and one of 1 s in the middle: Python's size would be 50 items a chunk,
    -- and the 49 after the long one would wait for it; auto chunks hold about 2 ms of items.
    local t0 = core.now()
    local ends = {}
    for i in pool:imap_unordered(function(x)
      local t = os.clock() + (x == 200 and 1 or 0.001)
      while os.clock() < t do end
      return x
    end, range(400)) do
      ends[i] = core.now() - t0
    end
    local long_end, late = ends[200], 0
    for i = 201, 400 do if ends[i] >= long_end - 0.01 then late = late + 1 end end
    assert(late < 12, late .. " items waited behind the long one")
  end)
end)

describe("chunksize", function()
  it("refuses bad values and options, naming them", function()
    local pool <close> = corral.pool { executor = "lua", size = 2 }
    local f = function(x) return x end
    for _, bad in ipairs { 0, -1, 1.5, "big" } do
      local ok, err = pcall(pool.map, pool, f, range(10), { chunksize = bad })
      assert.is_false(ok)
      assert.matches("bad option 'chunksize' to 'map'", err, 1, true)
    end
    local ok, err = pcall(pool.imap, pool, f, range(10), { chunk = 2 })
    assert.is_false(ok)
    assert.matches("bad option 'chunk' to 'imap'", err, 1, true)
    local timed <close> = corral.pool { executor = "lua", size = 2, timeout = 5 }
    ok, err = pcall(timed.map, timed, f, range(10), { chunksize = 2 })
    assert.is_false(ok)
    assert.matches("timeout", err)
    assert.are.same(range(100), timed:map(f, range(100)))     -- "auto": one task per item
    local shell <close> = corral.pool { executor = "shell", size = 2 }
    ok, err = pcall(shell.map, shell, { "true" }, { chunksize = 2 })
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'map'", err, 1, true)
  end)

  it("makes an item that cannot be sent an 'error' record and fails the map on it", function()
    local log = H.tmpname()
    local pool <close> = corral.pool { executor = "lua", size = 2, joblog = log }
    local list = range(100)
    list[50] = io.stdout
    local ok, err = pcall(pool.map, pool, function(x) return x end, list)
    assert.is_false(ok)
    assert.matches("cannot send item 50", tostring(err))
    local rows, count = by_id(log)
    assert.are.equal(100, count)
    local statuses = {}
    for _, r in pairs(rows) do statuses[r.status] = (statuses[r.status] or 0) + 1 end
    assert.are.equal(1, statuses.error)
    os.remove(log)
  end)
end)

-- The rows of docs/semantics.md hold for each start method.
for _, start in ipairs { "spawn", "fork", "forkserver" } do
  describe("a chunked map with start = " .. start, function()
    it("gives every value", function()
      local pool <close> = corral.pool { executor = "lua", size = 2, start = start }
      local out = pool:map(function(x) return x + 1 end, range(20000))
      assert.are.equal(20000, #out)
      for i = 1, 20000 do if out[i] ~= i + 1 then error("item " .. i) end end
    end)

    it("loses only the items its killed worker had not reported; reported ones keep their values", function()
      local log = H.tmpname()
      local pool <close> = corral.pool { executor = "lua", size = 1, joblog = log, start = start }
      local got = {}
      local ok, err = pcall(function()
        for i, v in pool:imap(function(x)
          local t = os.clock() + 0.003                  -- each item 3 ms: each is reported alone
          while os.clock() < t do end
          if x == 5 then os.execute("kill -KILL $PPID") end   -- sh's parent: this worker
          return x * 10
        end, range(10), { chunksize = 10 }) do
          got[i] = v
        end
      end)
      assert.is_false(ok)
      assert.matches("killed by KILL", tostring(err))
      assert.are.same({ 10, 20, 30, 40 }, got)
      local rows, count = by_id(log)
      assert.are.equal(10, count)
      local first
      for id in pairs(rows) do first = math.min(first or id, id) end
      for id, r in pairs(rows) do
        local x = id - first + 1
        if x < 5 then
          assert.are.equal("ok", r.status)
          assert.are.same({ x * 10 }, r.values)
        else
          assert.are.equal("lost", r.status)
          assert.are.equal("killed by KILL", r.error)
        end
      end
      os.remove(log)
    end)
  end)
end
