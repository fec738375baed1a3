/* spawn: start a command in a new process group (or session) without forking the parent.
 *
 * posix_spawn in glibc uses clone(CLONE_VFORK), so the cost does not grow with the parent's
 * memory, and it reports exec and chdir failures as an error number. The child gets default
 * dispositions for every signal and an empty mask (a parent that ignores SIGINT must not make
 * its commands deaf to Ctrl-C), and sees no descriptor above the ones it was given.
 * A pidfd is opened for the child at once: the caller watches and reaps through it only.
 *
 * The options are parsed into a corral_plan (plan.h). posix_spawn carries it out by default;
 * a task that must be born in a cgroup or needs rlimits goes through clone.c instead, which
 * does what posix_spawn's file actions and attributes do, plus those. */
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAXFDMAP CORRAL_MAXFDS

typedef struct {
  corral_plan p;
  int pipes[3][2];        /* capture pipes for fd 0..2: [0] read end, [1] write end */
} spawn_state;

static void free_strv(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

static void state_cleanup(spawn_state *s, int close_parent_ends) {
  for (int i = 0; i < 3; i++) {
    int parent_end = i == 0 ? 1 : 0;
    if (s->pipes[i][1 - parent_end] >= 0) close(s->pipes[i][1 - parent_end]);
    if (close_parent_ends && s->pipes[i][parent_end] >= 0) close(s->pipes[i][parent_end]);
  }
  free_strv(s->p.argv);
  free_strv(s->p.envp);
}

/* Raise unless opts[field] is an array of strings without zero bytes (or absent, if allowed). */
static void check_strv(lua_State *L, int opts, const char *field, int required) {
  int t = lua_getfield(L, opts, field);
  if (t == LUA_TNIL && !required) { lua_pop(L, 1); return; }
  if (t != LUA_TTABLE)
    luaL_error(L, "bad option '%s' to 'spawn' (table expected, got %s)", field, luaL_typename(L, -1));
  lua_Integer n = luaL_len(L, -1);
  if (required && n < 1) luaL_error(L, "bad option '%s' to 'spawn' (empty)", field);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
      luaL_error(L, "bad option '%s' to 'spawn' (%s[%d] is %s, string expected)", field, field,
                 (int)i, luaL_typename(L, -1));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len) luaL_error(L, "bad option '%s' to 'spawn' (%s[%d] contains a zero byte)", field, field, (int)i);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* A NULL-terminated copy of a checked string array (NULL when absent or out of memory). */
static char **copy_strv(lua_State *L, int opts, const char *field) {
  if (lua_getfield(L, opts, field) != LUA_TTABLE) { lua_pop(L, 1); return NULL; }
  lua_Integer n = luaL_len(L, -1);
  char **v = calloc((size_t)n + 1, sizeof(char *));
  for (lua_Integer i = 1; v && i <= n; i++) {
    lua_rawgeti(L, -1, i);
    v[i - 1] = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    if (!v[i - 1]) { free_strv(v); v = NULL; }
  }
  lua_pop(L, 1);
  return v;
}

/* How fd `target` of the child is set up, from opts.stdin/stdout/stderr:
 * "inherit" | "null" | "pipe" | an integer fd | a table { path = "...", append = bool }.
 * Path strings stay owned by the opts table (alive for the whole call). Returns 0 or an errno. */
static int setup_stdio(lua_State *L, int opts, spawn_state *s, int target, const char *field) {
  int t = lua_getfield(L, opts, field);
  corral_io *io = &s->p.io[target];
  io->kind = CORRAL_IO_INHERIT;
  if (t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "null") == 0) {
    io->kind = CORRAL_IO_OPEN;
    io->path = "/dev/null";
    io->flags = target == 0 ? O_RDONLY : O_WRONLY;
  } else if (t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "pipe") == 0) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) { lua_pop(L, 1); return errno; }
    s->pipes[target][0] = p[0];
    s->pipes[target][1] = p[1];
    int parent_end = target == 0 ? p[1] : p[0];
    if (fcntl(parent_end, F_SETFL, O_NONBLOCK) < 0) { lua_pop(L, 1); return errno; }
    io->kind = CORRAL_IO_DUP;
    io->fd = target == 0 ? p[0] : p[1];
  } else if (t == LUA_TNUMBER && lua_isinteger(L, -1)) {
    io->kind = CORRAL_IO_DUP;
    io->fd = (int)lua_tointeger(L, -1);
  } else if (t == LUA_TTABLE) {
    lua_getfield(L, -1, "path");
    io->kind = CORRAL_IO_OPEN;
    io->path = lua_tostring(L, -1);
    lua_getfield(L, -2, "append");
    int append = lua_toboolean(L, -1);
    lua_pop(L, 2);
    io->flags = target == 0 ? O_RDONLY : (O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC));
  }
  lua_pop(L, 1);
  return 0;
}

