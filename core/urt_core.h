/* urt core: the loop, tasks, time, deadlines and cancellation.
 *
 * Conventions (all of urt): functions return >= 0 on success and -errno on
 * failure; nothing sets errno. A "blocking call" is any call that may park the
 * calling task (I/O, sleep, join, sync waits). Every blocking call:
 *   - returns -EPERM when called outside a task;
 *   - returns -ECANCELED once the task has been cancelled;
 *   - returns -ETIME once the innermost deadline scope has expired.
 */
#ifndef URT_CORE_H
#define URT_CORE_H

#include <stddef.h>
#include <stdint.h>
#include "urt_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define URT_API __attribute__((visibility("default")))
#else
#define URT_API
#endif

typedef struct urt_loop urt_loop;
typedef struct urt_task urt_task;
typedef struct urt_ctx urt_ctx; /* see urt_ctx.h */

/* A task body. Its return value is what urt_join() hands back. */
typedef void *(*urt_task_fn)(void *arg);

/* ---- configuration ---------------------------------------------------- */

enum {
	URT_CFG_NO_SINGLE_ISSUER = 1u << 0, /* force the fallback without IORING_SETUP_SINGLE_ISSUER */
	URT_CFG_NO_DEFER_TASKRUN = 1u << 1, /* ... without IORING_SETUP_DEFER_TASKRUN */
	URT_CFG_NO_COOP_TASKRUN = 1u << 2,  /* ... without IORING_SETUP_COOP_TASKRUN */
	URT_CFG_NO_REGISTERED_FD = 1u << 3, /* ... without a registered ring fd */
	URT_CFG_NO_EXT_ARG = 1u << 4,       /* ... wait with a TIMEOUT SQE instead of EXT_ARG */
	URT_CFG_NO_OP_SOCKET = 1u << 5,     /* ... socket(2) instead of IORING_OP_SOCKET */
	/* Virtual clock (tokio's start_paused): when every task waits only on
	 * timers, time jumps to the earliest one, so sleeps, deadlines and
	 * timeouts take no real time and run in the same order every time.
	 * While real I/O or offloaded work is pending, it advances with real
	 * time. urt_now() starts at 0. */
	URT_CFG_PAUSED_TIME = 1u << 8,
};

/* Settings for urt_run(); a zeroed struct (or NULL) means defaults. */
typedef struct urt_config {
	unsigned ring_entries; /* SQ size; 0 = 256, at most 32,768 (more:
				* -EINVAL). CQ is 4x, at most 65,536. */
	unsigned flags;        /* URT_CFG_* */
	size_t stack_size;     /* default task stack; 0 = 64 KiB */
	unsigned stack_pool;   /* stacks kept for reuse; 0 = 256 */
	/* Stall detector: report a task that holds the loop this long without
	 * a suspension point. 0 = $URT_STALL_MS ms if set (0 there: off), else
	 * 100 ms; UINT64_MAX = off. */
	uint64_t stall_ns;
	int stall_fd;          /* where stall reports go; 0 = stderr */
	/* Idle spin: a loop with no I/O and no offload job in flight that has
	 * just run messages from other threads (urt_submit, urt_call_soon)
	 * polls its inbox this long before it sleeps, so the next message
	 * needs no wake-up (10-20 us on a VM). Only with more than one CPU
	 * allowed. 0 = 20 us; UINT64_MAX = off. */
	uint64_t idle_spin_ns;
	/* I/O spin: a loop about to sleep with I/O in flight first submits
	 * what it queued, then polls this long for completions (the ring's
	 * flag for pending kernel work: no system call while it polls), so a
	 * peer's packet finds it awake and costs the sender no wake-up, for
	 * the CPU it spins away. Measured here it made no reliable difference
	 * to urt-http under wrk or to urt-echo (docs/net.md). Never past the
	 * next timer; only on a machine with more than one CPU online (a loop
	 * pinned to one may spin). 0 = off (the default). */
	uint64_t io_spin_ns;
} urt_config;

/* ---- the loop ---------------------------------------------------------- */

/* Create a loop on the calling thread, run fn(arg) as its main task, and
 * return once it and every task spawned under it have finished; then tear
 * the loop down. *result (if non-NULL) receives the main task's return.
 * Returns 0; -EBUSY if this thread already runs a loop (also from inside a
 * task); -EINVAL if fn is NULL or cfg is out of range; -ENOMEM; -ENOSYS /
 * -EPERM if io_uring is unavailable (old kernel, seccomp); -EDEADLK if
 * every remaining task waited on something nothing could ever signal (they
 * were cancelled so they could finish). */
URT_API int urt_run(urt_task_fn fn, void *arg, const urt_config *cfg, void **result);

/* Embedding: a loop driven by the caller instead of urt_run (for instance
 * from another event loop, woken through urt_loop_fd()). */

