-- corral's development rockspec: builds and installs through the Makefile.
--   luarocks --lua-version 5.4 make corral-scm-1.rockspec               (from a checkout)
--   luarocks --lua-version 5.4 make --tree ~/corral corral-scm-1.rockspec --deps-mode=none
-- The version is "scm": the checkout's head, whose corral._VERSION is in lua/corral/init.lua.
rockspec_format = "3.0"
package = "corral"
version = "scm-1"

source = {
  url = "git+https://github.com/corral-lua/corral.git",
}

description = {
  summary = "A job engine for Lua 5.4: pools of commands and Lua functions with exact outcomes",
  detailed = [[
corral runs commands (through a shell or as argv), Lua functions (in worker processes) and
workflows of both from a Lua script, in bounded pools. Every task ends with one precise record
(exit code, signal, output, rusage); timeouts, cancel and terminate end a task's whole process
group; Ctrl-C follows a per-pool policy. Also installs the `corral` command (`corral run`,
`corral parallel`, `corral joblog`, `corral report`, `corral status`). Linux only.]],
  homepage = "https://github.com/corral-lua/corral",
  issues_url = "https://github.com/corral-lua/corral/issues",
  labels = { "process", "subprocess", "pool", "jobs", "parallel", "workflow" },
}

supported_platforms = { "linux" }

dependencies = {
  "lua >= 5.4, < 5.5",
  "lua-cjson",
}

build = {
  type = "make",
  -- Both passes use a build directory of their own, so a luarocks build never reuses (or
  -- overwrites) the objects of a development build in build/.
  variables = {
    BUILD = "build/luarocks",
  },
  -- A CFLAGS given on make's command line replaces the Makefile's, so the flags the sources
  -- need (C11, _GNU_SOURCE, Lua's headers) are added to luarocks' own here. The Makefile's
  -- -Werror is a developer setting and is left out of builds by luarocks.
  build_variables = {
    CFLAGS = "$(CFLAGS) -std=c11 -D_GNU_SOURCE -fPIC -I$(LUA_INCDIR)",
    LUA_INC = "-I$(LUA_INCDIR)",
  },
  -- make install puts lua/corral/**.lua in LUADIR (the same folders), corral/core.so in LIBDIR and the `corral`
  -- command (marked installed: it relies on Lua's search paths) in BINDIR, with LUA, luarocks'
  -- interpreter, on its #! line.
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
    BINDIR = "$(BINDIR)",
    LUA = "$(LUA)",
  },
  copy_directories = { "docs", "types" },
}

test = {
  type = "busted",
}
