-- Installed corral works without the checkout: `make install PREFIX=…` gives a command that
-- finds its own modules for any prefix (one with a space and a quote here) in an environment
-- with no LUA_PATH at all; one whose modules are gone says so in one line. `luarocks make
-- --tree …` gives a tree whose `corral run` runs a job script, with `luarocks path`'s paths
-- and with none.
-- Each job script runs commands and Lua workers; the modules are checked to load from the
-- tree, not from the checkout or a system install.
local corral = require "corral"
local H = require "helpers"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- sh -c cmd -> output (stdout and stderr), exit code
local function sh(cmd)
  local p = assert(io.popen("(" .. cmd .. ") 2>&1"))
  local out = p:read("a")
  local _, how, code = p:close()
  return out, how == "exit" and code or 128 + code
end

local function mktemp()
  local dir = os.tmpname()                 -- a fresh file: replace it with a directory
  os.remove(dir)
  assert(os.execute("mkdir -m 700 " .. q(dir)))
  return dir
end

local function has(cmd) return select(2, sh("command -v " .. cmd)) == 0 end

local JOB = [[
local corral = require "corral"
local pool <close> = corral.pool { size = 2 }
local r = pool:submit("echo out; exit 42"):wait()
local lua <close> = corral.pool { executor = "lua", size = 1 }
local doubled = lua:submit(function(x) return x * 2 end, 21):result()
print("REC status=" .. r.status .. " code=" .. r.code .. " stdout=" .. r.stdout:gsub("\n", "") .. " doubled=" .. doubled)
print("corral=" .. package.searchpath("corral", package.path))
print("core=" .. package.searchpath("corral.core", package.cpath))
print("version=" .. corral._VERSION)
os.exit(r.code)
]]

