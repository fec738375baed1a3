/* fdpass: what the lua fork server (start = "forkserver") needs from the kernel.
 *
 * The pool owner sends the server a worker's two pipe ends over a unix socket (SCM_RIGHTS);
 * the server forks the worker with CLONE_PARENT, so the worker is the owner's child, not the
 * server's: the owner opens its pidfd, reaps it with waitid(P_PIDFD) like any other worker,
 * and its pid cannot be reused before the owner has reaped it. The server never waits for
 * anything it forks. */
#include "core.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXPASS 16       /* fds per message */

/* seqpacket_pair() -> fd_a, fd_b: a SOCK_SEQPACKET unix pair, both blocking and close-on-exec.
 * Message boundaries are kept, and a peer's end (even by SIGKILL) reads as EOF. */
static int l_seqpacket_pair(lua_State *L) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return corral_oserror(L, "socketpair");
  lua_pushinteger(L, sv[0]);
  lua_pushinteger(L, sv[1]);
  return 2;
}

/* send_fds(sock, data, { fd, ... }) -> true | fail, message, errno
 * One message: data (at least one byte) with the fds attached. MSG_NOSIGNAL: a gone peer is
 * EPIPE, not a SIGPIPE. */
static int l_send_fds(lua_State *L) {
  int sock = (int)luaL_checkinteger(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  luaL_argcheck(L, len > 0, 2, "empty message");
  int fds[MAXPASS], n = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer m = luaL_len(L, 3);
    luaL_argcheck(L, m <= MAXPASS, 3, "too many fds");
    for (lua_Integer i = 1; i <= m; i++) {
      lua_rawgeti(L, 3, i);
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > INT32_MAX)
        return luaL_argerror(L, 3, "list of fds expected");
      fds[n++] = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
  }
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int) * MAXPASS)]; } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (n > 0) {
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
  }
  ssize_t r;
  do r = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0) return corral_oserror(L, "sendmsg");
  if ((size_t)r != len) {       /* a seqpacket send is all or nothing; a stream one may not be */
    errno = EMSGSIZE;
    return corral_oserror(L, "sendmsg");
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* recv_fds(sock, maxbytes) -> data, { fd, ... } | "" at EOF | fail, message, errno
 * The fds arrive close-on-exec. A message longer than maxbytes, or with more fds than fit, is
 * an error (EMSGSIZE) and whatever fds did arrive are closed. */
static int l_recv_fds(lua_State *L) {
  int sock = (int)luaL_checkinteger(L, 1);
  lua_Integer max = luaL_checkinteger(L, 2);
  luaL_argcheck(L, max > 0 && max <= (1 << 24), 2, "out of range");
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, (size_t)max);
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int) * MAXPASS)]; } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = { .iov_base = p, .iov_len = (size_t)max };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf };
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0) return corral_oserror(L, "recvmsg");
  int fds[MAXPASS], n = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (n < MAXPASS) fds[n++] = fd; else close(fd);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    for (int i = 0; i < n; i++) close(fds[i]);
    errno = EMSGSIZE;
    return corral_oserror(L, "recvmsg");
  }
  luaL_pushresultsize(&b, (size_t)r);
  if (r == 0 && n == 0) return 1;       /* EOF: the peer closed its end */
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushinteger(L, fds[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 2;
}

/* clone3's arguments, version 0 (64 bytes; kernel 5.3). Declared here: <linux/sched.h> and
 * glibc's <sched.h> clash on the CLONE_* macros. */
struct clone_args_v0 {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* A fork whose child is a child of our parent. Returns 0 in the child, its pid here, -1 with
 * errno. No CLONE_VM and no stack: the child runs on a copy of this stack, as after fork().
 * The child's exit signal is our own (the kernel takes it from the caller when CLONE_PARENT
 * is set, and clone3 requires exit_signal 0): the server is posix_spawned, so it is SIGCHLD
 * and the parent's waitid() sees the child without __WCLONE. */
static pid_t clone_parent(void) {
#ifdef SYS_clone3
  struct clone_args_v0 args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_PARENT;
  long r = syscall(SYS_clone3, &args, sizeof args);
  if (r >= 0 || errno != ENOSYS) return (pid_t)r;
#endif
  /* No clone3 (an old kernel, or a seccomp filter that hides it): the classic clone, whose
   * stack, tid and tls arguments are all 0 here, so only s390's swapped order matters. */
#if defined(__s390__) || defined(__CRIS__)
  return (pid_t)syscall(SYS_clone, 0, CLONE_PARENT | SIGCHLD, 0, 0, 0);
#else
  return (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
#endif
}

/* fork_parent({ [n] = fd, ... }) -> 0 in the child | pid here | fail, message, errno
 * For the fork server only: like fork_worker (a new process group, default signals, an empty
 * mask, the fds moved to n, every other fd above 2 closed) but the child is our parent's.
 * The raw clone skips glibc's fork bookkeeping (atfork handlers, lock resets): that is safe
 * in a single-threaded process, which the server is (preload modules must not start
 * threads). The child's own setpgid can lag behind our return: the new parent calls
 * setpgid(pid, pid) too, as fork_worker's parent does. */
static int l_fork_parent(lua_State *L) {
  int map[CORRAL_MAXFDS][2], top;
  int n = corral_checkfdmap(L, 1, "fork_parent", map, &top);
  const char *what = "clone";
  pid_t pid = corral_fork_child(clone_parent, map, n, top, &what);
  if (pid == 0) {
    lua_pushinteger(L, 0);
    return 1;
  }
  if (pid < 0) return corral_oserror(L, what);
  lua_pushinteger(L, pid);
  return 1;
}

/* pidfd_open(pid) -> pidfd | fail, message, errno (close-on-exec, blocking). */
static int l_pidfd_open(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  luaL_argcheck(L, pid > 0 && pid <= INT32_MAX, 1, "pid out of range");
  int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0) return corral_oserror(L, "pidfd_open");
  lua_pushinteger(L, fd);
  return 1;
}

/* setpgid(pid, pgid) -> true | fail, message, errno */
static int l_setpgid(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1), pgid = luaL_checkinteger(L, 2);
  luaL_argcheck(L, pid >= 0 && pid <= INT32_MAX, 1, "pid out of range");
  luaL_argcheck(L, pgid >= 0 && pgid <= INT32_MAX, 2, "pgid out of range");
  if (setpgid((pid_t)pid, (pid_t)pgid) < 0) return corral_oserror(L, "setpgid");
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg fdpass_funcs[] = {
  {"seqpacket_pair", l_seqpacket_pair},
  {"send_fds", l_send_fds},
  {"recv_fds", l_recv_fds},
  {"fork_parent", l_fork_parent},
  {"pidfd_open", l_pidfd_open},
  {"setpgid", l_setpgid},
  {NULL, NULL}
};

void corral_open_fdpass(lua_State *L) {
  luaL_setfuncs(L, fdpass_funcs, 0);
}