/* Raise on a malformed stdio option now, before spawn allocates anything. */
static void check_stdio(lua_State *L, int opts, const char *field) {
  int t = lua_getfield(L, opts, field);
  int ok = t == LUA_TNIL || (t == LUA_TNUMBER && lua_isinteger(L, -1));
  if (t == LUA_TSTRING) {
    const char *v = lua_tostring(L, -1);
    ok = !strcmp(v, "inherit") || !strcmp(v, "null") || !strcmp(v, "pipe");
  } else if (t == LUA_TTABLE) {
    ok = lua_getfield(L, -1, "path") == LUA_TSTRING;
    lua_pop(L, 1);
  }
  if (!ok) luaL_error(L, "bad option '%s' to 'spawn' (\"inherit\", \"null\", \"pipe\", fd or {path=} expected)", field);
  lua_pop(L, 1);
}

/* The clone-path options: cgroup = fd, join = { fd, ... }, rlimits = { cpu =, nofile =, as = }.
 * Raises on a malformed one; returns whether the clone path is asked for (they, or clone = true). */
static int check_clone_opts(lua_State *L, int opts, corral_plan *p) {
  int wanted = 0;
  p->cgroup_fd = -1;
  int t = lua_getfield(L, opts, "cgroup");
  if (t != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > 0x7fffffff)
      luaL_error(L, "bad option 'cgroup' to 'spawn' (directory fd expected)");
    p->cgroup_fd = (int)lua_tointeger(L, -1);
    wanted = 1;
  }
  lua_pop(L, 1);
  if (lua_getfield(L, opts, "join") != LUA_TNIL) {
    if (!lua_istable(L, -1) || luaL_len(L, -1) > CORRAL_MAXJOIN)
      luaL_error(L, "bad option 'join' to 'spawn' (list of up to %d fds expected)", CORRAL_MAXJOIN);
    for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
      lua_rawgeti(L, -1, i);
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > 0x7fffffff)
        luaL_error(L, "bad option 'join' to 'spawn' (join[%d] is not an fd)", (int)i);
      p->join[p->njoin++] = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    wanted = 1;
  }
  lua_pop(L, 1);
  if (lua_getfield(L, opts, "rlimits") != LUA_TNIL) {
    static const struct { const char *name; int resource; } lims[] = {
      { "cpu", RLIMIT_CPU }, { "nofile", RLIMIT_NOFILE }, { "as", RLIMIT_AS }, { "core", RLIMIT_CORE } };
    luaL_argexpected(L, lua_istable(L, -1), opts, "rlimits table");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      size_t i = 0;
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
      while (i < sizeof lims / sizeof lims[0] && strcmp(lims[i].name, k) != 0) i++;
      if (i == sizeof lims / sizeof lims[0] || !lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        luaL_error(L, "bad option 'rlimits' to 'spawn' ({ cpu|nofile|as|core = non-negative integer } expected)");
      p->rlim[p->nrlim].resource = lims[i].resource;
      p->rlim[p->nrlim].value = (unsigned long long)lua_tointeger(L, -1);
      p->nrlim++;
      lua_pop(L, 1);
    }
    wanted = 1;
  }
  lua_pop(L, 1);
  lua_getfield(L, opts, "clone");     /* true: the clone path anyway; "fork": its fork-like variant */
  wanted |= lua_toboolean(L, -1);
  p->forklike = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "fork") == 0;
  lua_pop(L, 1);
  return wanted;
}

/* posix_spawn reports one errno for its file actions and the exec alike, and the clone path one
 * stage for all three stdio files: find which path failed by trying each again here, in the
 * child's order (the opens, then the cwd). An open is repeated without O_TRUNC, so it either
 * fails as the child's did or finds the file the child had already made. Returns the culprit
 * as "stdin '/x'" (pushed on the stack) or NULL when each works here. */
