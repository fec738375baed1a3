/* clone: the second way to start a command, for what posix_spawn cannot do: be born inside a
 * cgroup v2 (clone3 with CLONE_INTO_CGROUP: there is no moment in which the child, or anything
 * it forks, is outside the task's cgroup), enter cgroup v1 hierarchies and set rlimits before
 * exec. The child does what posix_spawn's file actions and attributes do for spawn.c (its own
 * process group or session, default dispositions, the mask, stdio, the fd map, cwd, closing
 * every other fd), in the same order, so both paths give the same process and the same errors.
 *
 * The child shares the parent's memory (CLONE_VM | CLONE_VFORK, as glibc's and musl's
 * posix_spawn do) rather than being fork-like: a fork-like child copies the parent's page
 * tables, so its cost grows with the parent's memory (notes/linux.md: a 1 GiB parent managed
 * ~25 forks/s against 1,400-2,200/s for vfork), and a command must not cost more because the
 * script that starts it is big. Sharing memory has three rules, kept here:
 *  - the child never returns into the caller's frames: it runs child_main on a stack of its own
 *    (mmap'd per spawn), entered by a small trampoline, since glibc exports no clone3 wrapper;
 *  - it never runs the parent's signal handlers: every signal is blocked across the clone, and
 *    the child sets every disposition to default before it sets the task's mask;
 *  - it makes only async-signal-safe calls and no allocation. It may change the parent's errno
 *    (they share the thread's TLS); the parent is suspended until the exec or the _exit, and
 *    reads errno only after that.
 * Where there is no trampoline (architectures other than x86_64), or when asked (core.spawn's
 * clone = "fork", for the specs), the child is fork-like instead: CLONE_VFORK without CLONE_VM.
 * Either way a failure is reported as { stage, errno } through a close-on-exec pipe whose write
 * end sits above every fd the child sets up: EOF means the exec happened.
 * (glibc 2.41 has posix_spawnattr_setcgroup_np for the cgroup part; rlimits and cgroup v1 would
 * still need this child.) */
#include "plan.h"
#include "vmchild.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct child_ctx {
  const corral_plan *p;
  int report;             /* write end of the report pipe */
  sigset_t mask;          /* the task's mask, set just before exec */
};

#ifdef HAVE_VM_CHILD
/* long corral_clone3_vm(struct clone3_args *, size_t, int (*fn)(void *), void *arg):
 * clone3; in the child (on args->stack) call fn(arg) and exit with its value; in the parent
 * return the pid or -errno. fn and arg are kept in r8/r9: the syscall instruction clobbers rcx
 * and r11 only, and the child starts with the parent's other registers. */
__asm__(
  ".text\n"
  ".globl corral_clone3_vm\n"
  ".hidden corral_clone3_vm\n"
  ".type corral_clone3_vm,@function\n"
  ".p2align 4\n"
  "corral_clone3_vm:\n"
  "  mov %rdx, %r8\n"
  "  mov %rcx, %r9\n"
  "  mov $435, %eax\n"
  "  syscall\n"
  "  test %rax, %rax\n"
  "  jnz 1f\n"
  "  xor %ebp, %ebp\n"
  "  mov %r9, %rdi\n"
  "  call *%r8\n"
  "  mov %eax, %edi\n"
  "  mov $60, %eax\n"          /* SYS_exit */
  "  syscall\n"
  "  hlt\n"
  "1:\n"
  "  ret\n"
  ".size corral_clone3_vm, .-corral_clone3_vm\n");
#endif


CHILD_CODE static int child_dup(int from, int to) {
  if (from != to) return dup2(from, to) < 0 ? -1 : 0;
  int fl = fcntl(to, F_GETFD);              /* dup2 onto itself: keep it open across exec */
  return fl < 0 || fcntl(to, F_SETFD, fl & ~FD_CLOEXEC) < 0 ? -1 : 0;
}

CHILD_CODE static int child_main(void *arg) {
  struct child_ctx *c = arg;
  const corral_plan *p = c->p;
  int stage = CORRAL_STAGE_JOIN, i;
  for (i = 0; i < p->njoin; i++)             /* cgroup v1: "0" is the writer itself */
    if (write(p->join[i], "0", 1) != 1) goto fail;

  stage = CORRAL_STAGE_SESSION;
  if (p->setsid ? setsid() < 0 : setpgid(0, 0) < 0) goto fail;

  stage = CORRAL_STAGE_SIGNALS;
#if defined(__x86_64__)
  /* The raw call: glibc's sigaction refuses its internal signals (32, 33), whose handlers or
   * SIG_IGN must not reach the command either (a handler would run in the shared memory). */
  struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } ksa = { 0, 0, 0, 0 };
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP && syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof ksa.mask) < 0) goto fail;
#else
  struct sigaction sa;
  sa.sa_handler = SIG_DFL;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; sig++)      /* glibc refuses its internal ones: EINVAL */
    if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, &sa, NULL) < 0 && errno != EINVAL) goto fail;
