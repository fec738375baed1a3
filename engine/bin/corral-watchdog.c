/* corral-watchdog: the far end of corral.launch.lifeline, a small program of its own (the
 * lifeline posix_spawns it from beside corral/core.so: no interpreter to start, no copy of the
 * owner's memory).
 *
 *   corral-watchdog [LUA ARGV...]
 *
 * stdin is a pipe nobody writes to: EOF means the owner is gone (exited, crashed or
 * SIGKILLed: the kernel closed its write end). fd 3 is the owner's slots memfd (engine/slots.c:
 * int32 values). Then every process group registered there (a value > 1) is sent TERM and
 * CONT, given up to 200 ms to go, then KILL. When the slots also hold a task cgroup, a Slurm
 * job or the cgroup-parent mark (negative values: corral.launch.lifeline), those need the Lua
 * side: it execs LUA ARGV (corral.launch.watchdog.main), which reads fd 3 again.
 *
 * INT, TERM and HUP are blocked (held pending, never acted on; still blocked in LUA ARGV): a
 * terminal cannot send them to another session, so they come only from someone signalling
 * every process, and dying then would leave the owner's groups unguarded. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Does group g still have a member we may signal? (Zombies count: they go when reaped.) */
static int alive(int32_t g) {
  return kill(-(pid_t)g, 0) == 0;
}

int main(int argc, char **argv) {
  sigset_t held;
  sigemptyset(&held);
  sigaddset(&held, SIGINT);
  sigaddset(&held, SIGTERM);
  sigaddset(&held, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &held, NULL) < 0) return 71;
  int fl = fcntl(0, F_GETFL);       /* the lifeline's pipe ends are non-blocking: this read blocks */
  if (fl < 0 || fcntl(0, F_SETFL, fl & ~O_NONBLOCK) < 0) return 71;
  char buf[512];
  for (;;) {
    ssize_t r = read(0, buf, sizeof buf);
    if (r == 0 || (r < 0 && errno != EINTR)) break;
  }
  struct stat st;
  if (fstat(3, &st) < 0) return 71;
  size_t size = (size_t)st.st_size, got = 0;
  int32_t *v = malloc(size ? size : 1);
  if (!v) return 71;
  while (got < size) {
    ssize_t r = pread(3, (char *)v + got, size - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  size_t n = 0, total = got / sizeof *v;
  int lua = 0;
  for (size_t i = 0; i < total; i++) {
    if (v[i] > 1) v[n++] = v[i];
    else if (v[i] < 0) lua = 1;
  }
  /* kill's errors are not checked: a group already gone is what we want */
  for (size_t i = 0; i < n; i++) {
    kill(-(pid_t)v[i], SIGTERM);
    kill(-(pid_t)v[i], SIGCONT);    /* a stopped group acts on TERM only once continued */
  }
  double deadline = now() + 0.2;
  size_t left = n;
  while (left > 0 && now() < deadline) {
    struct timespec tick = { 0, 5000000 };
    nanosleep(&tick, NULL);
    size_t k = 0;
    for (size_t i = 0; i < left; i++)
      if (alive(v[i])) v[k++] = v[i];
    left = k;
  }
  for (size_t i = 0; i < left; i++) kill(-(pid_t)v[i], SIGKILL);
  if (lua && argc > 1) {
    execvp(argv[1], argv + 1);
    return 127;
  }
  return 0;
}
