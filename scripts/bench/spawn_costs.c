/* spawn_costs: what each of corral's spawn settings costs, one at a time, on top of the raw
 * loop (spawn_loop.c): N × /bin/true, 2 in flight, waitpid on own pids. Prints one line per
 * variant: "<name> <tasks/s> <µs in the parent per launch>" (medians of 5 rounds; the µs are
 * the time start() takes: posix_spawn, which waits for the vfork child to exec, plus the
 * variant's own calls). The variants add, cumulatively:
 *   plain    posix_spawn, nothing else (= spawn_loop)
 *   pgroup   POSIX_SPAWN_SETPGROUP (a process group per task)
 *   sigmask  POSIX_SPAWN_SETSIGMASK (empty mask)
 *   pipes    stdout and stderr to pipes (pipe2 + O_NONBLOCK, adddup2, parent closes its ends),
 *            plus addclosefrom_np(3)
 *   pidfd    pidfd_open per child, closed after the reap
 *   sigdef   POSIX_SPAWN_SETSIGDEF with every signal (what engine/spawn.c does: the vfork
 *            child makes one rt_sigaction per signal, ~64, while the parent waits)
 * usage: spawn_costs N */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
enum { PGROUP = 1, SIGMASK = 2, PIPES = 4, PIDFD = 8, SIGDEF = 16 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static pid_t start(int flags, int *pidfd, int ends[2]) {
  char *argv[] = { "/bin/true", NULL };
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_init(&fa);
  short f = 0;
  if (flags & PGROUP) { f |= POSIX_SPAWN_SETPGROUP; posix_spawnattr_setpgroup(&attr, 0); }
  if (flags & SIGMASK) { sigset_t m; sigemptyset(&m); f |= POSIX_SPAWN_SETSIGMASK; posix_spawnattr_setsigmask(&attr, &m); }
  if (flags & SIGDEF) {
    sigset_t d;
    sigfillset(&d);
    f |= POSIX_SPAWN_SETSIGDEF;
    posix_spawnattr_setsigdefault(&attr, &d);
  }
  posix_spawnattr_setflags(&attr, f);
  int p[2][2];
  if (flags & PIPES) {
    for (int i = 0; i < 2; i++) {
      if (pipe2(p[i], O_CLOEXEC) < 0) { perror("pipe2"); exit(1); }
      fcntl(p[i][0], F_SETFL, O_NONBLOCK);
      posix_spawn_file_actions_adddup2(&fa, p[i][1], i + 1);
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  }
  pid_t pid;
  int e = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
  if (e) { fprintf(stderr, "posix_spawn: %s\n", strerror(e)); exit(1); }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (flags & PIPES) {
    close(p[0][1]); close(p[1][1]);
    ends[0] = p[0][0]; ends[1] = p[1][0];
  } else ends[0] = ends[1] = -1;
  *pidfd = (flags & PIDFD) ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
  return pid;
}

static void reap(int i, pid_t *pid, int *pidfd, int ends[][2]) {
  pid[i] = 0;
  if (pidfd[i] >= 0) close(pidfd[i]);
  if (ends[i][0] >= 0) { close(ends[i][0]); close(ends[i][1]); }
}

static double spawn_time;   /* seconds spent in start(), the parent's side of one launch */

static double run(long n, int flags) {
  pid_t pid[2] = { 0, 0 };
  int pidfd[2], ends[2][2];
  long started = 0, done = 0;
  double t0 = now();
  while (done < n) {
    for (int i = 0; i < 2; i++)
      if (!pid[i] && started < n) {
        double t = now();
        pid[i] = start(flags, &pidfd[i], ends[i]);
        spawn_time += now() - t;
        started++;
      }
    /* as spawn_loop.c: reap whichever ended; block on one only when none has */
    int st, reaped = 0;
    for (int i = 0; i < 2; i++)
      if (pid[i] && waitpid(pid[i], &st, WNOHANG) == pid[i]) { reap(i, pid, pidfd, ends); done++; reaped++; }
    if (!reaped) {
      int i = pid[0] ? 0 : 1;
      if (waitpid(pid[i], &st, 0) == pid[i]) { reap(i, pid, pidfd, ends); done++; }
    }
  }
  return n / (now() - t0);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 5000;
  struct { const char *name; int flags; } v[] = {
    { "plain", 0 },
    { "pgroup", PGROUP },
    { "sigmask", PGROUP | SIGMASK },
    { "pipes", PGROUP | SIGMASK | PIPES },
    { "pidfd", PGROUP | SIGMASK | PIPES | PIDFD },
    { "sigdef", PGROUP | SIGMASK | PIPES | PIDFD | SIGDEF },
  };
  /* Rounds of n/ROUNDS tasks, every variant once per round, so drift on a shared VM hits all
   * variants alike; each variant's median round is printed. */
  enum { NV = sizeof v / sizeof v[0], ROUNDS = 5 };
  double r[NV][ROUNDS], us[NV][ROUNDS];
  for (int k = 0; k < ROUNDS; k++)
    for (size_t i = 0; i < NV; i++) {
      spawn_time = 0;
      r[i][k] = run(n / ROUNDS, v[i].flags);
      us[i][k] = spawn_time * 1e6 / (n / ROUNDS);
    }
  for (size_t i = 0; i < NV; i++) {
    for (int a = 1; a < ROUNDS; a++)
      for (int b = a; b > 0; b--) {
        double t;
        if (r[i][b - 1] > r[i][b]) { t = r[i][b]; r[i][b] = r[i][b - 1]; r[i][b - 1] = t; }
        if (us[i][b - 1] > us[i][b]) { t = us[i][b]; us[i][b] = us[i][b - 1]; us[i][b - 1] = t; }
      }
    printf("%s %.0f %.1f\n", v[i].name, r[i][ROUNDS / 2], us[i][ROUNDS / 2]);
  }
  return 0;
}
