# corral: build, test, demo, bench, install, asan, deps.
# The module is built against Lua 5.4's headers only; it does not link liblua.

CC       ?= cc
LUA      ?= lua5.4
PREFIX   ?= /usr/local
# Debian's liblua5.4-dev puts the headers here; pkg-config (only recommended by it) may say otherwise.
LUA_INC  := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -fPIC -Wall -Wextra -Werror $(LUA_INC) $(SANITIZE)
# -z nodelete: the lifeline watchdog (engine/watchdog.c) runs core.so's code after lua_close's dlclose
LDFLAGS  += -shared -Wl,-z,nodelete $(SANITIZE)

BUILD    ?= build
SRC      := $(wildcard engine/*.c)
OBJ      := $(patsubst engine/%.c,$(BUILD)/obj/%.o,$(SRC))
MODULE   := $(BUILD)/corral/core.so
# The Lua modules precompiled into one file (scripts/luac.lua), next to core.so, where corral's
# loader looks
LUASRC   := $(shell cd lua && find corral -name '*.lua' | sort)
BYTECODE := $(BUILD)/corral/modules.pack
WATCHDOG := $(BUILD)/corral/corral-watchdog

# DEBS: what building, make test and make demo need. OPTDEBS: the parts whose specs skip, with
# the reason, when they are absent (GNU parallel to compare against, luarocks, the report's
# browser, a local Slurm cluster); make deps-all installs them too, and .ci/run calls it.
DEBS     := lua5.4 liblua5.4-dev lua-cjson lua-busted
OPTDEBS  := pkg-config parallel luarocks chromium slurmctld slurmd slurm-client munge
BENCHDEBS:= parallel python3 snakemake

.PHONY: all deps deps-all test demo bench asan valgrind fuzz install clean

all: $(MODULE) $(BYTECODE) $(WATCHDOG)

# The lifeline's watchdog, a program of its own beside core.so: static when libc.a is there
# (no dynamic loader to run at each start), else dynamic.
WDFLAGS  := -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
$(WATCHDOG): engine/bin/corral-watchdog.c
	@mkdir -p $(dir $@)
	$(CC) $(WDFLAGS) -static -o $@ $< 2>/dev/null || $(CC) $(WDFLAGS) -o $@ $<

$(BYTECODE): $(addprefix lua/,$(LUASRC))
	@mkdir -p $(dir $@)
	cd lua && $(LUA) ../scripts/luac.lua $(abspath $@) . $(LUASRC)

$(MODULE): $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJ)

$(BUILD)/obj/%.o: engine/%.c engine/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Install whatever Debian packages are missing (root), or print the command (not root).
deps:
	@scripts/deps.sh $(DEBS)

deps-all:
	@scripts/deps.sh $(DEBS) $(OPTDEBS)

test: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-specs.sh

demo: deps
	@$(MAKE) --no-print-directory all
	scripts/corral run scripts/examples/demo.lua

bench: deps
	@scripts/deps.sh $(BENCHDEBS)
	@$(MAKE) --no-print-directory all
	scripts/bench/run.sh
	scripts/bench/workflow.sh

# ASan + UBSan: a separate build in build/asan, plus a sanitized Lua host (scripts/asan/lua.c)
# first on PATH as lua5.4 and lua, so only Lua processes carry the sanitizer runtime (core.so
# resolves its __asan symbols from the executable; nothing is preloaded). A cc there adds the
# same flags, for the C hosts that specs build to embed Lua and load core.so.
asan: deps
	@scripts/deps.sh pkg-config
	$(MAKE) --no-print-directory all $(CURDIR)/build/asan/bin/lua5.4 BUILD=build/asan SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
	PATH=$(CURDIR)/build/asan/bin:$$PATH CORRAL_ASAN=1 CORRAL_BUILD=$(CURDIR)/build/asan scripts/run-specs.sh

$(CURDIR)/$(BUILD)/bin/lua5.4: scripts/asan/lua.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(shell pkg-config --libs lua5.4)
	ln -sf lua5.4 $(dir $@)lua
	printf '#!/bin/sh\nexec %s $(SANITIZE) "$$@"\n' "$$(command -v $(CC))" > $(dir $@)cc
	chmod +x $(dir $@)cc

# make install PREFIX=/usr/local: Lua modules in LUADIR, corral/core.so in LIBDIR, the command
# in BINDIR. luarocks (corral-scm-1.rockspec) passes all four and LUA. Plain "=" so that only the
# command line, not a stray environment variable, overrides them.
LUADIR    = $(PREFIX)/share/lua/5.4
LIBDIR    = $(PREFIX)/lib/lua/5.4
BINDIR    = $(PREFIX)/bin

# memcheck on the specs that exercise the codec and the spawner's set-up and error paths
# (busted's process; children are not traced). Debian's valgrind 3.19 does not know
# pidfd_open (syscall 434), so specs that run commands to completion (spec/pool/commands_spec) are covered
# by make asan instead. CORRAL_FUZZ_N keeps the fuzz spec short under valgrind.
VALGRIND_SPECS := spec/engine/jsonl_spec.lua spec/engine/wire_spec.lua spec/engine/wire_fuzz_spec.lua spec/engine/core_spec.lua
valgrind: deps
	@scripts/deps.sh valgrind
	@$(MAKE) --no-print-directory all
	CORRAL_VALGRIND=1 CORRAL_FUZZ_N=3000 scripts/run-specs.sh $(VALGRIND_SPECS)

# The mutational fuzzer on the codec and the journal reader, for FUZZ_SECONDS (make test runs a
# short pass of the same code through spec/engine/wire_fuzz_spec).
FUZZ_SECONDS ?= 60
fuzz: all
	LUA_PATH="lua/?.lua;;" LUA_CPATH="build/?.so;;" lua5.4 scripts/fuzz.lua $(FUZZ_SECONDS)

# The paths are quoted for the shell (shq), so a PREFIX with spaces or quotes installs too. The
# command (a Lua script) gets the interpreter's absolute path as its #! line (no `env` to
# start first; LUA=/path/to/lua picks another) and the installed LUADIR and LIBDIR as Lua long
# strings (scripts/corral's "local luadir, libdir" line).
shq = '$(subst ','\'',$(1))'
install: all
	install -d $(call shq,$(DESTDIR)$(LIBDIR)/corral) $(call shq,$(DESTDIR)$(BINDIR))
	cd lua && find corral -name '*.lua' -exec install -D -m 644 {} $(call shq,$(DESTDIR)$(LUADIR))/{} \;
	install -m 755 $(MODULE) $(call shq,$(DESTDIR)$(LIBDIR)/corral/core.so)
	install -m 755 $(WATCHDOG) $(call shq,$(DESTDIR)$(LIBDIR)/corral/corral-watchdog)
	install -m 644 $(BYTECODE) $(call shq,$(DESTDIR)$(LIBDIR)/corral/modules.pack)
	{ printf '#!%s\n' "$$(command -v $(call shq,$(LUA)) || echo /usr/bin/env lua5.4)"; \
	  printf 'local luadir, libdir = [==[%s]==], [==[%s]==]\n' $(call shq,$(LUADIR)) $(call shq,$(LIBDIR)); \
	  sed -e 1d -e '/^local luadir, libdir$$/d' scripts/corral; } > $(call shq,$(DESTDIR)$(BINDIR)/corral)
	chmod 755 $(call shq,$(DESTDIR)$(BINDIR)/corral)

clean:
	rm -rf build
