-- corral.loader: corral's modules precompiled. `make` and `make install` put every module
-- compiled (scripts/luac.lua, debug information kept) in one file, corral/modules.pack beside
-- the engine, corral/core.so; it is opened once, at the first corral module a script loads,
-- and each module is then one read (core.loadpacked) instead of a file of its own to find,
-- open and read. install() puts a searcher before Lua's own that, for a corral.* module,
-- takes its bytecode from the pack when the pack is at least as new as the module's source
-- and was compiled from a source of the same size; otherwise (no pack, an older one, one of
-- another source, another Lua's format) it has nothing to say and Lua loads the source as
-- always. The source stays the truth. A loaded copy is given the source's chunk name, so
-- messages, line numbers and corral.errors.internal read the same either way. Compiling is
-- most of what a short script spends in corral (docs/benchmarks.md, F).
local core = require "corral.core"

local M = {}

-- The pack's index: module name -> { offset, length }, and where its bytecode starts; nil
-- when it is not a pack of this format.
local function parse(data)
  if data:sub(1, 17) ~= "corral modules 1\n" then return nil end
  local index, pos = {}, 18
  while true do
    local name, off, len, nxt = data:match("^(%S+) (%d+) (%d+)\n()", pos)
    if not name then break end
    index[name] = { tonumber(off), tonumber(len) }
    pos = nxt
  end
  if data:sub(pos, pos) ~= "\n" then return nil end
  return index, pos + 1
end

local pack = nil              -- { fd, index, base, mtime } once opened; false: none usable

-- The pack is opened once (close-on-exec, read-only) and kept for the life of the Lua state:
-- a module is then one pread of its own bytes.
local function open_pack(path)
  local mtime = core.mtime(path)
  local fd = mtime and core.open(path, "r")
  if not fd then return false end
  local size, index, base = 8192, nil, nil
  while not index do
    local head = core.pread(fd, size)
    if not head then break end
    index, base = parse(head)
    if index or #head < size then break end
    size = size * 2                     -- an index longer than what was read: read more
  end
  if not index then core.close(fd); return false end
  return { fd = fd, index = index, base = base - 1, mtime = mtime }
end

local function searcher(path, name)
  if name:sub(1, 7) ~= "corral." then return nil end
  if pack == nil then pack = open_pack(path) end
  local e = pack and pack.index[name]
  if not e then return nil end
  local src = package.searchpath(name, package.path)
  if not src then return nil end
  -- as new as its source, and compiled from a source of this size (the name the copy was
  -- compiled under says): another checkout's copy of the module, newer but different, is not
  -- taken for this one
  local t, size = core.mtime(src)
  if not t or t > pack.mtime then return nil end
  local chunk = core.loadpacked(pack.fd, pack.base + e[1], e[2], "@" .. src,
                                 "=corral source of " .. size .. " bytes")
  if not chunk then return nil end
  return chunk, src
end

local installed = false

-- install(): once per Lua state; nothing when the engine has no pack beside it.
function M.install()
  if installed then return end
  installed = true
  local so = package.searchpath("corral.core", package.cpath)
  local dir = so and so:match("^(.*/)core%.so$")
  if not dir then return end
  table.insert(package.searchers, 2, function(name) return searcher(dir .. "modules.pack", name) end)
end

return M
