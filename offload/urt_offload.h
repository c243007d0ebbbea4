/* urt offload: worker pools for calls that have no io_uring equivalent,
 * and cross-thread submission of work to a loop.
 *
 * Two process-wide pools, started lazily and shared by every loop:
 *   - the blocking pool (urt_to_thread): grows on demand up to a cap
 *     (default 64 threads), idle threads exit after a keep-alive;
 *   - the CPU pool (urt_to_cpu): at most one thread per CPU, so long
 *     computations cannot starve blocking calls, nor the other way round.
 * A job runs in a copy of its submitter's context (urt_ctx.h); its
 * completion goes back to the submitting loop as a message, so the loop
 * thread never blocks and never polls.
 *
 * Job memory belongs to urt: a task that stops waiting (cancel, deadline)
 * returns at once, and the job still running on a worker is freed by the
 * loop when it finishes (its result is discarded). urt_run and
 * urt_loop_destroy return only after every job their tasks handed to a
 * pool has finished, so fn and arg may point into the loop's memory; and
 * the stack of a task that stopped waiting goes to no other task until
 * the job has finished (see urt_to_thread for what that does not cover).
 *
 * Any thread can run a function as a task on a given loop (urt_submit)
 * and wait for it with a timeout through a future.
 */
#ifndef URT_OFFLOAD_H
#define URT_OFFLOAD_H

#include <stdint.h>
#include "urt_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A pending result, shared by its producer and one consumer. */
typedef struct urt_future urt_future;

/* Concurrency classes of the blocking pool: 0 is the default class;
 * 1 .. URT_OFFLOAD_CLASSES-1 can be capped (say, DNS lookups at 4) so one
 * kind of call cannot take every worker. */
#define URT_OFFLOAD_CLASSES 16

/* Which pool urt_offload_stats_get() describes. */
enum { URT_POOL_BLOCKING = 0, URT_POOL_CPU = 1 };

/* Flags of urt_offload_config. */
enum {
	URT_OFFLOAD_NO_SPIN = 1u << 0,  /* workers never spin before sleeping */
	URT_OFFLOAD_MSG_RING = 1u << 1, /* loop-to-loop submissions use IORING_OP_MSG_RING */
};

/* Pool settings; a zero field keeps its current value (default at first). */
typedef struct urt_offload_config {
	unsigned blocking_threads; /* blocking pool cap; default 64 */
	unsigned cpu_threads;      /* CPU pool size; default: the CPUs this process may use */
	unsigned queue_bound;      /* per pool: jobs waiting for a worker; each capped
				    * class's queue over its cap is bounded by it on
				    * its own (urt_offload_class_limit); default 4096 */
	uint64_t keep_alive_ns;    /* an idle worker exits after this; default 10 s */
	uint64_t spin_ns;          /* a worker out of work polls this long before it sleeps
				    * (only when the process may use > 1 CPU); default 50 us */
	unsigned flags;            /* URT_OFFLOAD_* (replaces the current flags) */
} urt_offload_config;

/* Counters of one pool (a snapshot). */
typedef struct urt_offload_stats {
	unsigned threads;   /* worker threads alive */
	unsigned idle;      /* of which waiting for work */
	unsigned running;   /* jobs running now */
	unsigned queued;    /* jobs accepted, waiting for a worker (or their class) */
	unsigned waiting;   /* tasks parked because the queue was full */
	uint64_t done;      /* jobs finished since the process started */
} urt_offload_stats;

/* ---- configuration ------------------------------------------------------ */

/* Change pool settings; applies to later growth (running threads stay).
 * Returns 0; -EINVAL for NULL or unknown flags. Thread-safe. */
URT_API int urt_offload_configure(const urt_offload_config *cfg);

/* Cap how many jobs of class class_id (1 .. URT_OFFLOAD_CLASSES-1) run at
 * once in the blocking pool; 0 removes the cap. Jobs over the cap wait in
 * the class's own queue, which holds up to queue_bound jobs apart from the
 * pool's queue: when it is full, only that class's submissions park (from
 * a task) or get -EAGAIN (_try); other classes keep the pool's queue to
 * themselves (it holds at most `max_running` jobs of a capped class).
 * Returns 0; -EINVAL for class 0 or out of range. */
URT_API int urt_offload_class_limit(unsigned class_id, unsigned max_running);

/* Copy pool's counters (URT_POOL_*) into *out. Returns 0; -EINVAL. */
URT_API int urt_offload_stats_get(int pool, urt_offload_stats *out);

/* Let every queued and running job finish, then stop all workers and wait
 * for their threads to exit. Later submissions start the pools again.
 * Several threads may call it at once: each stops the pools until it
 * returns, so a submission made meanwhile (one may return first) gets a
 * worker that leaves when out of work instead of after its keep-alive.
 * Returns 0; -EDEADLK if called from a worker (a job). */
URT_API int urt_offload_shutdown(void);

/* ---- from a task: blocking calls ---------------------------------------- */

