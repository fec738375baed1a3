/* pingpong: the floor for a round trip to a worker process. Parent and child exchange a
 * 32-byte message over two pipes, one message in flight; prints the p50 and p99 of N round
 * trips (after N/10 warm-up ones) in µs: "<p50> <p99>".
 * usage: pingpong N */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void xfer(int fd, char *buf, int rd) {
  ssize_t off = 0;
  while (off < 32) {
    ssize_t n = rd ? read(fd, buf + off, 32 - off) : write(fd, buf + off, 32 - off);
    if (n <= 0) _exit(1);
    off += n;
  }
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000, warm = n / 10;
  int to[2], from[2];
  if (pipe(to) < 0 || pipe(from) < 0) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    char buf[32];
    close(to[1]); close(from[0]);
    for (int i = 0; i < n + warm; i++) { xfer(to[0], buf, 1); xfer(from[1], buf, 0); }
    _exit(0);
  }
  close(to[0]); close(from[1]);
  char buf[32] = "ping";
  double *rt = malloc(sizeof(double) * (size_t)n);
  for (int i = 0; i < n + warm; i++) {
    double t = now();
    xfer(to[1], buf, 0);
    xfer(from[0], buf, 1);
    if (i >= warm) rt[i - warm] = (now() - t) * 1e6;
  }
  waitpid(pid, NULL, 0);
  qsort(rt, (size_t)n, sizeof *rt, cmp);
  printf("%.0f %.0f\n", rt[(n + 1) / 2 - 1], rt[(n * 99 + 99) / 100 - 1]);
  return 0;
}
