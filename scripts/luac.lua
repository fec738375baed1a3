-- scripts/luac.lua OUTDIR SRCDIR FILE...: precompile Lua modules for corral's loader (see
-- lua/corral/init.lua, "precompiled modules"). Each SRCDIR/FILE (e.g. corral/pool.lua) is
-- compiled with its debug information (line numbers stay in messages) and written as
-- OUTDIR/FILE with the extension .luac. The source stays the truth: the loader takes a copy
-- only when it is as new as its source, of its source's size, and loads; the source otherwise.
local out, src = arg[1], arg[2]
for i = 3, #arg do
  local file = arg[i]
  local h = assert(io.open(src .. "/" .. file, "rb"))
  local text = assert(h:read("a"))
  h:close()
  -- the chunk's name records the source's size (corral.loader checks it; the name is replaced
  -- by the source's path when the copy is loaded)
  local f = assert(load(text, "=corral source of " .. #text .. " bytes"))
  local dest = out .. "/" .. file:gsub("%.lua$", ".luac")
  assert(os.execute("mkdir -p '" .. dest:match("^(.*)/"):gsub("'", "'\\''") .. "'"))
  local o = assert(io.open(dest .. ".tmp", "wb"))
  assert(o:write(string.dump(f)))
  assert(o:close())
  assert(os.rename(dest .. ".tmp", dest))
end
