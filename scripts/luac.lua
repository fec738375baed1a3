-- scripts/luac.lua OUT SRCDIR FILE...: precompile corral's Lua modules into one pack for
-- corral's loader (lua/corral/loader.lua). Each SRCDIR/FILE (e.g. corral/pool.lua) is compiled
-- with its debug information (line numbers stay in messages). OUT is written as:
--   corral modules 1                     (the format's name and version)
--   NAME OFFSET LENGTH                   (one line per module, e.g. corral.pool)
--   (an empty line)
--   the modules' bytecode, end to end    (OFFSET counts from here, from 0)
-- One file: a script opens it once and reads each module it loads with one pread. The
-- source stays the truth: the loader takes a module from the pack only when the pack is as new
-- as the module's source and the source has the size the chunk's name records.
local out, src = arg[1], arg[2]
local index, blobs, offset = {}, {}, 0
for i = 3, #arg do
  local file = arg[i]
  local h = assert(io.open(src .. "/" .. file, "rb"))
  local text = assert(h:read("a"))
  h:close()
  -- the chunk's name records the source's size too; the loader replaces it by the source's path
  local dump = string.dump(assert(load(text, "=corral source of " .. #text .. " bytes")))
  local name = file:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
  index[#index + 1] = ("%s %d %d\n"):format(name, offset, #dump)
  blobs[#blobs + 1] = dump
  offset = offset + #dump
end
local o = assert(io.open(out .. ".tmp", "wb"))
assert(o:write("corral modules 1\n", table.concat(index), "\n", table.concat(blobs)))
assert(o:close())
assert(os.rename(out .. ".tmp", out))
