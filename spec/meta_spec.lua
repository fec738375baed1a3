-- The LuaCATS definitions (types/corral.lua) describe exactly the public API: every name the
-- module exports and every public method of a pool, future, workflow and loop is annotated,
-- and nothing annotated is missing from the code. Annotated option fields are accepted
-- options, real records and reports carry only annotated fields, and the version agrees
-- between corral._VERSION, the definitions, `corral --version` and the rockspec.
local corral = require "corral"
local H = require "helpers"

local META = H.root .. "/types/corral.lua"

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

-- What the definitions file annotates: module names, methods per class variable, fields per
-- class.
local function parse_meta(text)
  local m = { module = {}, methods = {}, fields = {}, class_of = {} }
  local class                            -- the class whose ---@field lines are being read
  for line in text:gmatch("[^\n]*") do
    local name = line:match("^function corral%.([%w_]+)%s*%(") or line:match("^corral%.([%w_]+)%s*=")
    if name then m.module[name] = true end
    local var, method = line:match("^function (%u[%w_]*):([%w_]+)%s*%(")
    if var then
      m.methods[var] = m.methods[var] or {}
      m.methods[var][method] = true
    end
    local c = line:match("^%-%-%-@class ([%w_.]+)")
    if c then class = c; m.fields[c] = m.fields[c] or {} end
    local field = line:match("^%-%-%-@field ([%w_]+)%??%s")
    if field and class then m.fields[class][field] = true end
    local lvar = line:match("^local (%u[%w_]*) = {}")
    if lvar and class then m.class_of[lvar] = class end
    if not (c or field or line:match("^%-%-%-")) then class = nil end
  end
  return m
end

local meta = parse_meta(read(META))

