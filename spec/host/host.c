/* A Lua host with its own event loop, its own SIGCHLD handler and its own child processes,
 * driving corral only through loop():pollfd(), timeout() and step(0) (spec/loop/embedding_spec).
 *
 * Usage: host [--steal] SCRIPT.lua. With --steal the handler reaps every child with
 * waitpid(-1) — the mistake embedding.md warns about — to show what corral records then. The script returns a table { start = fn, done = fn, report = fn }:
 * start() is called once (it may start corral.go coroutines), then the host polls corral's
 * fd and its own self-pipe until done() is true, then prints report(). Meanwhile the host
 * forks `sh -c 'sleep 0.3; exit 7'` children of its own and reaps them by pid from its
 * SIGCHLD handler's self-pipe: corral must never reap them, and must not lose its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NKIDS 3

static int selfpipe[2];
static int steal;

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  if (steal)
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
  ssize_t r = write(selfpipe[1], "c", 1);
  (void)r;
  errno = saved;
}

static void die(lua_State *L, const char *what) {
  fprintf(stderr, "host: %s: %s\n", what, L ? lua_tostring(L, -1) : strerror(errno));
  exit(2);
}

/* Call method `name` of the table at index 1 with no arguments, leaving its result. */
static void call(lua_State *L, const char *name) {
  lua_getfield(L, 1, name);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) die(L, name);
}

static double number_of(lua_State *L, const char *expr) {
  if (luaL_dostring(L, expr) != LUA_OK) die(L, expr);
  double v = lua_isnil(L, -1) ? -1 : lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--steal") == 0) {
    steal = 1;
    argv++;
    argc--;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: host [--steal] SCRIPT.lua\n");
    return 2;
  }
  if (pipe2(selfpipe, O_CLOEXEC | O_NONBLOCK) < 0) die(NULL, "pipe2");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  if (sigaction(SIGCHLD, &sa, NULL) < 0) die(NULL, "sigaction");

  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_dofile(L, argv[1]) != LUA_OK) die(L, argv[1]);
  if (!lua_istable(L, -1)) {
    fprintf(stderr, "host: script must return a table\n");
    return 2;
  }
  lua_settop(L, 1);   /* the script's table stays at index 1 */

  int nkids = steal ? 0 : NKIDS;
  pid_t kids[NKIDS];
  int kid_status[NKIDS];
  for (int i = 0; i < nkids; i++) {
    kids[i] = fork();
    if (kids[i] < 0) die(NULL, "fork");
    if (kids[i] == 0) {
      execl("/bin/sh", "sh", "-c", "sleep 0.3; exit 7", (char *)NULL);
      _exit(127);
    }
    kid_status[i] = -1;
  }

  call(L, "start");
  lua_pop(L, 1);
  int pfd = (int)number_of(L, "return require('corral').loop():pollfd()");
  int steps = 0, kids_left = nkids;
  for (;;) {
    call(L, "done");
    int done = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (done && kids_left == 0) break;
    double t = number_of(L, "return require('corral').loop():timeout()");
    int ms = t < 0 ? 1000 : (int)(t * 1000) + 1;
    struct pollfd fds[2] = {{pfd, POLLIN, 0}, {selfpipe[0], POLLIN, 0}};
    int n = poll(fds, 2, ms);
    if (n < 0 && errno != EINTR) die(NULL, "poll");
    if (n > 0 && (fds[1].revents & POLLIN)) {
      char buf[64];
      while (read(selfpipe[0], buf, sizeof buf) > 0) {}
      for (int i = 0; i < nkids; i++) {   /* our own children only, by pid */
        if (kid_status[i] != -1) continue;
        int st;
        pid_t r = waitpid(kids[i], &st, WNOHANG);
        if (r == kids[i]) {
          kid_status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
          kids_left--;
        }
      }
    }
    if (luaL_dostring(L, "require('corral').loop():step(0)") != LUA_OK) die(L, "step");
    steps++;
  }
  for (int i = 0; i < nkids; i++) printf("HOSTCHILD %d\n", kid_status[i]);
  call(L, "report");
  printf("%s\n", lua_tostring(L, -1));
  printf("STEPS %d\n", steps > 0);
  lua_close(L);
  return 0;
}
