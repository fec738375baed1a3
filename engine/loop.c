/* loop: the descriptors an event loop is made of, as plain integers for the Lua loop:
 * epoll (readiness), timerfd (the next deadline, so the epoll fd alone tells a host when corral
 * has work), signalfd (INT/TERM/HUP become readable events instead of handlers), and
 * non-blocking reads and writes. No logic runs in a signal handler: there is none. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAXEVENTS 64

static int checkfd(lua_State *L, int arg) {
  lua_Integer fd = luaL_checkinteger(L, arg);
  luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, arg, "bad file descriptor");
  return (int)fd;
}

static int l_epoll_create(lua_State *L) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return corral_oserror(L, "epoll_create1");
  lua_pushinteger(L, ep);
  return 1;
}

/* epoll_add(ep, fd [, "w" | "p"]): watch fd for reading (or writing, or "p": priority events,
 * as a cgroup.events file gives when it changes); the fd itself is the token. */
static int l_epoll_add(lua_State *L) {
  int ep = checkfd(L, 1), fd = checkfd(L, 2);
  const char *mode = luaL_optstring(L, 3, "r");
  uint32_t events = mode[0] == 'w' ? EPOLLOUT : mode[0] == 'p' ? EPOLLPRI : EPOLLIN;
  struct epoll_event ev = { .events = events, .data.fd = fd };
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) return corral_oserror(L, "epoll_ctl");
  lua_pushboolean(L, 1);
  return 1;
}

static int l_epoll_del(lua_State *L) {
  int ep = checkfd(L, 1), fd = checkfd(L, 2);
  if (epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) < 0) return corral_oserror(L, "epoll_ctl");
  lua_pushboolean(L, 1);
  return 1;
}

/* epoll_wait(ep, ms) -> fd, fd, ... of the ready descriptors (none on timeout or EINTR).
 * epoll_wait(ep, ms, out) -> n: the fds in out[1..n] instead (the loop's one table, reused at
 * every step rather than a table.pack of the results each time). */
static int l_epoll_wait(lua_State *L) {
  int ep = checkfd(L, 1);
  int ms = (int)luaL_optinteger(L, 2, -1);
  int out = !lua_isnoneornil(L, 3);
  if (out) luaL_checktype(L, 3, LUA_TTABLE);
  struct epoll_event ev[MAXEVENTS];
  int n = epoll_wait(ep, ev, MAXEVENTS, ms);
  if (n < 0) {
    if (errno != EINTR) return corral_oserror(L, "epoll_wait");
    n = 0;
  }
  if (out) {
    for (int i = 0; i < n; i++) {
      lua_pushinteger(L, ev[i].data.fd);
      lua_rawseti(L, 3, i + 1);
    }
    lua_pushinteger(L, n);
    return 1;
  }
  luaL_checkstack(L, n, "too many events");
  for (int i = 0; i < n; i++) lua_pushinteger(L, ev[i].data.fd);
  return n;
}

static int l_timerfd_create(lua_State *L) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (fd < 0) return corral_oserror(L, "timerfd_create");
  lua_pushinteger(L, fd);
  return 1;
}

/* timerfd_set(fd, deadline): arm for a monotonic time in seconds (as core.now()); nil disarms. */
static int l_timerfd_set(lua_State *L) {
  int fd = checkfd(L, 1);
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  if (!lua_isnoneornil(L, 2)) {
    double t = luaL_checknumber(L, 2);
    if (t <= 0) t = 1e-9;  /* zero would disarm */
    its.it_value.tv_sec = (time_t)t;
    its.it_value.tv_nsec = (long)((t - (double)its.it_value.tv_sec) * 1e9);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  }
  if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) return corral_oserror(L, "timerfd_settime");
  lua_pushboolean(L, 1);
  return 1;
}

static sigset_t saved_mask;
static int catching = -1;

