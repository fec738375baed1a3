/* watchdog: the lifeline's far end (corral.launch.lifeline) started from this process, without
 * an exec: clone_watchdog (x86_64) and fork_watchdog (where that is refused, and the program
 * corral-watchdog, engine/bin/corral-watchdog.c, is not beside core.so).
 *
 * clone_watchdog(rfd, slots_fd[, argv]) -> pid, pidfd | fail, msg, errno
 *
 * The watchdog as a child that shares this process's memory (clone3 with CLONE_VM, without
 * CLONE_VFORK), running C on a stack of its own: no page tables copied, nothing exec'd, so it
 * costs the owner about what a thread costs (docs/benchmarks.md, F), where the program's
 * posix_spawn cost an exec and a fork's child a copy of the owner's page tables. It does what
 * corral-watchdog does, from the same fds (rfd as stdin, /dev/null as stdout, slots_fd as fd
 * 3, every other fd closed), in its own session, named corral-watchdog, with INT, TERM and
 * HUP blocked and every other signal at its default; when the slots hold a value only the Lua
 * side handles, it execs argv (corral.launch.watchdog's, its first word searched in PATH)
 * with fd 3 still the slots. Sharing memory with a running Lua state has rules, kept here:
 *  - the child makes raw system calls only (no libc: glibc's wrappers write errno, which is
 *    the owner's thread-local errno here, and the owner runs on);
 *  - it never runs the owner's signal handlers: every signal is blocked across the clone and
 *    the child sets every disposition to default first;
 *  - its stack and argv live in a mapping of their own that is never unmapped (the child may
 *    outlive the owner's Lua state; a replaced watchdog leaves its 68 KiB behind), and core.so
 *    is linked -z nodelete: lua_close's dlclose must not unmap the code the child runs in;
 *  - once the owner is gone the memory is the child's alone (the kernel keeps it while the
 *    child lives); it reads the slots through fd 3, never through the owner's mapping.
 *
 * fork_watchdog(rfd, slots_fd) -> 0 in the child, once the owner is gone | pid, pidfd here |
 * fail, msg, errno
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
#include <sys/stat.h>
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
#define SYS1(n, a) rsys(n, (long)(a), 0, 0, 0, 0, 0)
#define SYS2(n, a, b) rsys(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define SYS3(n, a, b, c) rsys(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SYS4(n, a, b, c, d) rsys(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SYS6(n, a, b, c, d, e, f) rsys(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

struct wd_ctx {
  int rfd, slots_fd;
  char **argv;           /* NULL, or the Lua side's argv, in this mapping */
};

#define WD_STACK (64 * 1024)

