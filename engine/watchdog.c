/* watchdog: ways to start the lifeline's far end (corral.launch.lifeline, the program
 * corral-watchdog of engine/bin/corral-watchdog.c) that posix_spawn does not give.
 *
 * clone_watchdog(rfd, slots_fd, argv) -> pid, pidfd | fail, msg, errno      (x86_64)
 *
 * Starts the program argv[1] (an absolute path) as the watchdog without waiting for its exec:
 * posix_spawn's child shares the caller's memory and suspends the caller until the exec is
 * done (CLONE_VFORK), which on a first task is the whole cost of the lifeline to a short
 * script (docs/benchmarks.md, F); this child shares the memory too (clone3 with CLONE_VM, so
 * no page tables are copied) but not the wait, and execs on its own while the caller goes on.
 * It sets itself up as the watchdog first: its own session, every disposition at its default,
 * INT, TERM and HUP blocked (the program keeps them so), rfd as stdin, /dev/null as stdout,
 * stderr kept, slots_fd as fd 3 and every other fd closed (the caller's write end of the
 * pipe above all). Until its exec it runs beside a live Lua state in the same memory, so:
 *  - it makes raw system calls only (no libc: glibc's wrappers write errno, which is the
 *    caller's thread-local errno here, and the caller runs on);
 *  - it never runs the caller's signal handlers: every signal is blocked across the clone and
 *    the child sets every disposition to default first;
 *  - its stack and argv live in a mapping of their own, which is never unmapped (the caller
 *    cannot tell when the exec is done; each start leaves its 20 KiB behind), and core.so is
 *    linked -z nodelete so that no dlclose unmaps the code it runs.
 * An exec that fails ends the child with code 127 (the lifeline sees its watchdog die). Once
 * exec'd it is the program, with memory, a command line and an OOM score of its own.
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
#include "vmchild.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
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

#ifdef HAVE_VM_CHILD
extern char **environ;

#if defined(__has_attribute)
#if __has_attribute(no_stack_protector)
#define NO_SSP __attribute__((no_stack_protector))
#endif
#endif
#ifndef NO_SSP
#define NO_SSP
#endif

/* A system call without libc (x86_64): the result, or -errno. */
__attribute__((always_inline)) static inline long
rsys(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#define SYS0(n) rsys(n, 0, 0, 0, 0, 0, 0)
#define SYS2(n, a, b) rsys(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define SYS3(n, a, b, c) rsys(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SYS4(n, a, b, c, d) rsys(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

struct wd_ctx {
  int rfd, slots_fd;
  char **argv;           /* the program and its arguments, in this mapping */
};

#define WD_STACK (16 * 1024)

/* The child: set up as the watchdog, then exec the program; exits 71 when it could not be
 * set up, 127 when the exec failed. */
CHILD_CODE NO_SSP static int wd_main(void *arg) {
  struct wd_ctx *c = arg;
  struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } ksa = { 0, 0, 0, 0 };
  for (int sig = 1; sig <= 64; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) SYS4(SYS_rt_sigaction, sig, &ksa, 0, 8);
  unsigned long held = (1UL << (SIGINT - 1)) | (1UL << (SIGTERM - 1)) | (1UL << (SIGHUP - 1));
  if (SYS4(SYS_rt_sigprocmask, SIG_SETMASK, &held, 0, 8) < 0) return 71;
  if (SYS0(SYS_setsid) < 0) return 71;
  /* out of the way of the targets 0, 1 and 3 first, then into place */
  long r = SYS3(SYS_fcntl, c->rfd, F_DUPFD_CLOEXEC, 4), s = SYS3(SYS_fcntl, c->slots_fd, F_DUPFD_CLOEXEC, 4);
  long null = SYS4(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC, 0);
  if (null >= 0 && null < 4) null = SYS3(SYS_fcntl, null, F_DUPFD_CLOEXEC, 4);
  if (r < 0 || s < 0 || null < 0) return 71;
  if (SYS2(SYS_dup2, r, 0) < 0 || SYS2(SYS_dup2, null, 1) < 0 || SYS2(SYS_dup2, s, 3) < 0) return 71;
  if (SYS3(SYS_close_range, 4, ~0U, 0) < 0) return 71;   /* the owner's write end above all */
  SYS3(SYS_execve, c->argv[0], c->argv, environ);
  return 127;
}

static int l_clone_watchdog(lua_State *L) {
  int rfd = (int)luaL_checkinteger(L, 1);
  int slots_fd = (int)luaL_checkinteger(L, 2);
  luaL_argcheck(L, rfd >= 0, 1, "fd expected");
  luaL_argcheck(L, slots_fd >= 0, 2, "fd expected");
  luaL_checktype(L, 3, LUA_TTABLE);
  int argc = (int)luaL_len(L, 3);
  size_t strings = 0;
  luaL_argcheck(L, argc >= 1, 3, "the program's argv expected");
  for (int i = 1; i <= argc; i++) {
    lua_geti(L, 3, i);
    size_t len;
    if (!lua_isstring(L, -1)) return luaL_argerror(L, 3, "strings expected");
    lua_tolstring(L, -1, &len);
    strings += len + 1;
    lua_pop(L, 1);
  }
  /* the mapping: the stack (growing down from a 16-byte aligned top, as the x86_64 ABI
   * wants at a call), then the context and argv's pointers and strings */
  size_t tail = sizeof(struct wd_ctx) + (size_t)(argc + 1) * sizeof(char *) + strings;
  long page = sysconf(_SC_PAGESIZE);
  size_t size = (WD_STACK + tail + (size_t)page - 1) & ~((size_t)page - 1);
  char *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) return corral_oserror(L, "mmap");
  struct wd_ctx *c = (struct wd_ctx *)(map + WD_STACK);
  c->rfd = rfd;
  c->slots_fd = slots_fd;
  c->argv = (char **)(c + 1);
  char *str = (char *)(c->argv + argc + 1);
  for (int i = 1; i <= argc; i++) {
    lua_geti(L, 3, i);
    size_t len;
    const char *a = lua_tolstring(L, -1, &len);
    memcpy(str, a, len + 1);
    c->argv[i - 1] = str;
    str += len + 1;
    lua_pop(L, 1);
  }
  c->argv[argc] = NULL;
  int fd = -1;
  struct clone3_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = CLONE3_VM | CLONE3_PIDFD;
  ca.pidfd = (uint64_t)(uintptr_t)&fd;
  ca.exit_signal = SIGCHLD;
  ca.stack = (uint64_t)(uintptr_t)map;
  ca.stack_size = WD_STACK;
  sigset_t all, old;
  sigfillset(&all);
  int err = pthread_sigmask(SIG_SETMASK, &all, &old);
  if (err != 0) {
    munmap(map, size);
    errno = err;
    return corral_oserror(L, "sigprocmask");
  }
  long pid = corral_clone3_vm(&ca, sizeof ca, wd_main, c);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) {
    munmap(map, size);
    errno = (int)-pid;
    return corral_oserror(L, "clone3");
  }
  lua_pushinteger(L, pid);
  lua_pushinteger(L, fd);
  return 2;
}
#else
static int l_clone_watchdog(lua_State *L) {
  errno = ENOSYS;
  return corral_oserror(L, "clone_watchdog (not on this architecture)");
}
#endif

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
  {"clone_watchdog", l_clone_watchdog},
  {"fork_watchdog", l_fork_watchdog},
  {NULL, NULL}
};

void corral_open_watchdog(lua_State *L) {
  luaL_setfuncs(L, watchdog_funcs, 0);
}
