/* proc: collect a child's end through its pidfd, and find which process groups still have
 * live members.
 *
 * Only children corral spawned are reaped, each by its own pidfd: never waitpid(-1), so an
 * embedding host keeps its other children. Liveness of a group is judged from /proc and
 * ignores zombies: an orphan that PID 1 has not reaped yet is dead for our purposes (kill(-g, 0)
 * would still answer for it). */
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* A child just forked: push pid, pidfd -> 2 results. Without a pidfd the child is killed and
 * reaped (nothing could ever collect it) and fail, message, errno is pushed instead. */
int corral_push_child(lua_State *L, pid_t pid) {
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    int e = errno;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    errno = e;
    return corral_oserror(L, "pidfd_open");
  }
  lua_pushinteger(L, pid);
  lua_pushinteger(L, pidfd);
  return 2;
}

/* reap(pidfd) -> false                                  (still running)
 *             -> code|false, signal|false, utime, stime, maxrss_kib, core_dumped
 *             | fail, message, errno */
static int l_reap(lua_State *L) {
  int pidfd = (int)luaL_checkinteger(L, 1);
  siginfo_t si;
  struct rusage ru;
  memset(&si, 0, sizeof si);
  memset(&ru, 0, sizeof ru);
  long r;
  do r = syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED | WNOHANG, &ru);
  while (r < 0 && errno == EINTR);
  if (r < 0) return corral_oserror(L, "waitid");
  if (si.si_pid == 0) { lua_pushboolean(L, 0); return 1; }
  if (si.si_code == CLD_EXITED) {
    lua_pushinteger(L, si.si_status);
    lua_pushboolean(L, 0);
  } else {
    lua_pushboolean(L, 0);
    lua_pushinteger(L, si.si_status);
  }
  lua_pushnumber(L, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6);
  lua_pushnumber(L, (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6);
  lua_pushinteger(L, ru.ru_maxrss);
  lua_pushboolean(L, si.si_code == CLD_DUMPED);
  return 6;
}

/* Send sig to the process behind a pidfd (safe against pid reuse). */
static int l_pidfd_kill(lua_State *L) {
  int pidfd = (int)luaL_checkinteger(L, 1);
  int sig = corral_checksignal(L, 2);
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0) return corral_oserror(L, "pidfd_send_signal");
  lua_pushboolean(L, 1);
  return 1;
}

static int cmp_pid(const void *a, const void *b) {
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return (x > y) - (x < y);
}

/* Fields 3 (state) and 5 (pgrp) of /proc/PID/stat; comm may hold spaces and parentheses. */
static int read_stat(int dirfd, const char *name, char *state, pid_t *pgrp) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "%s/stat", name);
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  int ppid, pg;
  if (sscanf(p + 1, " %c %d %d", state, &ppid, &pg) != 3) return -1;
  *pgrp = pg;
  return 0;
}

/* live_groups({pgid, ...}) -> { [pgid] = count of live (non-zombie) members, ... }
 * Groups without a live member are absent from the result. */
static int l_live_groups(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 1);
  lua_newtable(L);
  if (n == 0) return 1;
  pid_t *want = lua_newuserdatauv(L, (size_t)n * sizeof(pid_t), 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    want[i - 1] = (pid_t)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  qsort(want, (size_t)n, sizeof(pid_t), cmp_pid);
  DIR *d = opendir("/proc");
  if (!d) return corral_oserror(L, "opendir /proc");
  int dfd = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    char state;
    pid_t pg;
    if (read_stat(dfd, e->d_name, &state, &pg) < 0) continue;
    if (state == 'Z' || state == 'X' || state == 'x') continue;
    if (!bsearch(&pg, want, (size_t)n, sizeof(pid_t), cmp_pid)) continue;
    lua_rawgeti(L, -2, pg);
    lua_Integer c = lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_pushinteger(L, c + 1);
    lua_rawseti(L, -3, pg);
  }
  closedir(d);
  lua_pop(L, 1);  /* want */
  return 1;
}

/* group_exists(pgid) -> bool: any member at all, zombies included (one syscall; the fast path). */
static int l_group_exists(lua_State *L) {
  pid_t pg = (pid_t)luaL_checkinteger(L, 1);
  luaL_argcheck(L, pg > 1, 1, "process group must be > 1");
  lua_pushboolean(L, kill(-pg, 0) == 0 || errno == EPERM);
  return 1;
}

static const luaL_Reg proc_funcs[] = {
  {"reap", l_reap},
  {"pidfd_kill", l_pidfd_kill},
  {"live_groups", l_live_groups},
  {"group_exists", l_group_exists},
  {NULL, NULL}
};

void corral_open_proc(lua_State *L) {
  luaL_setfuncs(L, proc_funcs, 0);
}