static const char *which_path_failed(lua_State *L, const corral_plan *p, int check_cwd) {
  static const char *names[3] = {"stdin", "stdout", "stderr"};
  for (int i = 0; i < 3; i++) {
    if (p->io[i].kind != CORRAL_IO_OPEN) continue;
    int fd = open(p->io[i].path, (p->io[i].flags & ~O_TRUNC) | O_CLOEXEC | O_NOCTTY, 0666);
    if (fd < 0) return lua_pushfstring(L, "%s '%s'", names[i], p->io[i].path);
    (void)close(fd);                  /* a probe: nothing was written, nothing to lose */
  }
  struct stat st;
  if (check_cwd && p->cwd &&
      (stat(p->cwd, &st) != 0 || !S_ISDIR(st.st_mode) || access(p->cwd, X_OK) != 0))
    return lua_pushfstring(L, "cwd '%s'", p->cwd);
  return NULL;
}

/* The default path: posix_spawn with the plan as file actions and attributes. */
static int posix_path(corral_plan *p, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int err = posix_spawn_file_actions_init(&fa);
  if (err != 0) return err;
  for (int i = 0; i < 3 && err == 0; i++) {
    if (p->io[i].kind == CORRAL_IO_OPEN)
      err = posix_spawn_file_actions_addopen(&fa, i, p->io[i].path, p->io[i].flags, 0666);
    else if (p->io[i].kind == CORRAL_IO_DUP)
      err = posix_spawn_file_actions_adddup2(&fa, p->io[i].fd, i);
  }
  for (int i = 0; i < p->nfd && err == 0; i++)
    err = posix_spawn_file_actions_adddup2(&fa, p->fdmap[i][1], p->fdmap[i][0]);
  if (err == 0 && p->cwd) err = posix_spawn_file_actions_addchdir_np(&fa, p->cwd);
  if (err == 0) err = posix_spawn_file_actions_addclosefrom_np(&fa, p->closefrom);
  if (err == 0) err = posix_spawnattr_init(&attr);
  if (err != 0) { posix_spawn_file_actions_destroy(&fa); return err; }

  sigset_t def, mask;
  sigfillset(&def);
  sigemptyset(&mask);
  if (p->block_int) sigaddset(&mask, SIGINT);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (p->setsid ? POSIX_SPAWN_SETSID : POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setflags(&attr, flags);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setsigmask(&attr, &mask);
  err = (p->search ? posix_spawnp : posix_spawn)(pid, p->argv[0], &fa, &attr, p->argv, p->envp ? p->envp : environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  return err;
}

/* spawn(opts) -> pid, pidfd, stdin_w|false, stdout_r|false, stderr_r|false
 *             | fail, message, errno
 * opts: argv = {...} (required), path = true (search PATH), cwd, env = {"K=V", ...},
 *       stdin/stdout/stderr (see setup_stdio), setsid = bool, fds = { [n] = fd, ... } (n >= 3),
 *       block_int = bool (start with SIGINT blocked).
 * With cgroup = dirfd (born in that cgroup v2), join = { fd, ... } (cgroup.procs files the child
 * enters before exec: cgroup v1), rlimits = { cpu =, nofile =, as =, core = } or clone = true,
 * the child is started by clone3 (clone.c) instead of posix_spawn; same results and errors. */
static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  spawn_state s;
  memset(&s, 0, sizeof s);
  corral_plan *p = &s.p;
  for (int i = 0; i < 3; i++) s.pipes[i][0] = s.pipes[i][1] = -1;
  int err = 0, stage = CORRAL_STAGE_NONE;
  const char *what = NULL;
  p->closefrom = 3;

  lua_getfield(L, 1, "cwd");
  p->cwd = luaL_opt(L, lua_tostring, -1, NULL);
  lua_getfield(L, 1, "setsid");
  p->setsid = lua_toboolean(L, -1);
  lua_getfield(L, 1, "block_int");   /* start with SIGINT blocked (lua workers unblock it) */
  p->block_int = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "path");
  p->search = lua_isnil(L, -1) || lua_toboolean(L, -1);
  lua_pop(L, 2);  /* cwd stays on the stack so the string lives */

  /* Argument checks raise before anything is allocated that a raise would leak. */
  if (lua_getfield(L, 1, "fds") == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (!lua_isinteger(L, -2) || !lua_isinteger(L, -1) || lua_tointeger(L, -2) < 3 ||
          lua_tointeger(L, -2) > 4096 || p->nfd == MAXFDMAP)
        luaL_error(L, "bad option 'fds' to 'spawn' (up to %d integer pairs { [n >= 3] = fd })", MAXFDMAP);
      p->fdmap[p->nfd][0] = (int)lua_tointeger(L, -2);
      p->fdmap[p->nfd][1] = (int)lua_tointeger(L, -1);
      if (p->fdmap[p->nfd][0] + 1 > p->closefrom) p->closefrom = p->fdmap[p->nfd][0] + 1;
      p->nfd++;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  check_stdio(L, 1, "stdin");
  check_stdio(L, 1, "stdout");
  check_stdio(L, 1, "stderr");
  check_strv(L, 1, "argv", 1);
  check_strv(L, 1, "env", 0);
  int use_clone = check_clone_opts(L, 1, p);
  /* From here on nothing raises: failures go through state_cleanup. */
  p->argv = copy_strv(L, 1, "argv");
  if (!p->argv) { err = ENOMEM; what = "spawn"; goto fail; }
  if (lua_getfield(L, 1, "env") == LUA_TTABLE) {
    p->envp = copy_strv(L, 1, "env");
    if (!p->envp) { err = ENOMEM; what = "spawn"; lua_pop(L, 1); goto fail; }
  }
  lua_pop(L, 1);

  static const char *names[3] = {"stdin", "stdout", "stderr"};
  for (int i = 0; i < 3; i++)
    if ((err = setup_stdio(L, 1, &s, i, names[i])) != 0) { what = "spawn: stdio"; goto fail; }

  pid_t pid;
  int pidfd = -1;
  if (use_clone) {
    err = corral_clone_spawn(p, &pid, &pidfd, &stage);
  } else {
    err = posix_path(p, &pid);
    stage = CORRAL_STAGE_EXEC;
  }
  if (err != 0) {
    switch (stage) {
    case CORRAL_STAGE_EXEC:
      /* posix_spawn gives ENOENT for a missing stdin file, a bad cwd and a missing program
       * alike: name the path that failed. */
      if (use_clone || !(what = which_path_failed(L, p, 1))) what = lua_pushstring(L, p->argv[0]);
      break;
    case CORRAL_STAGE_CWD: what = lua_pushfstring(L, "cwd '%s'", p->cwd); break;
    case CORRAL_STAGE_STDIO:
      if (!(what = which_path_failed(L, p, 0))) what = "spawn: stdio";
      break;
    case CORRAL_STAGE_JOIN: what = "spawn: joining the cgroup"; break;
    case CORRAL_STAGE_RLIMIT: what = "spawn: rlimits"; break;
    case CORRAL_STAGE_CLONE: what = "clone3"; break;
    default: what = "spawn"; break;
    }
    goto fail;
  }
  if (pidfd < 0 && (pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
    err = errno;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    what = "pidfd_open";
    goto fail;
  }
  lua_pushinteger(L, pid);
  lua_pushinteger(L, pidfd);
  for (int i = 0; i < 3; i++) {
    int parent_end = s.pipes[i][i == 0 ? 1 : 0];
    if (parent_end >= 0) lua_pushinteger(L, parent_end); else lua_pushboolean(L, 0);
  }
  state_cleanup(&s, 0);
  return 5;

fail:
  state_cleanup(&s, 1);
  errno = err;
  return corral_oserror(L, what);
}

/* Parse the fd map { [n] = fd, ... } (n >= 3) at `arg` into map; raises naming `fname` on a bad
 * one. Returns the number of pairs; *top is the highest target (2 when there is none). */
int corral_checkfdmap(lua_State *L, int arg, const char *fname, int map[][2], int *top) {
  luaL_checktype(L, arg, LUA_TTABLE);
  int n = 0;
  *top = 2;
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    if (!lua_isinteger(L, -2) || !lua_isinteger(L, -1) || lua_tointeger(L, -2) < 3 ||
        lua_tointeger(L, -2) > 4096 || lua_tointeger(L, -1) < 0 || n == MAXFDMAP)
      return luaL_error(L, "bad argument #%d to '%s' (up to %d integer pairs { [n >= 3] = fd })",
                        arg, fname, MAXFDMAP);
    map[n][0] = (int)lua_tointeger(L, -2);
    map[n][1] = (int)lua_tointeger(L, -1);
    if (map[n][0] > *top) *top = map[n][0];
    n++;
    lua_pop(L, 1);
  }
  return n;
}

/* The child side of fork_worker and fork_parent, run right after the fork: a new process group,
 * default dispositions for the signals a Lua host may have caught or ignored, an empty mask,
 * map[i][1] moved to map[i][0], and every other fd above 2 closed. Only async-signal-safe calls.
 * Returns 0, or -1 with errno set (the caller _exits). */
int corral_child_setup(int map[][2], int n, int top) {
  corral_forget_pid();
  if (setpgid(0, 0) < 0) return -1;
  static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2 };
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (signal(sigs[i], SIG_DFL) == SIG_ERR) return -1;
  sigset_t empty;
  sigemptyset(&empty);
  if (sigprocmask(SIG_SETMASK, &empty, NULL) < 0) return -1;
  /* Move sources out of the way first so a source equal to another target is not clobbered. */
  for (int i = 0; i < n; i++)
    if ((map[i][1] = fcntl(map[i][1], F_DUPFD_CLOEXEC, top + 1)) < 0) return -1;
  for (int i = 0; i < n; i++)
    if (dup2(map[i][1], map[i][0]) < 0) return -1;
  for (int fd = 3; fd <= top; fd++) {     /* below top, only the targets stay open */
    int target = 0;
    for (int i = 0; i < n; i++) target |= map[i][0] == fd;
    if (!target && close(fd) < 0 && errno != EBADF) return -1;
  }
  if (syscall(SYS_close_range, (unsigned)top + 1, ~0U, 0) < 0) return -1;
  return 0;
}

