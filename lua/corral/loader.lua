-- corral.loader: corral's modules precompiled. `make` and `make install` put a compiled copy of
-- each module (scripts/luac.lua, debug information kept) in corral/bc/ beside the engine,
-- corral/core.so. install() puts a searcher before Lua's own that, for a corral.* module, takes
-- that copy when it is at least as new as the module's source and was compiled from a source
-- of the same size; otherwise (no copy, an older one, one of another source, another Lua's
-- format) it has nothing to say and Lua loads the source as always. The
-- source stays the truth. A loaded copy is given the source's chunk name, so messages, line
-- numbers and corral.errors.internal read the same either way. Compiling is most of what a
-- short script spends in corral (docs/benchmarks.md, F).
local core = require "corral.core"

local M = {}

local HEADER = string.dump(function() end):sub(1, 31)  -- this Lua's: signature, format, sizes
local PREFIX = 33             -- after the header and the upvalue count: the main source's size

-- Lua's varint for a string of n bytes (lundump.c loadSize: 7 bits a byte, the last has 0x80).
local function size(n)
  local out = { (n & 0x7f) | 0x80 }
  n = n >> 7
  while n > 0 do
    table.insert(out, 1, n & 0x7f)
    n = n >> 7
  end
  return string.char(table.unpack(out))
end

-- The dump `data` with its main function's source name replaced by `name` (nested functions
-- name no source of their own: they share their parent's).
-- Also returns the name it had.
local function renamed(data, name)
  local i, old = PREFIX, 0
  while true do
    local b = data:byte(i)
    if not b then return nil end
    old = (old << 7) | (b & 0x7f)
    if b >= 0x80 then break end
    i = i + 1
  end
  local rest = i + 1 + (old > 0 and old - 1 or 0)
  return data:sub(1, PREFIX - 1) .. size(#name + 1) .. name .. data:sub(rest), data:sub(i + 1, rest - 1)
end

-- The size of the file at path, or nil.
local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

local function searcher(bc, name)
  if name:sub(1, 7) ~= "corral." then return nil end
  local src = package.searchpath(name, package.path)
  if not src then return nil end
  local rel = name:gsub("%.", "/")
  if src:sub(-(#rel + 9)) == rel .. "/init.lua" then rel = rel .. "/init" end
  local copy = bc .. rel .. ".luac"
  local t = core.mtime(copy)
  if not t or t < (core.mtime(src) or math.huge) then return nil end
  local f = io.open(copy, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  if not data or data:sub(1, 31) ~= HEADER then return nil end
  -- compiled from a source of this size (scripts/luac.lua names the chunk so): another
  -- checkout's copy of the module, newer but different, is not taken for this one
  local was
  data, was = renamed(data, "@" .. src)
  if was ~= "=corral source of " .. tostring(file_size(src)) .. " bytes" then return nil end
  local chunk = data and load(data, "@" .. src, "b")
  if not chunk then return nil end
  return chunk, src
end

local installed = false

-- install(): once per Lua state; nothing when the engine has no compiled copies beside it.
function M.install()
  if installed then return end
  installed = true
  local so = package.searchpath("corral.core", package.cpath)
  local dir = so and so:match("^(.*/)core%.so$")
  if not dir or not core.mtime(dir .. "bc") then return end
  local bc = dir .. "bc/"
  table.insert(package.searchers, 2, function(name) return searcher(bc, name) end)
end

return M
