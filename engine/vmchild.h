/* vmchild.h: a child that shares this process's memory (clone3 with CLONE_VM), running a C
 * function on a stack of its own: clone.c's command child (CLONE_VFORK: the parent waits for
 * its exec) and watchdog.c's lifeline watchdog (no CLONE_VFORK: it lives beside its owner). */
#ifndef CORRAL_VMCHILD_H
#define CORRAL_VMCHILD_H

#include <stddef.h>
#include <stdint.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define CLONE3_VM 0x00000100ULL
#define CLONE3_VFORK 0x00004000ULL
#define CLONE3_PIDFD 0x00001000ULL
#define CLONE3_INTO_CGROUP 0x200000000ULL

/* struct clone_args of <linux/sched.h>, version 2 (kernel >= 5.7: the cgroup field). */
struct clone3_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
           set_tid, set_tid_size, cgroup;
};

#if defined(__x86_64__)
#define HAVE_VM_CHILD 1
/* clone3; in the child (on args->stack) call fn(arg) and exit with its value; in the parent
 * return the pid or -errno (clone.c). */
__attribute__((visibility("hidden")))
long corral_clone3_vm(struct clone3_args *args, size_t size, int (*fn)(void *), void *arg);
#endif

/* The child's code touches a stack the sanitizers know nothing about: keep it uninstrumented. */
#if defined(__GNUC__)
#define CHILD_CODE __attribute__((noinline, no_sanitize("address", "undefined")))
#else
#define CHILD_CODE
#endif

#endif
