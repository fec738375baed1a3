/* watchdog: the lifeline's far end as a fork of this process (no exec, no second interpreter),
 * where the program corral-watchdog (engine/bin/corral-watchdog.c) is not beside core.so.
 *
 * fork_watchdog(rfd, slots_fd) -> 0 in the child, once the owner is gone | pid, pidfd here |
 * fail, msg, errno
 *
 * The child is a copy of the caller, set up as corral.launch.lifeline's watchdog: its own
 * session (a terminal's Ctrl-C and hangup never reach it), default dispositions for the
 * signals a Lua host may catch or ignore, INT, TERM and HUP blocked (held pending, never acted
 * on), rfd as stdin, /dev/null as stdout, stderr kept, slots_fd as fd 3 and every other fd
 * closed (the owner's pipe write end above all: the child must not keep its own lifeline
 * open). Its name (/proc/PID/comm) is "corral-watchdog". The copied Lua state's collector is
 * stopped: a finalizer of the owner's garbage (a pool's __gc) must never run in the copy.
 * Then it sleeps in read(0) until EOF: the kernel closes the pipe's write end when the owner
 * ends, however it ends. Only then does fork_watchdog return 0, in the child, and the caller
 * ends what the slots hold (corral.launch.watchdog.finish) and _exits without unwinding.
 *
 * Costs the owner a fork (page tables, no copy of its memory) instead of the posix_spawn of a
 * second lua5.4 (~2-3 ms of CPU to start an interpreter). The child shares the owner's pages
 * copy-on-write as they were at the fork, so it keeps alive the memory the owner had then and
 * later freed or changed: the lifeline forks it at the first task, when the owner is small. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* The child's set-up; only async-signal-safe calls. Returns 0, or -1 (the child _exits). */
static int child_setup(lua_State *L, int rfd, int slots_fd) {
  corral_forget_pid();
  if (setsid() < 0) return -1;
  static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2 };
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (signal(sigs[i], SIG_DFL) == SIG_ERR) return -1;
  sigset_t held;
  sigemptyset(&held);
  sigaddset(&held, SIGINT);
  sigaddset(&held, SIGTERM);
  sigaddset(&held, SIGHUP);
  if (sigprocmask(SIG_SETMASK, &held, NULL) < 0) return -1;
  /* out of the way of the targets 0, 1 and 3 first, then into place */
  int r = fcntl(rfd, F_DUPFD_CLOEXEC, 4), s = fcntl(slots_fd, F_DUPFD_CLOEXEC, 4);
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);  /* may land on 0-2 if the owner closed them */
  if (null >= 0 && null < 4) null = fcntl(null, F_DUPFD_CLOEXEC, 4);
  if (r < 0 || s < 0 || null < 0) return -1;
  if (dup2(r, 0) < 0 || dup2(null, 1) < 0 || dup2(s, 3) < 0) return -1;
  if (syscall(SYS_close_range, 4U, ~0U, 0) < 0) return -1;
  int fl = fcntl(0, F_GETFL);     /* core.pipe's ends are non-blocking: this read must block */
  if (fl < 0 || fcntl(0, F_SETFL, fl & ~O_NONBLOCK) < 0) return -1;
  if (prctl(PR_SET_NAME, "corral-watchdog", 0, 0, 0) < 0) return -1;
  lua_gc(L, LUA_GCSTOP);
  char buf[512];
  for (;;) {                      /* nobody writes: EOF (or an error) means the owner is gone */
    ssize_t n = read(0, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) return 0;
  }
}

static int l_fork_watchdog(lua_State *L) {
  int rfd = (int)luaL_checkinteger(L, 1);
  int slots_fd = (int)luaL_checkinteger(L, 2);
  luaL_argcheck(L, rfd >= 0, 1, "fd expected");
  luaL_argcheck(L, slots_fd >= 0, 2, "fd expected");
  /* every signal blocked across the fork: a SIGINT in between must not run the host's handler
   * in the copy (lua.c's would raise "interrupted!" there) */
  sigset_t all, old;
  sigfillset(&all);
  int err = pthread_sigmask(SIG_SETMASK, &all, &old);
  if (err != 0) {
    errno = err;
    return corral_oserror(L, "sigprocmask");
  }
  pid_t pid = fork();
  if (pid == 0) {
    if (child_setup(L, rfd, slots_fd) < 0) _exit(127);
    lua_pushinteger(L, 0);
    return 1;
  }
  int e = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) {
    errno = e;
    return corral_oserror(L, "fork");
  }
  return corral_push_child(L, pid);
}

static const luaL_Reg watchdog_funcs[] = {
  {"fork_watchdog", l_fork_watchdog},
  {NULL, NULL}
};

void corral_open_watchdog(lua_State *L) {
  luaL_setfuncs(L, watchdog_funcs, 0);
}