CHILD_CODE NO_SSP static double wd_now(void) {
  struct timespec ts = { 0, 0 };
  SYS2(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* execve argv, its first word searched in environ's PATH when it has no slash. */
CHILD_CODE NO_SSP static void wd_exec(char **argv) {
  const char *name = argv[0], *path = "/usr/local/bin:/usr/bin:/bin";
  int slash = 0;
  size_t nlen = 0;
  for (const char *q = name; *q; q++, nlen++) slash |= *q == '/';
  if (slash) { SYS3(SYS_execve, name, argv, environ); return; }
  for (char **e = environ; e && *e; e++) {
    const char *v = *e;
    if (v[0] == 'P' && v[1] == 'A' && v[2] == 'T' && v[3] == 'H' && v[4] == '=') { path = v + 5; break; }
  }
  char buf[4096];
  while (*path) {
    size_t n = 0;
    while (path[n] && path[n] != ':') n++;
    if (n > 0 && n + 1 + nlen < sizeof buf) {
      size_t k = 0;
      for (size_t i = 0; i < n; i++) buf[k++] = path[i];
      buf[k++] = '/';
      for (size_t i = 0; i <= nlen; i++) buf[k++] = name[i];
      SYS3(SYS_execve, buf, argv, environ);
    }
    path += n;
    if (*path == ':') path++;
  }
}

/* The watchdog's life; exits 0, or 71 when it could not be set up, 127 when the exec failed. */
CHILD_CODE NO_SSP static int wd_main(void *arg) {
  struct wd_ctx *c = arg;
  struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } ksa = { 0, 0, 0, 0 };
  for (int sig = 1; sig <= 64; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) SYS4(SYS_rt_sigaction, sig, &ksa, 0, 8);
  unsigned long held = (1UL << (SIGINT - 1)) | (1UL << (SIGTERM - 1)) | (1UL << (SIGHUP - 1));
  if (SYS4(SYS_rt_sigprocmask, SIG_SETMASK, &held, 0, 8) < 0) return 71;
  if (SYS0(SYS_setsid) < 0) return 71;
  SYS2(SYS_prctl, PR_SET_NAME, "corral-watchdog");
  /* out of the way of the targets 0, 1 and 3 first, then into place */
  long r = SYS3(SYS_fcntl, c->rfd, F_DUPFD_CLOEXEC, 4), s = SYS3(SYS_fcntl, c->slots_fd, F_DUPFD_CLOEXEC, 4);
  long null = SYS4(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC, 0);
  if (null >= 0 && null < 4) null = SYS3(SYS_fcntl, null, F_DUPFD_CLOEXEC, 4);
  if (r < 0 || s < 0 || null < 0) return 71;
  if (SYS2(SYS_dup2, r, 0) < 0 || SYS2(SYS_dup2, null, 1) < 0 || SYS2(SYS_dup2, s, 3) < 0) return 71;
  if (SYS3(SYS_close_range, 4, ~0U, 0) < 0) return 71;   /* the owner's write end above all */
  long fl = SYS2(SYS_fcntl, 0, F_GETFL);                 /* core.pipe's ends are non-blocking */
  if (fl < 0 || SYS3(SYS_fcntl, 0, F_SETFL, fl & ~O_NONBLOCK) < 0) return 71;
  char buf[64];
  for (;;) {                      /* nobody writes: EOF (or an error) means the owner is gone */
    long n = SYS3(SYS_read, 0, buf, sizeof buf);
    if (n == 0 || (n < 0 && n != -EINTR)) break;
  }
  /* The owner is gone: the slots, read through fd 3 into a private copy. */
  struct stat st;
  if (SYS2(SYS_fstat, 3, &st) < 0) return 71;
  if (st.st_size <= 0) return 0;
  long m = SYS6(SYS_mmap, 0, st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, 3, 0);
  if (m < 0 && m > -4096) return 71;
  int32_t *v = (int32_t *)m;
  size_t n = 0, total = (size_t)st.st_size / sizeof *v;
  int lua = 0;
  for (size_t i = 0; i < total; i++) {
    if (v[i] > 1) v[n++] = v[i];
    else if (v[i] < 0) lua = 1;
  }
  /* kill's errors are not checked: a group already gone is what we want */
  for (size_t i = 0; i < n; i++) {
    SYS2(SYS_kill, -(long)v[i], SIGTERM);
    SYS2(SYS_kill, -(long)v[i], SIGCONT);   /* a stopped group acts on TERM only once continued */
  }
  double deadline = wd_now() + 0.2;
  size_t left = n;
  while (left > 0 && wd_now() < deadline) {
    struct timespec tick = { 0, 5000000 };
    SYS2(SYS_nanosleep, &tick, 0);
    size_t k = 0;
    for (size_t i = 0; i < left; i++)
      if (SYS2(SYS_kill, -(long)v[i], 0) == 0) v[k++] = v[i];
    left = k;
  }
  for (size_t i = 0; i < left; i++) SYS2(SYS_kill, -(long)v[i], SIGKILL);
  if (lua && c->argv) {
    wd_exec(c->argv);
    return 127;
  }
  return 0;
}

static int l_clone_watchdog(lua_State *L) {
  int rfd = (int)luaL_checkinteger(L, 1);
  int slots_fd = (int)luaL_checkinteger(L, 2);
  luaL_argcheck(L, rfd >= 0, 1, "fd expected");
  luaL_argcheck(L, slots_fd >= 0, 2, "fd expected");
  int argc = 0;
  size_t strings = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    argc = (int)luaL_len(L, 3);
    for (int i = 1; i <= argc; i++) {
      lua_geti(L, 3, i);
      size_t len;
      if (!lua_isstring(L, -1)) return luaL_argerror(L, 3, "strings expected");
      lua_tolstring(L, -1, &len);
      strings += len + 1;
      lua_pop(L, 1);
    }
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
  c->argv = NULL;
  if (argc > 0) {
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
  }
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
