/* A small stand-in for /usr/bin/lua5.4, built with the sanitizers by `make asan` so that only
 * Lua processes carry the ASan/UBSan runtime (build/asan/corral/core.so resolves its __asan
 * symbols from this executable; nothing is preloaded). It follows Lua 5.4.4's lua.c for what
 * corral and busted use:  lua [-e stat]... [-l mod]... [--] [script [args...]]
 * the global 'arg' table, LUA_INIT_5_4 / LUA_INIT, generational GC, errors reported as
 * "progname: message + traceback" with exit status 1, and SIGINT raising "interrupted!" while a
 * chunk runs. No -i, -v, -E, -W or REPL; '-' or no script (and no -e) runs stdin. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#ifdef __SANITIZE_ADDRESS__
#include <dlfcn.h>
/* GCC links ASan and UBSan as two runtimes, and libubsan's call to __sanitizer_set_report_path
 * binds to libasan's exported copy, so UBSAN_OPTIONS log_path is ignored and UBSan reports go
 * to stderr. Hand the path to libubsan's own copy (dlsym on its handle looks there first). */
static void ubsan_log_path(void) {
  const char *opts = getenv("UBSAN_OPTIONS"), *p = opts ? strstr(opts, "log_path=") : NULL;
  void *h = p ? dlopen("libubsan.so.1", RTLD_LAZY | RTLD_NOLOAD) : NULL;
  if (h == NULL) return;
  void (*set)(const char *) = (void (*)(const char *))dlsym(h, "__sanitizer_set_report_path");
  char path[4096];
  p += strlen("log_path=");
  snprintf(path, sizeof path, "%.*s", (int)strcspn(p, ":"), p);
  if (set) set(path);
  dlclose(h);
}
#endif

static lua_State *globalL = NULL;
static const char *progname = "lua";

static void setsignal(int sig, void (*handler)(int)) {
  struct sigaction sa;
  sa.sa_handler = handler;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void laction(int sig) {
  setsignal(sig, SIG_DFL); /* a second SIGINT terminates the process */
  lua_sethook(globalL, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

static void l_message(const char *pname, const char *msg) {
  if (pname) fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    l_message(progname, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return status;
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  globalL = L;
  setsignal(SIGINT, laction);
  int status = lua_pcall(L, narg, nres, base);
  setsignal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  return status;
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

/* 'globname[=modname]': globname = require(modname) */
static int dolibrary(lua_State *L, char *globname) {
  char *modname = strchr(globname, '=');
  if (modname == NULL) modname = globname;
  else *modname++ = '\0';
  lua_getglobal(L, "require");
  lua_pushstring(L, modname);
  int status = docall(L, 1, 1);
  if (status == LUA_OK) lua_setglobal(L, globname);
  return report(L, status);
}

static int handle_luainit(lua_State *L) {
  const char *name = "=LUA_INIT_5_4";
  const char *init = getenv(name + 1);
  if (init == NULL) init = getenv((name = "=LUA_INIT") + 1);
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return dochunk(L, luaL_loadfile(L, init + 1));
  return dochunk(L, luaL_loadbuffer(L, init, strlen(init), name));
}

/* Index of the script in argv (argc if none), or -1 after printing a usage error. */
static int collectargs(char **argv, int argc) {
  int i;
  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    const char *o = argv[i];
    if (o[1] == '\0') break;                        /* "-": the script is stdin */
    if (o[1] == '-' && o[2] == '\0') return i + 1;  /* "--" */
    if ((o[1] == 'e' || o[1] == 'l') && o[2] == '\0') {
      if (++i == argc || argv[i][0] == '-') {
        fprintf(stderr, "%s: '%s' needs argument\n", progname, o);
        return -1;
      }
    } else if (o[1] != 'e' && o[1] != 'l') {
      fprintf(stderr, "%s: unrecognized option '%s'\nusage: %s [-e stat] [-l mod] [script [args]]\n",
              progname, o, progname);
      return -1;
    }
  }
  return i;
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  if (argv[0] && argv[0][0]) progname = argv[0];
  int script = collectargs(argv, argc);
  if (script < 0) return 0;
  luaL_checkversion(L);
  luaL_openlibs(L);
  /* the 'arg' table: argv[script] at 0 (argv[0] if no script), its arguments above */
  int base = script == argc ? 0 : script;
  lua_createtable(L, argc - (base + 1), base + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - base);
  }
  lua_setglobal(L, "arg");
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (handle_luainit(L) != LUA_OK) return 0;
  int ran_e = 0;
  for (int i = 1; i < script; i++) {
    char opt = argv[i][1];
    if (opt != 'e' && opt != 'l') continue; /* "--" */
    char *extra = argv[i][2] ? argv[i] + 2 : argv[++i];
    int status = opt == 'e' ? dochunk(L, luaL_loadbuffer(L, extra, strlen(extra), "=(command line)"))
                            : dolibrary(L, extra);
    if (status != LUA_OK) return 0;
    ran_e |= opt == 'e';
  }
  if (script < argc) {
    const char *fname = argv[script];
    if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL; /* stdin */
    int status = luaL_loadfile(L, fname); /* skips a first '#' line */
    if (status == LUA_OK) {
      int n = argc - script - 1;
      luaL_checkstack(L, n + 3, "too many arguments to script");
      for (int i = 1; i <= n; i++) lua_pushstring(L, argv[script + i]);
      status = docall(L, n, LUA_MULTRET);
    }
    if (report(L, status) != LUA_OK) return 0;
  } else if (!ran_e && dochunk(L, luaL_loadfile(L, NULL)) != LUA_OK) {
    return 0;
  }
  lua_pushboolean(L, 1);
  return 1;
}

int main(int argc, char **argv) {
#ifdef __SANITIZE_ADDRESS__
  ubsan_log_path();
#endif
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    l_message(argv[0], "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int result = lua_toboolean(L, -1);
  report(L, status);
  lua_close(L);
  return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