static int sigset_from(lua_State *L, int arg, sigset_t *set) {
  luaL_checktype(L, arg, LUA_TTABLE);
  sigemptyset(set);
  lua_Integer n = luaL_len(L, arg);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, arg, i);
    sigaddset(set, corral_checksignal(L, lua_gettop(L)));
    lua_pop(L, 1);
  }
  return 0;
}

/* sigcatch({"INT", "TERM", "HUP"}) -> fd: block those signals and read them from a signalfd.
 * One catcher at a time; sigrelease restores the mask that was in force before. */
static int l_sigcatch(lua_State *L) {
  sigset_t set;
  sigset_from(L, 1, &set);
  if (catching >= 0) return luaL_error(L, "signals are already being caught");
  int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return corral_oserror(L, "signalfd");
  if (sigprocmask(SIG_BLOCK, &set, &saved_mask) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return corral_oserror(L, "sigprocmask");
  }
  catching = fd;
  lua_pushinteger(L, fd);
  return 1;
}

/* sigread(fd) -> signo, signo, ... (nothing when none is pending) */
static int l_sigread(lua_State *L) {
  int fd = checkfd(L, 1);
  struct signalfd_siginfo si[16];
  ssize_t n = read(fd, si, sizeof si);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return 0;
    return corral_oserror(L, "read signalfd");
  }
  int k = (int)(n / (ssize_t)sizeof si[0]);
  for (int i = 0; i < k; i++) lua_pushinteger(L, si[i].ssi_signo);
  return k;
}

static int l_sigrelease(lua_State *L) {
  int fd = checkfd(L, 1);
  if (fd != catching) return luaL_argerror(L, 1, "not the signal catcher");
  catching = -1;
  close(fd);
  if (sigprocmask(SIG_SETMASK, &saved_mask, NULL) < 0) return corral_oserror(L, "sigprocmask");
  lua_pushboolean(L, 1);
  return 1;
}

/* read(fd [, max]) -> data | "" at end of file | false when nothing is ready
 *                  | fail, message, errno */
#define SCRATCH 65536
static char scratch_key;

/* A per-state read buffer: a fresh 64 KiB block per read made malloc the hot spot. */
static char *scratch(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &scratch_key) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    lua_newuserdatauv(L, SCRATCH, 0);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &scratch_key);
  }
  char *p = lua_touserdata(L, -1);
  lua_pop(L, 1);  /* still referenced by the registry */
  return p;
}

static int l_read(lua_State *L) {
  int fd = checkfd(L, 1);
  lua_Integer max = luaL_optinteger(L, 2, SCRATCH);
  luaL_argcheck(L, max > 0 && max <= (1 << 24), 2, "size out of range");
  luaL_Buffer b;
  char *p = max <= SCRATCH ? scratch(L) : luaL_buffinitsize(L, &b, (size_t)max);
  ssize_t n;
  do n = read(fd, p, (size_t)max);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) { lua_pushboolean(L, 0); return 1; }
    return corral_oserror(L, "read");
  }
  if (max <= SCRATCH) lua_pushlstring(L, p, (size_t)n);
  else luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

/* write(fd, data [, offset]) -> bytes written (0 when the fd is full) | fail, message, errno */
/* write() to a pipe whose reader is gone must return EPIPE, not kill the host with SIGPIPE:
 * block SIGPIPE around the write and consume the one it raised, unless one was already
 * pending for someone else (the method of libcurl's and git's SIGPIPE-safe writes). */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len) {
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0) return write(fd, buf, len);
  /* Only a SIGPIPE blocked before can be pending now (one not blocked was delivered or
   * discarded): the sigpending call is saved in the usual case. */
  int was_pending = sigismember(&old, SIGPIPE) && sigpending(&pending) == 0 &&
                    sigismember(&pending, SIGPIPE);
  ssize_t n;
  do n = write(fd, buf, len);
  while (n < 0 && errno == EINTR);
  int saved = errno;
  if (n < 0 && errno == EPIPE && !was_pending) {
    static const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = saved;
  return n;
}

