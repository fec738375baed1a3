-- Test helpers: unique markers, counting live processes by marker, running job scripts in
-- their own process group (as a terminal runs a foreground job) and talking to them.
local core = require "corral.core"

local H = {}

H.root = (function()
  local here = debug.getinfo(1, "S").source:match("^@(.*)/spec/helpers.lua$")
  return here or "."
end)()

math.randomseed(core.getpid() * 7919 + math.floor(core.time() * 1000) % 1000003)

-- sigblk() -> this process's blocked signals, as a bit mask (bit n - 1 for signal n).
function H.sigblk()
  for line in io.lines("/proc/self/status") do
    local hex = line:match("^SigBlk:%s*(%x+)")
    if hex then return tonumber(hex, 16) end
  end
end

-- nfds() -> how many descriptors this process has open (the listing's own pipe included,
-- the same in every count).
function H.nfds()
  local ls = io.popen("ls /proc/" .. core.getpid() .. "/fd")
  local n = 0
  for _ in ls:lines() do n = n + 1 end
  ls:close()
  return n
end

-- A sleep duration unique to this test, usable as a marker in command lines: "300.0123456".
function H.sleep_marker()
  return ("300.%07d"):format(math.random(0, 9999999))
end

-- pids of processes whose command line (its arguments, NUL-separated) matches(cmdline).
local function pids_where(matches)
  local out = {}
  local p = io.popen("ls /proc")
  for name in p:lines() do
    local f = name:match("^%d+$") and io.open("/proc/" .. name .. "/cmdline", "rb")
    if f then
      if matches(f:read("a") or "") then out[#out + 1] = tonumber(name) end
      f:close()
    end
  end
  p:close()
  return out
end

-- pids of live processes whose command line has `marker` as a whole argument.
function H.pids(marker)
  return pids_where(function(cmd)
    for a in cmd:gmatch("[^%z]+") do if a == marker then return true end end
    return false
  end)
end

function H.count(marker) return #H.pids(marker) end

-- pids of processes with `marker` anywhere in their command line (a shell's -c string).
function H.pids_containing(marker)
  return pids_where(function(cmd) return cmd:find(marker, 1, true) ~= nil end)
end

-- A process that exists and is not a zombie.
function H.alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local st = f:read("a")
  f:close()
  return st:match("^%d+ %b() (%a)") ~= "Z"
end

-- The lines of a file ({} when it does not exist).
function H.lines(path)
  local t = {}
  local f = io.open(path)
  if not f then return t end
  for l in f:lines() do t[#t + 1] = l end
  f:close()
  return t
end

-- spin(pool) -> future of a lua task that loops forever, returned once it is running in its
-- worker (it creates a file first). A worker killed before it read a task runs the task
-- again elsewhere, so "kill the worker running it" must wait for this.
function H.spin(pool)
  local flag = os.tmpname()
  os.remove(flag)
  local f = pool:submit(function(p) io.open(p, "w"):close(); while true do end end, flag)
  assert(H.poll(function()
    local h = io.open(flag)
    if h then h:close() end
    return h ~= nil
  end), "the spinning task did not start")
  os.remove(flag)
  return f
end

-- A fresh path under /tmp that does not exist.
function H.tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

-- slurp(path) -> the file's bytes | nil; spit(path, bytes): write it whole.
function H.slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function H.spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- Why the spec/slurm files cannot run (nil when a cluster is there): run-specs.sh's reason,
-- or no SLURM_CONF.
function H.slurm_skip_reason()
  return os.getenv("CORRAL_SLURM_SKIP")
    or (not os.getenv("SLURM_CONF") and "no Slurm cluster (SLURM_CONF unset): run through scripts/run-specs.sh")
end

-- GNU parallel, which spec/cli/parallel*_spec.lua compare corral parallel against: the command
-- (CORRAL_GNU_PARALLEL, default "parallel"), and why those specs cannot run (nil when it is
-- GNU parallel). `make deps-all` installs it; .ci/run requires it (CORRAL_REQUIRE=…,parallel).
H.GNU_PARALLEL = os.getenv("CORRAL_GNU_PARALLEL") or "parallel"
local gnu_parallel_reason
function H.gnu_parallel_skip_reason()
  if gnu_parallel_reason == nil then
    local p = io.popen(H.GNU_PARALLEL .. " --version </dev/null 2>/dev/null")
    local first = p:read("l") or ""
    p:close()
    if first:match("^GNU parallel") then gnu_parallel_reason = false
    elseif first == "" then
      gnu_parallel_reason = ("GNU parallel is not installed (%s: not found; make deps-all installs Debian's parallel)")
        :format(H.GNU_PARALLEL)
    else
      gnu_parallel_reason = ("GNU parallel is not installed (%s is not GNU's: %s; make deps-all installs Debian's parallel)")
        :format(H.GNU_PARALLEL, first)
    end
  end
  return gnu_parallel_reason or nil
end

-- Jobs the cluster still knows as pending or running, by id.
function H.live_jobs()
  local t = {}
  local p = io.popen("squeue -h -o %i 2>/dev/null")
  for l in p:lines() do t[tonumber(l)] = true end
  p:close()
  return t
end

-- A new empty directory under /tmp.
function H.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  return p
end

-- Kill what a test started (found by its unique marker), by pid.
function H.cleanup(marker)
  for _, pid in ipairs(H.pids(marker)) do core.kill(pid, "KILL") end
end

-- Wait (driving corral's loop) until cond() is true or `seconds` pass. Returns cond().
function H.poll(cond, seconds)
  local loop = require "corral.loop"
  local deadline = core.now() + (seconds or 10)
  while not cond() do
    if core.now() > deadline then return cond() end
    loop.step(0.01)
  end
  return true
end

-- A child process (a job script run by `corral run`, or any argv) in its own process group,
-- with stdout on a pipe we read line by line.
local Child = {}
Child.__index = Child

function H.start(argv, opts)
  opts = opts or {}
  local pid, pidfd, _, out = assert(core.spawn {
    argv = argv, stdout = "pipe", stderr = opts.stderr or "inherit", stdin = "null", env = opts.env,
  })
  local ep = assert(core.epoll_create())
  assert(core.epoll_add(ep, out))
  assert(core.epoll_add(ep, pidfd))
  return setmetatable({ pid = pid, pgid = pid, pidfd = pidfd, out = out, ep = ep, buf = "",
                        lines = {} }, Child)
end

function H.run_script(script, ...)
  return H.start({ H.root .. "/scripts/corral", "run", H.root .. "/spec/scripts/" .. script, ... })
end

-- Read output until a line equal to `line` has been seen `n` times (default 1); false on timeout.
function Child:expect(line, n, seconds)
  n = n or 1
  local deadline = core.now() + (seconds or 10)
  local function seen()
    local c = 0
    for _, l in ipairs(self.lines) do if l == line then c = c + 1 end end
    return c >= n
  end
  while not seen() do
    if core.now() > deadline or not self.out then return false end
    core.epoll_wait(self.ep, 50)
    self:_read()
  end
  return true
end

function Child:_read()
  while self.out do
    local d = core.read(self.out)
    if d == false then return end
    if not d or d == "" then
      core.epoll_del(self.ep, self.out); core.close(self.out); self.out = nil
      return
    end
    self.buf = self.buf .. d
    for l in self.buf:gmatch("([^\n]*)\n") do self.lines[#self.lines + 1] = l end
    self.buf = self.buf:match("[^\n]*$")
  end
end

function Child:signal_group(sig) return core.killpg(self.pgid, sig) end

-- Wait until no signal is pending for the child (it has read them: corral catches signals
-- through a signalfd). Two signals sent without this in between may merge into one.
function Child:signals_read(seconds)
  local deadline = core.now() + (seconds or 5)
  while core.now() < deadline do
    local f = io.open("/proc/" .. self.pid .. "/status")
    if not f then return false end
    local st = f:read("a")
    f:close()
    local shd, sig = st:match("ShdPnd:%s*(%x+)"), st:match("SigPnd:%s*(%x+)")
    if tonumber(shd, 16) == 0 and tonumber(sig, 16) == 0 then return true end
    core.epoll_wait(self.ep, 5)
    self:_read()
  end
  return false
end

-- Wait for the exit (reading all output). Returns code, signal, seconds waited; nil on timeout.
function Child:wait(seconds)
  local t0 = core.now()
  local deadline = t0 + (seconds or 20)
  while true do
    self:_read()
    local code, sig = core.reap(self.pidfd)
    if code ~= false or sig ~= nil then
      while self.out do core.epoll_wait(self.ep, 100); self:_read() end
      core.close(self.pidfd); core.close(self.ep)
      return code or nil, sig and core.signame(sig) or nil, core.now() - t0
    end
    if core.now() > deadline then
      core.kill(self.pid, "KILL")
      return nil
    end
    core.epoll_wait(self.ep, 50)
  end
end

-- Lines of the form "REC key=value key=value ..." printed by the job scripts, by id.
function Child:records()
  local recs = {}
  for _, l in ipairs(self.lines) do
    if l:match("^REC ") then
      local r = {}
      for k, v in l:gmatch("(%w+)=(%S*)") do r[k] = v end
      recs[tonumber(r.id)] = r
    end
  end
  return recs
end

-- roundtrip(pool): a lua pool sends every kind of value to a task and back exactly
-- (integers stay integers, floats bit-exact, nils counted, binary strings, sparse tables).
function H.roundtrip(pool)
  local assert = require "luassert"        -- busted's, which spec files see as `assert`
  local r = pool:submit(function(...) return ... end,
    1, 3, math.maxinteger, 0.1, -0.0, 1 / 0, nil, "bin\0\255\n\r", { a = { 1, nil, 3 }, [2.5] = true },
    nil):wait()
  assert.are.equal("ok", r.status, r.error)
  local v = r.values
  assert.are.equal(10, v.n)
  assert.are.equal("integer", math.type(v[2]))
  assert.are.equal(math.maxinteger, v[3])
  assert.are.equal(string.pack("d", 0.1), string.pack("d", v[4]))
  assert.are.equal(string.pack("d", -0.0), string.pack("d", v[5]))
  assert.are.equal(1 / 0, v[6])
  assert.is_nil(v[7])
  assert.are.equal("bin\0\255\n\r", v[8])
  assert.are.same({ a = { 1, nil, 3 }, [2.5] = true }, v[9])
end

return H