/* A fork-like call (fork, or the fork server's clone with CLONE_PARENT) whose child is set up
 * with corral_child_setup. Signals stay blocked until the child has default dispositions: a
 * SIGINT in between must kill it, not run the host's handler (lua.c's would raise
 * "interrupted!" in the copy). Returns 0 in the child, the pid here, or -1 with errno set and
 * *what naming the failed call. */
pid_t corral_fork_child(pid_t (*forker)(void), int map[][2], int n, int top, const char **what) {
  fflush(NULL);                           /* nothing buffered is written twice */
  sigset_t all, old;
  sigfillset(&all);
  int err = pthread_sigmask(SIG_SETMASK, &all, &old);
  if (err != 0) {
    *what = "sigprocmask";
    errno = err;
    return -1;
  }
  pid_t pid = forker();
  if (pid == 0) {
    if (corral_child_setup(map, n, top) < 0) _exit(127);
    return 0;
  }
  int e = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = e;
  return pid;
}

/* fork_worker({ [n] = fd, ... }) -> 0 in the child | pid, pidfd in the parent | fail, msg, errno
 * For start = "fork" lua workers only: the child continues the caller's Lua state in a new
 * process group, with default signal dispositions, an empty mask, the given fds moved to n and
 * every other fd above 2 closed. Unsafe in a process with threads (documented). */
