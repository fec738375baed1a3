-- make fuzz: mutational fuzzing of the wire decoder and the journal reader for a given number
-- of seconds (arg[1], default 60). Any raise from decode, or from joblog.read on a mutated
-- journal, is a finding: the input is written to build/fuzz-crash-N and the run fails.
package.path = "spec/?.lua;" .. package.path
local core = require "corral.core"
local joblog = require "corral.joblog"
local gen = require "fuzzgen"

local seconds = tonumber(arg[1]) or 60
local deadline = core.now() + seconds
local r = math.random
math.randomseed(core.getpid() + math.floor(core.time()))

local JOURNAL = '{"id":1,"name":"a","status":"ok","values":[1,null,"x"]}\n'
  .. '{"id":2,"name":"b","status":"failed","code":3,"stderr":"boom"}\n'
local path = os.tmpname()
local n, crashes = 0, 0

local function finding(kind, input, err)
  crashes = crashes + 1
  local f = assert(io.open(("build/fuzz-crash-%d"):format(crashes), "wb"))
  f:write(input)
  f:close()
  io.stderr:write(("fuzz: %s raised on build/fuzz-crash-%d: %s\n"):format(kind, crashes, tostring(err)))
end

while core.now() < deadline do
  for _ = 1, 1000 do
    n = n + 1
    local frame = n % 2 == 0 and gen.random_frame(r) or gen.mutate(r, gen.SEEDS[r(#gen.SEEDS)])
    local ok, err = pcall(core.decode, frame, 1, { max_size = 1 << 20 })
    if not ok then finding("decode", frame, err) end
  end
  local text = gen.mutate(r, "\0\0\0\0" .. JOURNAL):sub(5)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  local ok, err = pcall(joblog.read, path)
  if not ok then finding("joblog.read", text, err) end
end
os.remove(path)
print(("fuzz: %d frames and %d journals in %gs, %d findings"):format(n, n // 1000, seconds, crashes))
os.exit(crashes == 0 and 0 or 1)