/* Create a loop on the calling thread without running anything; spawn
 * tasks with urt_spawn from this thread, then call urt_loop_step.
 * Returns 0; -EBUSY if the thread has a loop; -EINVAL; -ENOMEM; -ENOSYS /
 * -EPERM if io_uring is unavailable. */
URT_API int urt_loop_create(urt_loop **out, const urt_config *cfg);
/* Run one tick, waiting at most timeout_ns (0: do not wait) for I/O or
 * timers. Returns the number of user tasks still alive (0: all done);
 * -EINVAL if loop is not this thread's; -EBUSY from inside a task; the
 * ring's error if io_uring_enter failed: call again to retry. At the
 * third failure in a row the loop winds down as urt_run does: every task
 * is cancelled and run to its end (then urt_loop_destroy works), or, if
 * the ring stays broken, the loop is abandoned (its memory is kept, the
 * thread has no loop and may create one; this loop's calls get -EINVAL).
 * After a wind-down the loop survives, failures are counted afresh. An
 * abandoned loop is told by urt_loop_current() returning NULL. */
URT_API int urt_loop_step(urt_loop *loop, uint64_t timeout_ns);
/* An eventfd that becomes readable whenever the loop has completions to
 * process: poll it from another event loop and call urt_loop_step. Call
 * from the loop's thread. Returns the fd (owned by the loop), or -EINVAL
 * (not this thread's loop), or the kernel's error. */
URT_API int urt_loop_fd(urt_loop *loop);
/* How long the embedder may wait before the next urt_loop_step: 0 if
 * work is ready, else ns until the earliest timer, -1 if no timer is armed
 * (wait for urt_loop_fd only); -EINVAL if loop is not this thread's. */
URT_API int64_t urt_loop_timeout(const urt_loop *loop);
/* Keep the loop alive while nothing in it is pending but work is expected
 * from outside (other threads' urt_submit): without a hold, a loop whose
 * tasks all wait on such work is treated as deadlocked. Call from the
 * loop's thread. A hold keeps tasks waiting, not the loop itself:
 * urt_loop_destroy (and urt_run's end) drops holds left over. Returns 0,
 * or -EINVAL (not this thread's loop; unhold without hold). */
URT_API int urt_loop_hold(urt_loop *loop);
URT_API int urt_loop_unhold(urt_loop *loop);
/* Close a loop whose tasks have all finished: first run the loop's own
 * work (internal tasks, I/O and offload jobs still in flight) to its end,
 * then free it. Later submissions from other threads get -ESHUTDOWN.
 * Returns 0: the loop is gone, the thread may create another. -EBUSY
 * while tasks are alive or from inside a task, -EINVAL if loop is not
 * this thread's: nothing was done. The ring's error if io_uring_enter
 * failed three times in a row while that work was in flight: the loop is
 * abandoned as urt_loop_step's is (not freed, since the kernel may still
 * write into it; no longer this thread's, its calls get -EINVAL; the
 * thread may create another). */
URT_API int urt_loop_destroy(urt_loop *loop);

/* The loop running on this thread, or NULL. Never creates a loop. */
URT_API urt_loop *urt_loop_current(void);

/* fork(2): a loop belongs to the process that created it. Its rings are
 * not mapped in a forked child (MADV_DONTFORK) and its other threads do
 * not exist there, so in the child: urt_loop_current() is NULL; blocking
 * calls (even from the task that forked) return -ECHILD; urt_loop_step,
 * _fd, _timeout, _hold, _unhold, _destroy and cross-thread submissions
 * to a loop made before the fork return -ECHILD; urt_run and
 * urt_loop_create make a new loop as on any thread (the inherited
 * records are leaked, never freed: the parent still owns them). Call
 * exec or _exit in the child, or start afresh with urt_run. */

/* The loop's id (unique in the process, starts at 1). */
URT_API uint64_t urt_loop_id(const urt_loop *loop);

/* Counters every loop keeps. Cheap enough to stay on. */
typedef struct urt_loop_stats {
	uint64_t ticks;          /* loop iterations */
	uint64_t enters;         /* io_uring_enter system calls */
	uint64_t sqes;           /* SQEs submitted */
	uint64_t cqes;           /* CQEs reaped */
	uint64_t sq_full;        /* flushes forced by a full SQ */
	uint64_t cq_overflow;    /* times the kernel reported CQ overflow */
	uint64_t switches;       /* context switches */
	uint64_t spawned;        /* tasks spawned */
	uint64_t alive;          /* tasks alive now */
	/* CQEs reaped per tick, log2 buckets: [0] none, [1] 1, [2] 2-3,
	 * [3] 4-7, [4] 8-15, [5] 16-31, [6] 32-63, [7] 64 or more. */
	uint64_t cqe_hist[8];
	uint64_t enobufs;        /* receives that found no provided buffer (-ENOBUFS) */
	uint64_t remote;         /* messages from other threads (cross-thread submissions) */
	uint64_t stalls;         /* stalls the watchdog caught (reported or rate-limited) */
	uint64_t idle_spins;     /* sleeps an idle spin saved (a message came while it spun) */
	uint64_t io_spins;       /* sleeps an I/O spin saved (a completion came while it spun) */
	uint64_t waits;          /* ticks that waited in the kernel for a completion or a timer */
} urt_loop_stats;