-- Runs JOB with `bin/corral run` from an empty directory, with nothing of the checkout in the
-- environment: `env -i`, plus LUA_PATH and LUA_CPATH only when given; checks what it printed
-- and its exit status.
local function run_job(tmp, bin, lua_path, lua_cpath, tree)
  local work = tmp .. "/work"
  assert(os.execute("mkdir -p " .. q(work)))
  local f = assert(io.open(work .. "/job.lua", "w"))
  f:write(JOB)
  f:close()
  local env = ("cd %s && env -i PATH=%s HOME=%s "):format(q(work), q(os.getenv("PATH")), q(tmp))
  if lua_path then env = env .. ("LUA_PATH=%s LUA_CPATH=%s "):format(q(lua_path), q(lua_cpath)) end
  local out, code = sh(env .. q(bin .. "/corral") .. " run job.lua")
  assert.are.equal(42, code, out)
  assert.matches("REC status=failed code=42 stdout=out doubled=42\n", out, 1, true)
  assert.are.equal(tree, out:match("\ncorral=([^\n]*)"):sub(1, #tree), out)
  assert.are.equal(tree, out:match("\ncore=([^\n]*)"):sub(1, #tree), out)
  assert.matches("\nversion=" .. corral._VERSION .. "\n", out, 1, true)
  local vout, vcode = sh(env .. q(bin .. "/corral") .. " --version")
  assert.are.equal(0, vcode, vout)
  assert.are.equal(corral._VERSION .. "\n", vout)
  return env
end

describe("installed corral", function()
  local tmp
  before_each(function() tmp = mktemp() end)
  after_each(function() if tmp then os.execute("rm -rf " .. q(tmp)) end end)

  it("make install PREFIX=… runs from any prefix with no LUA_PATH; without its modules, one line", function()
    local prefix = tmp .. "/a prefix with 'quotes'"   -- (make itself expands a $ in it)
    -- a build directory of its own: the install does not reuse the checkout's objects
    local out, code = sh(("make -s -j4 -C %s install PREFIX=%s BUILD=%s")
      :format(q(H.root), q(prefix), q(tmp .. "/build")))
    assert.are.equal(0, code, out)
    local env = run_job(tmp, prefix .. "/bin", nil, nil, prefix .. "/")
    -- the command is a Lua script run by the interpreter's absolute path: no shell, no env
    local f = assert(io.open(prefix .. "/bin/corral"))
    assert.are.equal("#!" .. sh("command -v lua5.4"):gsub("\n$", ""), f:read("l"))
    f:close()
    -- the modules moved away: one line naming the module and where it should be, exit 1
    local lua_dir = prefix .. "/share/lua/5.4"
    assert(os.rename(lua_dir, lua_dir .. ".gone"))
    out, code = sh(env .. q(prefix .. "/bin/corral") .. " --version")
    assert.are.equal(1, code, out)
    assert.are.equal("corral: cannot load its modules: module 'corral.cli' not found in " .. lua_dir
      .. " (reinstall corral (make install PREFIX=...) or set LUA_PATH and LUA_CPATH)\n", out)
    assert(os.rename(lua_dir .. ".gone", lua_dir))
    local so = prefix .. "/lib/lua/5.4/corral/core.so"
    assert(os.rename(so, so .. ".gone"))
    out, code = sh(env .. q(prefix .. "/bin/corral") .. " run job.lua")
    assert.are.equal(1, code, out)
    assert.matches("^corral: cannot load its modules: module 'corral.core' not found in [^\n]*\n$", out)
    -- the whole prefix moved: it finds the modules around itself (PREFIX/bin/..)
    assert(os.rename(so .. ".gone", so))
    assert(os.rename(prefix, tmp .. "/moved"))
    out, code = sh(env .. q(tmp .. "/moved/bin/corral") .. " --version")
    assert.are.same({ corral._VERSION .. "\n", 0 }, { out, code })
  end)

  it("luarocks make --tree … (offline: --deps-mode=none) runs a job script from the tree", function()
    if not has("luarocks") then
      pending("luarocks is not installed (make deps-all installs Debian's luarocks)")
      return
    end
    -- luarocks make builds in the source directory: build a copy of the checkout's sources.
    local src, tree = tmp .. "/src", tmp .. "/tree"
    local out, code = sh(("mkdir -p %s/scripts && cd %s && cp -R engine lua types docs Makefile corral-scm-1.rockspec %s/ && cp scripts/corral scripts/luac.lua %s/scripts/")
      :format(q(src), q(H.root), q(src), q(src)))
    assert.are.equal(0, code, out)
    -- lua-cjson comes from Debian, which luarocks does not know of: without --deps-mode=none it
    -- would look for it on luarocks.org. As root, prove that no network is needed.
    local offline = select(2, sh("unshare -n true")) == 0 and "unshare -n " or ""
    -- --lua-dir: the system's Lua, even when PATH's lua5.4 is another build (make asan's host)
    local luarocks = "luarocks --lua-version 5.4 --lua-dir /usr "
    out, code = sh(("cd %s && %s%smake --tree %s --deps-mode=none corral-scm-1.rockspec")
      :format(q(src), offline, luarocks, q(tree)))
    assert.are.equal(0, code, out)
    assert.matches("corral scm-1 is now installed", out, 1, true)
    local lr_path = sh(luarocks .. "path --lr-path --tree " .. q(tree)):gsub("\n$", "")
    local lr_cpath = sh(luarocks .. "path --lr-cpath --tree " .. q(tree)):gsub("\n$", "")
    local lr_bin = sh(luarocks .. "path --lr-bin --tree " .. q(tree)):match("^[^:\n]*")
    assert.are.equal(tree .. "/bin", lr_bin)
    run_job(tmp, lr_bin, lr_path .. ";;", lr_cpath .. ";;", tree .. "/")
    -- and with nothing set: the command finds the tree's modules around itself
    run_job(tmp, lr_bin, nil, nil, tree .. "/")
    -- the definitions for editors travel with the rock
    out = sh(luarocks .. "show --tree " .. q(tree) .. " --rock-dir corral")
    local meta = io.open(out:gsub("\n$", "") .. "/types/corral.lua")
    assert.truthy(meta, out)
    meta:close()
  end)
end)

-- make test's and make demo's first step as an unprivileged user: `make deps` checks only the
-- core packages (present here, or busted could not run this), so it succeeds without root and
-- the build and a spec run follow; a missing package is one command to run, never an attempt
-- at apt. Run as nobody on a copy of the checkout that nobody owns.
describe("make deps without root", function()
  local tmp
  before_each(function() tmp = mktemp() end)
  after_each(function() if tmp then os.execute("rm -rf " .. q(tmp)) end end)

  it("succeeds with the core packages present; make, a spec and corral run follow", function()
    if sh("id -u") ~= "0\n" or not has("setpriv") then
      pending("needs root and setpriv to run as nobody")
      return
    end
    local core_debs = sh("make -s -C " .. q(H.root) .. " -p -n deps 2>/dev/null | sed -n 's/^DEBS *:= *//p'")
    assert.are.equal("lua5.4 liblua5.4-dev lua-cjson lua-busted\n", core_debs)
    local src = tmp .. "/src"
    local out, code = sh(("mkdir %s && cd %s && cp -R Makefile engine lua scripts spec %s/ && chown -R nobody %s && chmod 755 %s")
      :format(q(src), q(H.root), q(src), q(tmp), q(tmp)))
    assert.are.equal(0, code, out)
    local as_nobody = ("cd %s && setpriv --reuid nobody --regid nogroup --clear-groups env -i PATH=%s HOME=%s ")
      :format(q(src), q(os.getenv("PATH")), q(tmp))
    out, code = sh(as_nobody .. "sh -c 'id -u; make -s deps all && scripts/run-specs.sh spec/engine/core_spec.lua && scripts/corral --version'")
    assert.are.equal(0, code, out)
    assert.matches("^65534\n", out)
    assert.matches("\n%d+ passed, 0 failed\ncorral %S+\n$", out)
    assert.falsy(out:find("missing", 1, true), out)
    -- a package that is absent: the command to run, exit 1, and no apt-get as nobody
    out, code = sh(as_nobody .. "scripts/deps.sh lua5.4 corral-no-such-package")
    assert.are.equal(1, code, out)
    assert.are.equal("missing packages: corral-no-such-package\n"
      .. "run: sudo apt-get update && sudo apt-get install -y --no-install-recommends corral-no-such-package\n", out)
  end)
end)