static int l_fork_worker(lua_State *L) {
  int map[MAXFDMAP][2], top;
  int n = corral_checkfdmap(L, 1, "fork_worker", map, &top);
  const char *what = "fork";
  pid_t pid = corral_fork_child(fork, map, n, top, &what);
  if (pid == 0) {
    lua_pushinteger(L, 0);
    return 1;
  }
  if (pid < 0) return corral_oserror(L, what);
  setpgid(pid, pid);   /* also from the parent: the group exists before anyone signals it */
  return corral_push_child(L, pid);
}

/* sigdefault({ names }): default disposition for each, then unblock them. A spawned lua
 * worker runs inside lua.c, whose SIGINT handler turns Ctrl-C into a Lua error: a worker must
 * die of the signal like any process, whatever its start method. */
static int l_sigdefault(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  sigset_t set;
  sigemptyset(&set);
  int n = (int)luaL_len(L, 1);
  for (int i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    int sig = corral_checksignal(L, -1);
    lua_pop(L, 1);
    if (signal(sig, SIG_DFL) == SIG_ERR) return corral_oserror(L, "signal");
    sigaddset(&set, sig);
  }
  if (pthread_sigmask(SIG_UNBLOCK, &set, NULL) != 0) return corral_oserror(L, "sigprocmask");
  lua_pushboolean(L, 1);
  return 1;
}

/* exit_now(code): _exit without flushing stdio or closing the Lua state (forked workers). */
static int l_exit_now(lua_State *L) {
  _exit((int)luaL_optinteger(L, 1, 0));
  return 0;
}

static const luaL_Reg spawn_funcs[] = {
  {"spawn", l_spawn},
  {"fork_worker", l_fork_worker},
  {"exit_now", l_exit_now},
  {"sigdefault", l_sigdefault},
  {NULL, NULL}
};

void corral_open_spawn(lua_State *L) {
  luaL_setfuncs(L, spawn_funcs, 0);
}
