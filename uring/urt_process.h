/* urt subprocesses: start a program, talk to it through pipes as ordinary
 * urt I/O, wait for it with a deadline, signal it, and never leave a zombie.
 *
 * Spawning uses posix_spawn (glibc's is clone(CLONE_VM|CLONE_VFORK) +
 * exec: safe in a process with threads and rings; never fork()). The child
 * gets default signal dispositions, an empty signal mask, and (unless
 * URT_PROC_KEEP_FDS) no file descriptors other than 0, 1 and 2.
 *
 * Ownership: the urt_process record owns the child's pidfd and the
 * parent's pipe ends. urt_process_release() frees it; if the child has not
 * been reaped by then, it is killed (SIGKILL) and reaped first. When the
 * loop that spawned it ends, every child not yet reaped is killed and
 * reaped as well, so a cancelled task never leaves a zombie behind (the
 * record itself stays valid until urt_process_release()).
 * A process forked after the spawn holds a copy of the record but the
 * child is not its own: there, neither urt_process_release() nor a new
 * loop's first spawn signals or reaps it (they close the copy's fds).
 *
 * Reaping goes through the child's pidfd only (waitid(P_PIDFD)): do not
 * reap urt's children with waitpid(-1, ...) elsewhere, and do not set
 * SIGCHLD to SIG_IGN (the kernel would reap them itself: waits fail with
 * -ECHILD). A process belongs to the loop that spawned it. */
#ifndef URT_PROCESS_H
#define URT_PROCESS_H

#include <stdint.h>
#include <sys/types.h>
#include "urt_core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct urt_process urt_process;

/* What a child's stdin, stdout or stderr is connected to. */
enum urt_stdio_mode {
	URT_STDIO_INHERIT = 0, /* the parent's own fd 0/1/2 */
	URT_STDIO_PIPE,        /* a pipe; the parent's end: urt_process_fd() */
	URT_STDIO_FILE,        /* a file: read for stdin; created/truncated for output */
	URT_STDIO_APPEND,      /* a file opened for appending (created if missing) */
	URT_STDIO_NULL,        /* /dev/null */
};

/* One standard stream of the child. */
typedef struct urt_stdio {
	int mode;         /* enum urt_stdio_mode */
	const char *path; /* URT_STDIO_FILE / _APPEND: the file (opened by the child) */
} urt_stdio;

enum {
	URT_PROC_KEEP_FDS = 1u << 0,  /* do not close fds >= 3 in the child */
	URT_PROC_WAIT_POLL = 1u << 1, /* wait by polling the pidfd, never with
				       * IORING_OP_WAITID (the automatic fallback
				       * on kernels before 6.7; for tests) */
};

/* What to run. Zeroed fields mean defaults. */
typedef struct urt_process_opts {
	const char *const *argv; /* NULL-terminated; argv[0] is the program,
				  * looked up in PATH unless it has a '/' */
	const char *const *envp; /* NULL-terminated environment; NULL = inherit */
	const char *cwd;         /* working directory; NULL = the parent's */
	urt_stdio stdio[3];      /* stdin, stdout, stderr */
	unsigned flags;          /* URT_PROC_* */
} urt_process_opts;

/* How a child ended. */
typedef struct urt_process_status {
	int exited;      /* 1: it called exit; code is valid */
	int code;        /* exit code (0..255) when exited */
	int signal;      /* the signal that killed it, 0 when exited */
	int core_dumped; /* 1 if killed with a core dump */
} urt_process_status;

/* Start a child on the current loop's thread (from a task or not).
 * Returns 0 and *out; -EINVAL (NULL out/o/argv/argv[0], bad stdio mode, FILE
 * without path); -EPERM on a thread without a loop; -ENOENT / -EACCES /
 * -ENOEXEC ... when the program cannot be executed (reported by the call
 * itself, no child is left behind); -ENOENT also for a missing cwd or
 * stdio file; -ENOMEM; -EMFILE. */
URT_API int urt_process_spawn(urt_process **out, const urt_process_opts *o);

/* The child's pid (valid until it is reaped), or -EINVAL for NULL. */
URT_API int urt_process_pid(const urt_process *p);

/* The parent's end of a piped stream (0: write to the child's stdin,
 * 1/2: read its stdout/stderr), still owned by p. Returns the fd; -EINVAL
 * (NULL, stream not 0..2); -EBADF if that stream is not a pipe or its end
 * was closed. */
URT_API int urt_process_fd(const urt_process *p, int stream);

/* Close the parent's end of a piped stream now (stdin: the child sees EOF).
 * Returns 0; -EINVAL; -EBADF if not a pipe or already closed. */
URT_API int urt_process_close_fd(urt_process *p, int stream);

/* Wait until the child exits, at most timeout_ns (UINT64_MAX: no limit;
 * the enclosing deadline scope applies too), then reap it and fill *st
 * (may be NULL). Uses IORING_OP_WAITID, or a pidfd poll where the kernel
 * lacks it. Returns 0; -ETIME at the deadline (also at once when it has
 * already passed) and -ECANCELED when cancelled: the child keeps running
 * and may be waited again; -ECHILD if it was already reaped (waiting
 * twice); -EBUSY if another task is waiting on it; -EINVAL (NULL, another
 * loop's process); -EPERM outside a task. */
URT_API int urt_process_wait(urt_process *p, uint64_t timeout_ns, urt_process_status *st);

/* Like urt_process_wait, but when the deadline passes or the task is
 * cancelled the child is killed with SIGKILL and reaped before returning.
 * Returns 0 when it ended by itself; -ETIME / -ECANCELED when it was
 * killed (*st then reports SIGKILL, or its own end if it won the race);
 * the other errors of urt_process_wait. */
URT_API int urt_process_wait_kill(urt_process *p, uint64_t timeout_ns, urt_process_status *st);

/* Reap the child if it has exited, without blocking. Returns 0 (reaped,
 * *st filled); -EAGAIN while it runs; -ECHILD if already reaped; -EBUSY
 * while a task waits on it; -EINVAL. */
URT_API int urt_process_try_wait(urt_process *p, urt_process_status *st);

/* Send sig to the child (pidfd_send_signal: never a recycled pid).
 * Returns 0; -ESRCH if it was already reaped; -EINVAL (NULL, bad signal). */
URT_API int urt_process_signal(urt_process *p, int sig);

/* Free p: close its pipe ends and pidfd; a child not yet reaped is first
 * killed (SIGKILL) and reaped (a short blocking waitid: a killed process
 * exits at once). Works outside a task and after the loop ended (on the
 * thread that spawned it). Returns 0 if the child had been reaped already
 * (or belongs to the process this one was forked from: it is left alone);
 * 1 if release reaped it (killing it if it still ran); -EBUSY while a task
 * waits on it (p is not freed); -EINVAL for NULL, or on another thread
 * while the child has not been reaped (p is not freed). */
URT_API int urt_process_release(urt_process *p);

#ifdef __cplusplus
}
#endif
#endif
