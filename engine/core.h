/* corral.core: shared declarations of the engine's files.
 * Each file registers its functions into the module table (at the top of the stack). */
#ifndef CORRAL_CORE_H
#define CORRAL_CORE_H

#include <lua.h>
#include <lauxlib.h>
#include <sys/types.h>

/* Return fail, "what: strerror(errno)", errno in the style of luaL_fileresult. */
int corral_oserror(lua_State *L, const char *what);
int corral_push_child(lua_State *L, pid_t pid);   /* pid, pidfd | fail, message, errno */

/* Signal by name ("TERM", "SIGTERM") or number; raises on an unknown name. */
int corral_checksignal(lua_State *L, int arg);
const char *corral_signame(int sig);

/* The fd map of a child ({ [n] = fd, ... }, n >= 3) and the child-side set-up after a fork,
 * shared by fork_worker (spawn.c) and fork_parent (fdpass.c). */
#define CORRAL_MAXFDS 8
int corral_checkfdmap(lua_State *L, int arg, const char *fname, int map[][2], int *top);
int corral_child_setup(int map[][2], int n, int top);
pid_t corral_fork_child(pid_t (*forker)(void), int map[][2], int n, int top, const char **what);

/* Forget the cached pid of core.self_pid (in a forked child). */
void corral_forget_pid(void);

void corral_open_proc(lua_State *L);
void corral_open_spawn(lua_State *L);
void corral_open_loop(lua_State *L);
void corral_open_wire(lua_State *L);
void corral_open_slots(lua_State *L);
void corral_open_fdpass(lua_State *L);
void corral_open_fs(lua_State *L);
void corral_open_watchdog(lua_State *L);
void corral_open_jsonl(lua_State *L);

#endif
