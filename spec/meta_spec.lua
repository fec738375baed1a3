-- The LuaCATS definitions (types/corral.lua) describe exactly the public API: every name the
-- module exports and every public method of a pool, future, workflow and loop is annotated,
-- and nothing annotated is missing from the code. Annotated option fields are accepted
-- options, real records and reports carry only annotated fields, and the version agrees
-- between corral._VERSION, the definitions, `corral --version` and the rockspec. docs/api.md is
-- the third surface: it has a section for exactly the annotated functions and methods, a table
-- row for exactly the annotated options and fields, and an index of every option.
local corral = require "corral"
local H = require "helpers"

local META = H.root .. "/types/corral.lua"
local META_PROGRESS = H.root .. "/types/corral/workflow/progress.lua"
local API = H.root .. "/docs/api.md"

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

-- What the definitions files annotate: module names (corral, corral.workflow.progress),
-- methods per class variable (and which are @private), fields per class.
local function parse_meta(text, m)
  m = m or { module = {}, progress = {}, methods = {}, private = {}, fields = {}, class_of = {} }
  local class                            -- the class whose ---@field lines are being read
  local private = false                  -- a ---@private line since the last definition
  for line in text:gmatch("[^\n]*") do
    local name = line:match("^function corral%.([%w_]+)%s*%(") or line:match("^corral%.([%w_]+)%s*=")
    if name then m.module[name] = true end
    local pname = line:match("^function progress%.([%w_]+)%s*%(")
    if pname then m.progress[pname] = true end
    if line:match("^%-%-%-@private") then private = true end
    local var, method = line:match("^function (%u[%w_]*):([%w_]+)%s*%(")
    if var then
      m.methods[var] = m.methods[var] or {}
      m.methods[var][method] = true
      if private then
        m.private[var] = m.private[var] or {}
        m.private[var][method] = true
      end
    end
    if line:match("^function") then private = false end
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