local function sorted(set)
  local t = {}
  for k in pairs(set) do t[#t + 1] = k end
  table.sort(t)
  return t
end

-- The public methods of an object: the functions its metatable's __index offers, except
-- _private ones and __metamethods.
local function methods_of(obj)
  local index = assert(getmetatable(obj)).__index
  assert.are.equal("table", type(index))
  local set = {}
  for k, v in pairs(index) do
    if type(k) == "string" and type(v) == "function" and not k:match("^_") then set[k] = true end
  end
  return set
end

local function keys(t)
  local set = {}
  for k in pairs(t) do set[k] = true end
  return set
end

-- a ⊆ b, listing what is missing.
local function assert_subset(a, b, what)
  local missing = {}
  for k in pairs(a) do if not b[k] then missing[#missing + 1] = k end end
  table.sort(missing)
  assert(#missing == 0, what .. ": " .. table.concat(missing, ", "))
end

describe("types/corral.lua", function()
  it("parses as Lua and returns the annotated module table", function()
    local chunk = assert(loadfile(META, "t", {}))
    local t = chunk()
    assert.are.equal("table", type(t))
    assert.is_function(t.pool)
  end)

  it("annotates exactly the names require 'corral' exports", function()
    assert.are.same(sorted(keys(corral)), sorted(meta.module))
  end)

  it("annotates exactly the methods of pools (shell, exec and lua pools share them)", function()
    local shell = corral.pool { size = 1 }
    local exec = corral.pool { executor = "exec", size = 1 }
    local lua = corral.pool { executor = "lua", size = 1 }
    assert.are.equal(getmetatable(shell), getmetatable(exec))
    assert.are.equal(getmetatable(shell), getmetatable(lua))
    assert.are.equal("corral.Pool", meta.class_of.Pool)
    assert.are.same(sorted(methods_of(shell)), sorted(meta.methods.Pool))
    shell:terminate(); exec:terminate(); lua:terminate()
  end)

  it("annotates exactly the methods of futures, workflows and the loop", function()
    local pool <close> = corral.pool { size = 1 }
    local f = pool:submit("true")
    assert.are.equal("corral.Future", meta.class_of.Future)
    assert.are.same(sorted(methods_of(f)), sorted(meta.methods.Future))
    assert.are.equal("corral.Workflow", meta.class_of.Workflow)
    assert.are.same(sorted(methods_of(corral.workflow())), sorted(meta.methods.Workflow))
    assert.are.equal("corral.Loop", meta.class_of.Loop)
    assert.are.same(sorted(methods_of(corral.loop())), sorted(meta.methods.Loop))
    -- and no methods on a class the code does not have
    assert.are.same({ "Future", "Loop", "Pool", "Workflow" }, sorted(meta.methods))
  end)

  it("annotates only options that pools, tasks, workflows and jobs accept", function()
    local bogus = coroutine.create(print)       -- a value every option refuses
    local function accepted(fn, name)
      local ok, err = pcall(fn, name)
      return ok or not tostring(err):find("unknown option", 1, true)
    end
    local pool <close> = corral.pool { size = 1 }
    local wf = corral.workflow()
    local kinds = {
      ["corral.PoolOptions"] = function(k) return corral.pool { [k] = bogus } end,
      ["corral.TaskOptions"] = function(k) return pool:submit("true", { [k] = bogus }) end,
      ["corral.WorkflowOptions"] = function(k) return corral.workflow { [k] = bogus } end,
      ["corral.JobSpec"] = function(k) return wf:job("j" .. k, { [k] = bogus }) end,
    }
    for class, fn in pairs(kinds) do
      assert(next(meta.fields[class]), class .. " has no fields")
      for k in pairs(meta.fields[class]) do
        assert(accepted(fn, k), ("%s.%s is annotated but not accepted"):format(class, k))
      end
      assert.is_false(accepted(fn, "no_such_option"))
    end
  end)

  it("annotates every field of real records, stats and workflow reports", function()
    local record_fields = meta.fields["corral.Record"]
    local sh <close> = corral.pool { size = 2 }
    local lua <close> = corral.pool { executor = "lua", size = 1, stdout = "null", stderr = "null" }
    local fs = {
      sh:submit("echo out; echo err >&2; exit 3"),
      sh:submit("kill -TERM $$"),
      sh:submit("true", { cwd = "/no/such/dir" }),
      lua:submit(function() return 1, nil, 3 end),
      lua:submit(function() error({ code = 1 }) end),
      lua:submit(function() error("plain") end),
    }
    local slow = sh:submit("sleep 30")
    slow:cancel()
    fs[#fs + 1] = slow
    for _, f in ipairs(fs) do
      local r = assert(f:wait(20))
      assert_subset(keys(r), record_fields, "record fields not annotated in corral.Record")
      if r.rusage then
        assert_subset(keys(r.rusage), meta.fields["corral.Rusage"], "rusage fields not annotated")
      end
    end
    sh:join(); lua:join()
    assert_subset(keys(sh:stats()), meta.fields["corral.PoolStats"], "stats fields not annotated")

    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local log = dir .. "/run.jsonl"
    local report
    for _ = 1, 2 do                          -- the second run resumes: records from the journal
      local wf = corral.workflow { joblog = log, resume = true }
      wf:job("a", { shell = "true" })
      wf:job("b", { cmd = { "false" }, after = { "a" } })
      wf:job("c", { shell = "true", after = { "b" } })
      report = wf:run()
    end
    assert.are.same(sorted(meta.fields["corral.WorkflowReport"]), sorted(keys(report)))
    assert.is_true(report.records.a.resumed)
    assert.are.equal("skipped", report.records.c.status)
    for _, r in pairs(report.records) do
      assert_subset(keys(r), record_fields, "workflow record fields not annotated")
    end
    local cjson = require "cjson"
    local nevents = 0
    for line in io.lines(log) do
      local row = cjson.decode(line)
      if row.event then
        nevents = nevents + 1
        assert_subset(keys(row), meta.fields["corral.JournalEvent"], "journal event fields not annotated")
      else
        assert_subset(keys(row), record_fields, "journal fields not annotated")
      end
    end
    assert.is_true(nevents > 0)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("the version", function()
  it("is the same in corral._VERSION, the definitions and `corral --version`", function()
    assert.matches("^corral %d+%.%d+%.%d+$", corral._VERSION)
    local meta_version = read(META):match('\ncorral%._VERSION = "([^"]*)"')
    assert.are.equal(corral._VERSION, meta_version)
    local p = assert(io.popen(H.root .. "/scripts/corral --version"))
    local out = p:read("a")
    assert.is_true(p:close())
    assert.are.equal(corral._VERSION .. "\n", out)
  end)

  it("of each rockspec is scm or corral._VERSION's, and matches its file name", function()
    local number = corral._VERSION:match("^corral (.*)$")
    local p = assert(io.popen("ls " .. H.root .. "/*.rockspec"))
    local n = 0
    for path in p:lines() do
      n = n + 1
      local spec = {}
      assert(loadfile(path, "t", spec))()
      assert.are.equal("corral", spec.package)
      assert.are.equal(path:match("([^/]*)$"), ("%s-%s.rockspec"):format(spec.package, spec.version))
      local family = spec.version:match("^(.*)%-%d+$")
      assert(family == "scm" or family == number,
        ("%s: version %s is neither scm-N nor %s-N"):format(path, spec.version, number))
    end
    p:close()
    assert.is_true(n >= 1)
  end)
end)
