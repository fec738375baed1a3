/* spawn_loop: the raw floor for launching commands. Runs argv N times with K in flight,
 * posix_spawn each, reaps only its own pids (waitpid on each pid, never -1).
 * usage: spawn_loop N K prog [args...]
 * prints "<tasks> <seconds> <nonzero exits> <own CPU µs per task>" (own: this process only,
 * not the commands). */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: spawn_loop N K prog [args...]\n"); return 2; }
  long n = atol(argv[1]), k = atol(argv[2]);
  if (n < 1 || k < 1 || k > 4096) { fprintf(stderr, "bad N or K\n"); return 2; }
  pid_t *slot = calloc((size_t)k, sizeof *slot);
  long started = 0, done = 0, nonzero = 0, running = 0;
  double t0 = now();
  while (done < n) {
    while (running < k && started < n) {
      long i = 0;
      while (slot[i]) i++;
      pid_t pid;
      int e = posix_spawn(&pid, argv[3], NULL, NULL, argv + 3, environ);
      if (e) { fprintf(stderr, "posix_spawn: %s\n", strerror(e)); return 1; }
      slot[i] = pid; running++; started++;
    }
    /* reap whichever of our pids ended; block on the oldest only when none has */
    int st, reaped = 0;
    for (long i = 0; i < k; i++) {
      if (slot[i] && waitpid(slot[i], &st, WNOHANG) == slot[i]) {
        slot[i] = 0; running--; done++; reaped++;
        if (!WIFEXITED(st) || WEXITSTATUS(st)) nonzero++;
      }
    }
    if (!reaped) {
      long i = 0;
      while (!slot[i]) i++;
      if (waitpid(slot[i], &st, 0) == slot[i]) {
        slot[i] = 0; running--; done++;
        if (!WIFEXITED(st) || WEXITSTATUS(st)) nonzero++;
      }
    }
  }
  double secs = now() - t0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  printf("%ld %.6f %ld %.0f\n", n, secs, nonzero, cpu * 1e6 / n);
  return 0;
}