local meta = parse_meta(read(META_PROGRESS), parse_meta(read(META)))

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

  it("annotates exactly the methods of futures, workflows, the loop and progress lines", function()
    local pool <close> = corral.pool { size = 1 }
    local f = pool:submit("true")
    assert.are.equal("corral.Future", meta.class_of.Future)
    assert.are.same(sorted(methods_of(f)), sorted(meta.methods.Future))
    assert.are.equal("corral.Workflow", meta.class_of.Workflow)
    assert.are.same(sorted(methods_of(corral.workflow())), sorted(meta.methods.Workflow))
    assert.are.equal("corral.Loop", meta.class_of.Loop)
    assert.are.same(sorted(methods_of(corral.loop())), sorted(meta.methods.Loop))
    assert.are.equal("corral.Progress", meta.class_of.Progress)
    local progress = require "corral.workflow.progress"
    assert.are.same(sorted(methods_of(progress.new { tty = false })), sorted(meta.methods.Progress))
    assert.are.same(sorted(keys(progress)), sorted(meta.progress))
    -- and no methods on a class the code does not have
    assert.are.same({ "Future", "Loop", "Pool", "Progress", "Workflow" }, sorted(meta.methods))
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
    -- a slurm table's unknown key and a map's unknown option have messages of their own
    local function slurm_accepts(k)
      local ok, err = pcall(corral.pool, { launcher = "slurm", slurm = { [k] = bogus } })
      return ok or not tostring(err):find("unknown key", 1, true)
    end
    for k in pairs(meta.fields["corral.SlurmOptions"]) do
      assert(slurm_accepts(k), "corral.SlurmOptions." .. k .. " is annotated but not accepted")
    end
    assert.is_false(slurm_accepts("no_such_option"))
    local lua <close> = corral.pool { executor = "lua", size = 1 }
    local function map_accepts(k)
      local ok, err = pcall(lua.map, lua, "string.upper", { "a" }, { [k] = bogus })
      return ok or not tostring(err):find("bad option '" .. k .. "' to 'map'$")
    end
    assert(next(meta.fields["corral.MapOptions"]), "corral.MapOptions has no fields")
    for k in pairs(meta.fields["corral.MapOptions"]) do
      assert(map_accepts(k), "corral.MapOptions." .. k .. " is annotated but not accepted")
    end
    assert.is_false(map_accepts("no_such_option"))
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

-- docs/api.md, the third surface: every function and method has a section headed by its name
-- as called (`### corral.pool`, `### pool:submit`, `### f:wait`, …), and every table of
-- options or fields sits under a heading naming it; its rows start with the names in
-- backquotes. Whatever types/ annotates, the page documents, and nothing else.
local PREFIX = {                 -- a heading's prefix -> the class variable in types/
  pool = "Pool", f = "Future", wf = "Workflow", loop = "Loop", bar = "Progress",
}
local TABLES = {                 -- a heading -> the class whose fields its table lists
  ["Pool options"] = "corral.PoolOptions", ["Per-task options"] = "corral.TaskOptions",
  ["Map options"] = "corral.MapOptions", ["Slurm options"] = "corral.SlurmOptions",
  ["Limits"] = "corral.Limits", ["Workflow options"] = "corral.WorkflowOptions",
  ["Job spec"] = "corral.JobSpec", ["Record fields"] = "corral.Record",
  ["Rusage fields"] = "corral.Rusage", ["Future fields"] = "corral.Future",
  ["Journal events"] = "corral.JournalEvent", ["pool:stats"] = "corral.PoolStats",
  ["wf:run"] = "corral.WorkflowReport", ["wf:plan"] = "corral.PlanEntry",
  ["corral.Error"] = "corral.TaskError", ["corral.Interrupted"] = "corral.InterruptedError",
  ["progress.new"] = "corral.ProgressOptions",
}

-- parse_api(text) -> { module = set, progress = set, methods = { Var = set }, fields =
-- { class = set }, unknown = list of function headings with an unknown prefix }
local function parse_api(text)
  local d = { module = {}, progress = {}, methods = {}, fields = {}, unknown = {} }
  local heading
  local fence = false
  for line in text:gmatch("[^\n]*") do
    if line:match("^```") then fence = not fence end
    local h = not fence and line:match("^#+%s+(.-)%s*$")
    if h then
      heading = h
      local prefix, sep, name = h:match("^([%w_]+)([.:])([%w_]+)$")
      if prefix == "corral" and sep == "." then d.module[name] = true
      elseif prefix == "progress" and sep == "." then d.progress[name] = true
      elseif prefix and sep == ":" and PREFIX[prefix] then
        local var = PREFIX[prefix]
        d.methods[var] = d.methods[var] or {}
        d.methods[var][name] = true
      elseif prefix then d.unknown[#d.unknown + 1] = h end
    elseif not fence and heading and TABLES[heading] then
      local first = line:match("^|([^|]*)|")
      if first then
        local class = TABLES[heading]
        d.fields[class] = d.fields[class] or {}
        for name in first:gmatch("`([%w_]+)`") do d.fields[class][name] = true end
      end
    end
  end
  return d
end

local function diff(doc, annotated, what)
  local missing, extra = {}, {}
  for k in pairs(annotated or {}) do if not doc[k] then missing[#missing + 1] = k end end
  for k in pairs(doc or {}) do if not (annotated or {})[k] then extra[#extra + 1] = k end end
  table.sort(missing); table.sort(extra)
  assert(#missing == 0 and #extra == 0, ("%s: annotated in types/ but not in docs/api.md: {%s}; "
    .. "in docs/api.md but not annotated: {%s}"):format(what, table.concat(missing, ", "),
    table.concat(extra, ", ")))
end

describe("docs/api.md", function()
  local api = parse_api(read(API))

  it("has a section for exactly the module's names and progress.*", function()
    diff(api.module, meta.module, "corral.*")
    diff(api.progress, meta.progress, "corral.workflow.progress.*")
    assert.are.same({}, api.unknown)
  end)

  it("has a section for exactly the public methods of each class", function()
    for _, var in pairs(PREFIX) do
      local public = {}
      for k in pairs(meta.methods[var] or {}) do
        if not (meta.private[var] and meta.private[var][k]) then public[k] = true end
      end
      assert(next(public), var .. " has no methods in types/")
      diff(api.methods[var] or {}, public, var .. " methods")
    end
  end)

  it("lists exactly the annotated options and fields in its tables", function()
    for _, class in pairs(TABLES) do
      assert(meta.fields[class] and next(meta.fields[class]), class .. " has no fields in types/")
      diff(api.fields[class] or {}, meta.fields[class], class)
    end
  end)

  it("indexes every option of its option tables, each linked", function()
    local text = read(API)
    local index = text:match("\n## Index of options\n(.-)\n## ")
    assert(index, "no '## Index of options' section")
    local listed = {}
    for row in index:gmatch("\n|([^\n]*)") do
      local names, links = row:match("^([^|]*)|(.*)$")
      if names and links:find("](#", 1, true) then
        for name in names:gmatch("`([%w_]+)`") do listed[name] = true end
      end
    end
    local all = {}
    for _, class in ipairs { "corral.PoolOptions", "corral.TaskOptions", "corral.MapOptions",
      "corral.SlurmOptions", "corral.Limits", "corral.WorkflowOptions", "corral.JobSpec",
      "corral.ProgressOptions" } do
      for k in pairs(meta.fields[class]) do all[k] = true end
    end
    diff(listed, all, "the index of options")
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