/* Run fn(arg) on the blocking pool in a copy of the task's context; park
 * the task (not the loop) until it returns; *result (if non-NULL) gets
 * fn's return value. A full queue parks the task until there is room.
 * Returns 0, or the error fn reported with urt_job_error (result still set);
 * -EINVAL if fn is NULL; -ENOMEM; -EAGAIN if no worker thread could be
 * started; blocking-call errors: -EPERM outside a task, -ECANCELED, -ETIME
 * (then fn, if already running, runs to its end and its result is
 * discarded; if not started yet it never runs).
 *
 * A cancelled or expired call returns at once, without waiting for a
 * running fn (a blocking call cannot be interrupted, and a deadline that
 * waited for it would mean nothing). Until fn returns, the task's stack is
 * kept from every other task: if the task ends first, its stack is pooled
 * only when fn has returned, so fn writing through arg into the task's
 * stack never lands in another task's frames. It may land in the task's
 * own, though: once this call has returned -ECANCELED or -ETIME, the
 * frames fn was given (a buffer local to the caller, say) are the task's
 * to reuse. If the task can be cancelled or has a deadline, give fn
 * memory that outlives the call (heap, the loop's, or a frame the task
 * does not return from until it has seen the job end some other way). */
URT_API int urt_to_thread(urt_task_fn fn, void *arg, void **result);

/* urt_to_thread in concurrency class class_id (see urt_offload_class_limit).
 * Same returns; -EINVAL for class_id >= URT_OFFLOAD_CLASSES. */
URT_API int urt_to_thread_class(unsigned class_id, urt_task_fn fn, void *arg, void **result);

/* urt_to_thread on the CPU pool, for long computations. Same returns, and
 * the same rule for memory fn uses after a cancel or deadline. The CPU
 * pool has a fixed size (cpu_threads): a CPU job that waits for another
 * CPU job (urt_to_cpu_try + urt_future_wait) deadlocks when every CPU
 * worker does so, since none is left to run the inner jobs; wait on the
 * blocking pool's jobs instead, or not from a CPU job. */
URT_API int urt_to_cpu(urt_task_fn fn, void *arg, void **result);

/* Inside a job (on a worker): make the submitter's call return err (< 0)
 * instead of 0; fn's return value is still delivered. Returns 0; -EPERM
 * when not called from a job; -EINVAL if err >= 0. */
URT_API int urt_job_error(int err);

/* ---- from any thread: non-blocking submission to a pool ----------------- */

/* Queue fn(arg) on the blocking pool (in the caller's context) and hand
 * back a future for its result. Never blocks. Returns 0 and *out;
 * -EINVAL (NULL fn or out); -EAGAIN if the queue is full; -ENOMEM. */
URT_API int urt_to_thread_try(urt_task_fn fn, void *arg, urt_future **out);

/* urt_to_thread_try on the CPU pool. Same returns. */
URT_API int urt_to_cpu_try(urt_task_fn fn, void *arg, urt_future **out);

/* ---- from any thread: run a task on a loop ------------------------------ */

/* Run fn(arg) as a new task on loop, in a copy of the caller's context;
 * *out (if non-NULL) receives a future for its return value (release it).
 * Returns 0; -EINVAL (NULL loop or fn); -ESHUTDOWN if the loop is closing
 * or closed; -ENOMEM. */
URT_API int urt_submit(urt_loop *loop, urt_task_fn fn, void *arg, urt_future **out);

/* Fire and forget: urt_submit without a future. Same returns. */
URT_API int urt_call_soon(urt_loop *loop, urt_task_fn fn, void *arg);

/* ---- futures -------------------------------------------------------------- */

/* Wait up to timeout_ns (0: just look; UINT64_MAX, or a timeout that
 * would end past the clock's range: forever) for f's result,
 * sleeping on a futex (the calling thread blocks). *result (if non-NULL)
 * gets the value. Returns 0 or the job's error (urt_job_error, -ECANCELED
 * after urt_future_cancel or when the task was cancelled, -ESHUTDOWN if the
 * loop closed before the task could start, -ENOMEM if it could not be
 * spawned); -ETIMEDOUT (wait again later); -EINVAL (NULL, or the result was
 * already taken by an earlier wait, or another thread is waiting);
 * -EDEADLK if f's task runs on the caller's own loop and is not done. */
URT_API int urt_future_wait(urt_future *f, uint64_t timeout_ns, void **result);

/* 1 if f's result is ready, 0 if not, -EINVAL for NULL. Never blocks. */
URT_API int urt_future_done(const urt_future *f);

/* Ask f's producer to stop: a job not started yet never runs; a running
 * job runs to its end; a task on a loop is cancelled (urt_cancel). Cancel
 * and the producer's completion race for one atomic word: 0 means the
 * cancel came first, and the wait then returns -ECANCELED even if fn (or
 * the task) had already returned (what it returned still goes to *result;
 * NULL if it never ran). Idempotent. Returns 0; -EALREADY if f was already
 * done or its producer completed first (the wait returns that outcome);
 * -EINVAL for NULL. */
URT_API int urt_future_cancel(urt_future *f);

/* Drop the caller's handle (waited or not: an unfinished job or task goes
 * on and its result is discarded). f is invalid afterwards. NULL is a
 * no-op. */
URT_API void urt_future_release(urt_future *f);

#ifdef __cplusplus
}
#endif
#endif
