/* plan.h: what a command's child must look like, parsed once from core.spawn's options and
 * carried out either by posix_spawn (spawn.c, the default) or by the clone3 child of clone.c
 * (tasks with a cgroup or rlimits). */
#ifndef CORRAL_PLAN_H
#define CORRAL_PLAN_H

#include "core.h"

#include <sys/types.h>

enum { CORRAL_IO_INHERIT, CORRAL_IO_OPEN, CORRAL_IO_DUP };

typedef struct {
  int kind;              /* CORRAL_IO_* */
  int fd;                /* DUP: the source fd */
  const char *path;      /* OPEN: opened with flags, mode 0666 */
  int flags;
} corral_io;

#define CORRAL_MAXJOIN 4
#define CORRAL_MAXRLIM 4

typedef struct {
  char **argv, **envp;   /* envp NULL: this process's environ */
  const char *cwd;       /* NULL: inherited */
  int setsid, block_int, search;
  corral_io io[3];       /* fds 0, 1, 2, set up in this order */
  int fdmap[CORRAL_MAXFDS][2], nfd;   /* then fdmap[i][1] -> fdmap[i][0], in order */
  int closefrom;         /* then every fd >= closefrom is closed */
  /* clone path only */
  int cgroup_fd;         /* >= 0: born in this cgroup v2 directory (CLONE_INTO_CGROUP) */
  int join[CORRAL_MAXJOIN], njoin;    /* cgroup.procs files the child writes "0" to first */
  struct { int resource; unsigned long long value; } rlim[CORRAL_MAXRLIM];
  int nrlim;
  int forklike;          /* use the fork-like clone3 child even where the CLONE_VM one exists */
} corral_plan;

/* What failed in a clone child (reported with its errno). */
enum { CORRAL_STAGE_NONE, CORRAL_STAGE_JOIN, CORRAL_STAGE_SESSION, CORRAL_STAGE_SIGNALS,
       CORRAL_STAGE_STDIO, CORRAL_STAGE_FDS, CORRAL_STAGE_CWD, CORRAL_STAGE_CLOSE,
       CORRAL_STAGE_RLIMIT, CORRAL_STAGE_EXEC, CORRAL_STAGE_CLONE };

/* Start the plan's child with clone3 (clone.c). Returns 0 and sets *pid, *pidfd, or returns an
 * errno with *stage saying which step failed (nothing is left running then). */
int corral_clone_spawn(const corral_plan *p, pid_t *pid, int *pidfd, int *stage);

#endif
