-- docs/cli.md's list of the GNU parallel options `corral parallel` does not take is exactly the
-- options of the installed GNU parallel's manual (`man parallel`, OPTIONS) that
-- corral.cli.parallel.args refuses; and a refused one is one line on stderr, exit 255.
local H = require "helpers"
local args = require "corral.cli.parallel.args"

local MAN = os.getenv("CORRAL_GNU_PARALLEL_MAN") or "/usr/share/man/man1/parallel.1.gz"

local function skip()
  local why = H.gnu_parallel_skip_reason()
  if not why and not io.open(MAN) then
    why = "GNU parallel's manual is not installed (" .. MAN .. "; make deps-all installs Debian's parallel)"
  end
  if why then pending(why) end
end

-- Option names of the manual's OPTIONS section: each `.IP` item's leading \fB-x\fR / \fB--name\fR.
local function manual_options()
  local p = assert(io.popen("zcat " .. MAN))
  local text = p:read("a")
  p:close()
  local section = assert(text:match('\n%.SH "OPTIONS"(.-)\n%.SH "EXAMPLE'), "no OPTIONS section in " .. MAN)
  local set = {}
  for item in section:gmatch('\n%.IP "([^\n]*)') do
    local bold = item:match("^\\fB(.-)\\f")          -- "\-\-arg\-file" of "\fB\-\-arg\-file\fR"
    local name = bold and bold:gsub("\\%-", "-")
    if name and name:match("^%-") then set[name] = true end
  end
  return set
end

-- Refused by the parser: an unknown option, or one refused with its reason (remote hosts).
local function refused(name)
  local o, err = args.parse({ name, "1", "echo" })
  if o then return false end
  return err:find("unknown option", 1, true) ~= nil or err:find("not supported", 1, true) ~= nil
end

local function documented()
  local text = H.slurp(H.root .. "/docs/cli.md")
  local section = assert(text:match("\n### GNU parallel options it does not take\n(.-)\n##"),
    "docs/cli.md has no '### GNU parallel options it does not take'")
  local set = {}
  for line in section:gmatch("[^\n]+") do
    local first = line:match("^|([^|]*)|")
    if first then for name in first:gmatch("`(%-[^`]*)`") do set[name] = true end end
  end
  return set
end

local function sorted_diff(a, b)
  local out = {}
  for k in pairs(a) do if not b[k] then out[#out + 1] = k end end
  table.sort(out)
  return out
end

describe("corral parallel's documented GNU options", function()
  it("docs/cli.md lists exactly the manual's options the parser refuses", function()
    skip()
    local gnu = manual_options()
    local n = 0
    for _ in pairs(gnu) do n = n + 1 end
    assert(n > 150, "only " .. n .. " options read from " .. MAN)
    local not_taken = {}
    for name in pairs(gnu) do if refused(name) then not_taken[name] = true end end
    local doc = documented()
    assert.are.same({}, sorted_diff(not_taken, doc), "refused but not listed in docs/cli.md")
    assert.are.same({}, sorted_diff(doc, not_taken), "listed in docs/cli.md but taken (or not GNU's)")
  end)

  it("a refused option is one line on stderr and exit 255", function()
    for _, case in ipairs { { "--plus", "unknown option '--plus'" },
                            { "--sshlogin", "remote hosts are not supported" } } do
      local p = io.popen(("%s/scripts/corral parallel %s x echo ::: a 2>&1; echo \"exit $?\""):format(H.root, case[1]))
      local out = p:read("a")
      p:close()
      assert.truthy(out:find(case[2], 1, true), out)
      local lines = select(2, out:gsub("\n", ""))
      assert.are.equal(2, lines, out)                 -- the message, then our "exit N"
      assert.truthy(out:match("\nexit 255\n$"), out)
    end
  end)
end)
