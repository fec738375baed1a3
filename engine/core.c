/* corral.core: the module entry point, signal names, process utilities and clocks.
 * Installs no signal handler and starts nothing: loading the module has no side effect. */
#include "core.h"

#include <pthread.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const struct { const char *name; int sig; } signals[] = {
  {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL},
  {"TRAP", SIGTRAP}, {"ABRT", SIGABRT}, {"BUS", SIGBUS}, {"FPE", SIGFPE},
  {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
  {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
  {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
  {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU},
  {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
  {"IO", SIGIO}, {"PWR", SIGPWR}, {"SYS", SIGSYS}, {NULL, 0}
};

const char *corral_signame(int sig) {
  for (int i = 0; signals[i].name; i++)
    if (signals[i].sig == sig) return signals[i].name;
  return NULL;
}

int corral_checksignal(lua_State *L, int arg) {
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, arg);
    luaL_argcheck(L, n >= 0 && n <= SIGRTMAX, arg, "signal number out of range");
    return (int)n;
  }
  const char *name = luaL_checkstring(L, arg);
  if (strncmp(name, "SIG", 3) == 0) name += 3;
  for (int i = 0; signals[i].name; i++)
    if (strcmp(signals[i].name, name) == 0) return signals[i].sig;
  return luaL_argerror(L, arg, lua_pushfstring(L, "unknown signal '%s'", lua_tostring(L, arg)));
}

int corral_oserror(lua_State *L, const char *what) {
  int e = errno;
  luaL_pushfail(L);
  if (what) lua_pushfstring(L, "%s: %s", what, strerror(e));
  else lua_pushstring(L, strerror(e));
  lua_pushinteger(L, e);
  return 3;
}

static int ok_or_error(lua_State *L, int r, const char *what) {
  if (r < 0) return corral_oserror(L, what);
  lua_pushboolean(L, 1);
  return 1;
}

/* signame(n) -> "TERM" or nil; signum("TERM") -> 15 (raises on unknown names). */
static int l_signame(lua_State *L) {
  const char *n = corral_signame((int)luaL_checkinteger(L, 1));
  if (n) lua_pushstring(L, n); else luaL_pushfail(L);
  return 1;
}

static int l_signum(lua_State *L) {
  lua_pushinteger(L, corral_checksignal(L, 1));
  return 1;
}

static int l_getpid(lua_State *L) { lua_pushinteger(L, getpid()); return 1; }

/* self_pid(): getpid() without a syscall per call (the lifeline asks on every task). Forgotten
 * in a fork's child (pthread_atfork) and in corral_child_setup (the raw clone of the fork
 * server runs no atfork handlers). */
static pid_t self_pid;
void corral_forget_pid(void) { self_pid = 0; }
static int l_self_pid(lua_State *L) {
  if (self_pid == 0) self_pid = getpid();
  lua_pushinteger(L, self_pid);
  return 1;
}
static int l_getppid(lua_State *L) { lua_pushinteger(L, getppid()); return 1; }

static int l_getpgid(lua_State *L) {
  pid_t pid = (pid_t)luaL_optinteger(L, 1, 0);
  pid_t g = getpgid(pid);
  if (g < 0) return corral_oserror(L, "getpgid");
  lua_pushinteger(L, g);
  return 1;
}

static int l_kill(lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  int sig = corral_checksignal(L, 2);
  return ok_or_error(L, kill(pid, sig), "kill");
}

static int l_killpg(lua_State *L) {
  lua_Integer pg = luaL_checkinteger(L, 1);
  luaL_argcheck(L, pg > 1, 1, "process group must be > 1");
  int sig = corral_checksignal(L, 2);
  return ok_or_error(L, kill(-(pid_t)pg, sig), "killpg");
}

static double clock_seconds(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* now(): monotonic seconds, for deadlines; time(): wall-clock epoch seconds, for records. */
static int l_now(lua_State *L) { lua_pushnumber(L, clock_seconds(CLOCK_MONOTONIC)); return 1; }
static int l_time(lua_State *L) { lua_pushnumber(L, clock_seconds(CLOCK_REALTIME)); return 1; }

static int l_environ(lua_State *L) {
  lua_newtable(L);
  for (char **e = environ; e && *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    lua_pushlstring(L, *e, (size_t)(eq - *e));
    lua_pushstring(L, eq + 1);
    lua_rawset(L, -3);
  }
  return 1;
}

static int l_ncpu(lua_State *L) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  lua_pushinteger(L, n > 0 ? n : 1);
  return 1;
}

/* newtable(narray [, nhash]) -> a table with room for narray items and nhash fields: a table
 * filled to a known size is not grown (and copied) a dozen times on the way. */
static int l_newtable(lua_State *L) {
  lua_Integer na = luaL_checkinteger(L, 1), nh = luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, na >= 0 && na <= (1 << 26), 1, "size out of range");
  luaL_argcheck(L, nh >= 0 && nh <= (1 << 26), 2, "size out of range");
  lua_createtable(L, (int)na, (int)nh);
  return 1;
}

static const luaL_Reg core_funcs[] = {
  {"signame", l_signame}, {"signum", l_signum},
  {"getpid", l_getpid}, {"self_pid", l_self_pid}, {"getppid", l_getppid}, {"getpgid", l_getpgid},
  {"kill", l_kill}, {"killpg", l_killpg},
  {"now", l_now}, {"time", l_time}, {"environ", l_environ}, {"ncpu", l_ncpu},
  {"newtable", l_newtable},
  {NULL, NULL}
};

int luaopen_corral_core(lua_State *L) {
  static int atfork_done;
  if (!atfork_done) {
    int err = pthread_atfork(NULL, NULL, corral_forget_pid);
    if (err != 0) return luaL_error(L, "pthread_atfork: %s", strerror(err));
    atfork_done = 1;
  }
  luaL_newlib(L, core_funcs);
  corral_open_proc(L);
  corral_open_spawn(L);
  corral_open_loop(L);
  corral_open_wire(L);
  corral_open_slots(L);
  corral_open_fdpass(L);
  corral_open_fs(L);
  corral_open_watchdog(L);
  corral_open_jsonl(L);
  return 1;
}