#endif

  stage = CORRAL_STAGE_STDIO;
  for (i = 0; i < 3; i++) {
    const corral_io *io = &p->io[i];
    if (io->kind == CORRAL_IO_OPEN) {
      int fd = open(io->path, io->flags, 0666);
      if (fd < 0) goto fail;
      if (fd != i && (dup2(fd, i) < 0 || close(fd) < 0)) goto fail;
    } else if (io->kind == CORRAL_IO_DUP && child_dup(io->fd, i) < 0) {
      goto fail;
    }
  }
  stage = CORRAL_STAGE_FDS;
  for (i = 0; i < p->nfd; i++)
    if (child_dup(p->fdmap[i][1], p->fdmap[i][0]) < 0) goto fail;
  stage = CORRAL_STAGE_CWD;
  if (p->cwd && chdir(p->cwd) < 0) goto fail;
  stage = CORRAL_STAGE_CLOSE;                 /* everything from closefrom on, but the report */
  if (c->report > p->closefrom && syscall(SYS_close_range, (unsigned)p->closefrom, (unsigned)c->report - 1, 0) < 0) goto fail;
  if (syscall(SYS_close_range, (unsigned)c->report + 1, ~0U, 0) < 0) goto fail;

  stage = CORRAL_STAGE_RLIMIT;
  for (i = 0; i < p->nrlim; i++) {
    struct rlimit cur, rl;
    if (getrlimit(p->rlim[i].resource, &cur) < 0) goto fail;
    rl.rlim_cur = rl.rlim_max = (rlim_t)p->rlim[i].value;
    /* CPU: XCPU at the limit, KILL a second later for a process that ignores XCPU. */
    if (p->rlim[i].resource == RLIMIT_CPU && (cur.rlim_max == RLIM_INFINITY || cur.rlim_max > rl.rlim_cur))
      rl.rlim_max = rl.rlim_cur + 1;
    if (setrlimit(p->rlim[i].resource, &rl) < 0) goto fail;
  }

  stage = CORRAL_STAGE_SIGNALS;
  if (sigprocmask(SIG_SETMASK, &c->mask, NULL) < 0) goto fail;
  stage = CORRAL_STAGE_EXEC;
  /* execvpe searches PATH as posix_spawnp does (this process's PATH, not envp's). */
  if (p->search) execvpe(p->argv[0], p->argv, p->envp ? p->envp : environ);
  else execve(p->argv[0], p->argv, p->envp ? p->envp : environ);
fail:;
  int rep[2] = { stage, errno };
  ssize_t n = write(c->report, rep, sizeof rep);
  (void)n;                                    /* nothing more to do about it: exit anyway */
  _exit(127);
}

int corral_clone_spawn(const corral_plan *p, pid_t *pid, int *pidfd, int *stage) {
  int rp[2], e;
  *stage = CORRAL_STAGE_CLONE;
  if (pipe2(rp, O_CLOEXEC) < 0) return errno;
  if (rp[1] < p->closefrom) {                 /* keep it out of the way of the child's dup2s */
    int fd = fcntl(rp[1], F_DUPFD_CLOEXEC, p->closefrom);
    if (fd < 0) { e = errno; close(rp[0]); close(rp[1]); return e; }
    close(rp[1]);
    rp[1] = fd;
  }
  struct child_ctx c = { .p = p, .report = rp[1] };
  sigemptyset(&c.mask);
  if (p->block_int) sigaddset(&c.mask, SIGINT);

  int fd = -1;
  struct clone3_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = CLONE3_PIDFD | CLONE3_VFORK | (p->cgroup_fd >= 0 ? CLONE3_INTO_CGROUP : 0);
  ca.pidfd = (uint64_t)(uintptr_t)&fd;
  ca.exit_signal = SIGCHLD;
  ca.cgroup = p->cgroup_fd >= 0 ? (uint64_t)p->cgroup_fd : 0;

  void *stack = MAP_FAILED;
  size_t stack_size = 0;
#ifdef HAVE_VM_CHILD
  if (!p->forklike) {
    /* execvpe puts a path buffer and, for a script without #!, a copy of argv on the stack. */
    size_t argc = 0;
    while (p->argv[argc]) argc++;
    long page = sysconf(_SC_PAGESIZE);
    stack_size = (128 * 1024 + (argc + 2) * sizeof(char *) + (size_t)page - 1) & ~((size_t)page - 1);
    stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED) { e = errno; close(rp[0]); close(rp[1]); return e; }
    ca.flags |= CLONE3_VM;
    ca.stack = (uint64_t)(uintptr_t)stack;
    ca.stack_size = stack_size;
  }
#endif

  sigset_t all, old;
  sigfillset(&all);
  if ((e = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0) {
    if (stack != MAP_FAILED) munmap(stack, stack_size);
    close(rp[0]); close(rp[1]);
    return e;
  }
  long r;
#ifdef HAVE_VM_CHILD
  if (stack != MAP_FAILED) {
    r = corral_clone3_vm(&ca, sizeof ca, child_main, &c);
    e = r < 0 ? (int)-r : 0;
  } else
#endif
  {
    r = syscall(SYS_clone3, &ca, sizeof ca);
    e = r < 0 ? errno : 0;
    if (r == 0) child_main(&c);               /* does not return */
  }
  /* Here the child has exec'd or exited (CLONE_VFORK). */
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (stack != MAP_FAILED) munmap(stack, stack_size);
  close(rp[1]);
  if (r < 0) { close(rp[0]); return e; }

  int rep[2];
  ssize_t n;
  do n = read(rp[0], rep, sizeof rep);
  while (n < 0 && errno == EINTR);
  e = errno;
  close(rp[0]);
  if (n == 0) {                               /* EOF: the exec closed the write end */
    *pid = (pid_t)r;
    *pidfd = fd;
    return 0;
  }
  if (n == (ssize_t)sizeof rep) { *stage = rep[0]; e = rep[1]; }
  else { *stage = CORRAL_STAGE_CLONE; if (n >= 0) e = EIO; }
  /* The child failed and exited (or cannot be heard): collect it. */
  if (n != (ssize_t)sizeof rep) syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
  siginfo_t si;
  while (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED) < 0 && errno == EINTR) {}
  close(fd);
  return e;
}