/* The bytes to write or send: s (argument 2) from offset (argument 3); *len gets how many. */
static const char *checkbytes(lua_State *L, size_t *len) {
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  lua_Integer off = luaL_optinteger(L, 3, 0);
  luaL_argcheck(L, off >= 0 && (size_t)off <= n, 3, "offset out of range");
  *len = n - (size_t)off;
  return s + off;
}

/* What write and send return: the bytes taken, 0 when it would block, or the error. */
static int written(lua_State *L, ssize_t n, const char *what) {
  if (n < 0) {
    if (errno == EAGAIN) { lua_pushinteger(L, 0); return 1; }
    return corral_oserror(L, what);
  }
  lua_pushinteger(L, n);
  return 1;
}

/* write(fd, s [, offset [, sigpipe]]) -> bytes written (0: would block) | nil, msg, errno.
 * A reader that is gone gives EPIPE, unless sigpipe: then SIGPIPE as for any plain write. */
static int l_write(lua_State *L) {
  int fd = checkfd(L, 1);
  size_t len;
  const char *s = checkbytes(L, &len);
  ssize_t n;
  if (lua_toboolean(L, 4)) {  /* sigpipe: a plain write (a worker dies of its parent's end) */
    do n = write(fd, s, len);
    while (n < 0 && errno == EINTR);
  } else {
    n = write_nosigpipe(fd, s, len);
  }
  return written(L, n, "write");
}

/* send(fd, s [, offset]) -> bytes sent (0: would block) | nil, msg, errno: write on a socket
 * with MSG_NOSIGNAL, so a peer that is gone gives EPIPE without any SIGPIPE, and without the
 * two sigprocmask calls write() needs for that (a lua worker's task channel, one per task). */
static int l_send(lua_State *L) {
  int fd = checkfd(L, 1);
  size_t len;
  const char *s = checkbytes(L, &len);
  ssize_t n;
  do n = send(fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return written(L, n, "send");
}

static int l_close(lua_State *L) {
  int fd = checkfd(L, 1);
  if (close(fd) < 0 && errno != EINTR) return corral_oserror(L, "close");
  lua_pushboolean(L, 1);
  return 1;
}

/* pipe() -> read_fd, write_fd (both close-on-exec; the read end non-blocking) */
static int l_pipe(lua_State *L) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return corral_oserror(L, "pipe");
  if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    errno = e;
    return corral_oserror(L, "fcntl");
  }
  lua_pushinteger(L, p[0]);
  lua_pushinteger(L, p[1]);
  return 2;
}

/* socketpair() -> fd_a, fd_b: a stream pair, close-on-exec; a is non-blocking (the parent's end). */
static int l_socketpair(lua_State *L) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return corral_oserror(L, "socketpair");
  if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
    int e = errno;
    close(sv[0]);
    close(sv[1]);
    errno = e;
    return corral_oserror(L, "fcntl");
  }
  lua_pushinteger(L, sv[0]);
  lua_pushinteger(L, sv[1]);
  return 2;
}

/* set_blocking(fd, bool) */
static int l_set_blocking(lua_State *L) {
  int fd = checkfd(L, 1);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return corral_oserror(L, "fcntl");
  fl = lua_toboolean(L, 2) ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK);
  if (fcntl(fd, F_SETFL, fl) < 0) return corral_oserror(L, "fcntl");
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg loop_funcs[] = {
  {"epoll_create", l_epoll_create}, {"epoll_add", l_epoll_add},
  {"epoll_del", l_epoll_del}, {"epoll_wait", l_epoll_wait},
  {"timerfd_create", l_timerfd_create}, {"timerfd_set", l_timerfd_set},
  {"sigcatch", l_sigcatch}, {"sigread", l_sigread}, {"sigrelease", l_sigrelease},
  {"read", l_read}, {"write", l_write}, {"close", l_close},
  {"pipe", l_pipe}, {"socketpair", l_socketpair}, {"send", l_send}, {"set_blocking", l_set_blocking},
  {NULL, NULL}
};

void corral_open_loop(lua_State *L) {
  luaL_setfuncs(L, loop_funcs, 0);
}
