-- The launcher-independent command-pool cases (spec/launcher_cases.lua) with the local
-- launcher; spec/slurm/launcher_spec runs the same cases with launcher = "slurm".
local H = require "helpers"
assert(loadfile(H.root .. "/spec/launcher_cases.lua", "t", _ENV))()("local")