/* Copy loop's counters into *out (loop NULL = current loop).
 * Returns 0, or -EINVAL (no loop, NULL out). */
URT_API int urt_loop_stats_get(const urt_loop *loop, urt_loop_stats *out);

/* ---- tasks ------------------------------------------------------------- */

/* urt_task_opts.flags */
/* The task keeps its own floating-point environment (rounding mode,
 * exception masks: MXCSR and the x87 control word, FPCR on aarch64)
 * across switches, starting from its spawner's, as a thread does. Without
 * it the tasks of a loop share one environment (the thread's), so a task
 * that changes the rounding mode must own its environment or restore the
 * mode before it next blocks or yields. Owning one costs a save and a
 * reload (~3 ns) on each switch to or from the task. (The ucontext build,
 * URT_CONTEXT=ucontext, gives every task its own: swapcontext does.) */
#define URT_TASK_OWN_FPENV 1u

/* Optional spawn settings; a zeroed struct (or NULL) means defaults. */
typedef struct urt_task_opts {
	const char *name;  /* copied; up to 31 bytes kept; NULL = "task" */
	size_t stack_size; /* 0 = the loop's default */
	urt_ctx *ctx;      /* context to run in; NULL = copy of the spawner's */
	unsigned flags;    /* URT_TASK_* */
} urt_task_opts;

/* Spawn fn(arg) as a new task on the current loop. It starts on a later
 * tick (the caller keeps running). With out == NULL the task is detached.
 * Returns 0; -EPERM outside a loop thread; -EINVAL if fn is NULL or
 * opts->flags has an unknown bit; -ENOMEM. */
URT_API int urt_spawn(urt_task **out, urt_task_fn fn, void *arg, const urt_task_opts *opts);

/* Wait for t to finish; *result (if non-NULL) gets its return value; the
 * handle is then invalid. Returns 0; -ECANCELED if t had been cancelled
 * (result still set); -EDEADLK joining oneself; -EINVAL for NULL, a detached
 * or already-joined task or one of another loop; plus the blocking-call
 * errors of the caller (then t is not joined). */
URT_API int urt_join(urt_task *t, void **result);

/* Let t run to completion unobserved; its handle becomes invalid.
 * Returns 0, or -EINVAL (NULL, already detached or joined). */
URT_API int urt_detach(urt_task *t);

/* Ask t to stop: its current and later blocking calls return -ECANCELED.
 * Idempotent. Returns 0, or -EINVAL (NULL, another loop's task). */
URT_API int urt_cancel(urt_task *t);

/* Let every other ready task run once. Returns 0, -EPERM outside a task,
 * or -ECANCELED if cancelled (it yields anyway). */
URT_API int urt_yield(void);

/* The running task, or NULL outside a task. */
URT_API urt_task *urt_self(void);

/* Task id (unique per process, > 0) and name. 0 / NULL for NULL. */
URT_API uint64_t urt_task_id(const urt_task *t);
URT_API const char *urt_task_name(const urt_task *t);

/* ---- time -------------------------------------------------------------- */

#define URT_NS_PER_MS 1000000ull
#define URT_NS_PER_SEC 1000000000ull

/* Monotonic time in ns, as the current loop sees it (virtual when paused). */
URT_API uint64_t urt_now(void);

/* Park the task for ns nanoseconds. Returns 0, or a blocking-call error
 * (-EPERM, -ECANCELED, -ETIME: the deadline came first). */
URT_API int urt_sleep(uint64_t ns);

/* ---- deadlines --------------------------------------------------------- */

/* A deadline scope, kept by the caller (usually on its stack). */
typedef struct urt_deadline {
	uint64_t saved; /* private: the enclosing effective deadline */
	struct urt_deadline *outer; /* private */
} urt_deadline;

/* Enter a scope in which blocking calls fail with -ETIME once timeout_ns
 * from now has passed. Scopes nest; the nearest deadline wins.
 * Returns 0; -EPERM outside a task; -EINVAL if d is NULL. */
URT_API int urt_deadline_enter(urt_deadline *d, uint64_t timeout_ns);

/* Leave the scope entered with d (innermost first). Returns 0, -EPERM
 * outside a task, -EINVAL if d is not the innermost scope. */
URT_API int urt_deadline_exit(urt_deadline *d);

/* The current task's effective deadline in urt_now() time, or UINT64_MAX. */
URT_API uint64_t urt_deadline_get(void);

/* ---- errors and version ------------------------------------------------ */

/* A static description of -errno values urt returns (with urt's meaning). */
URT_API const char *urt_strerror(int err);

/* The library's version string, e.g. "0.1.0". */
URT_API const char *urt_version(void);

#ifdef __cplusplus
}
#endif
#endif
