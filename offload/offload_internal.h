/* offload's private records: jobs, pools, futures, and the transports
 * that carry a message to a loop. Names are urt__* (internal). */
#ifndef URT_OFFLOAD_INTERNAL_H
#define URT_OFFLOAD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "core_internal.h"
#include "urt_ctx.h"
#include "urt_offload.h"

struct urt__pool;
struct urt__job;

/* Where a job is, as its pool sees it (under the pool's lock). */
enum urt__job_where {
	URT_JOB_NEW,      /* not given to the pool yet, or on its lock-free intake */
	URT_JOB_WAITING,  /* its task parked: the queue was full */
	URT_JOB_CLASS,    /* queued behind its class's cap */
	URT_JOB_QUEUED,   /* queued for the next free worker */
	URT_JOB_RUNNING,  /* a worker has it (running or about to) */
	URT_JOB_GONE,     /* withdrawn before it started */
};

/* What a parked task reads when its job comes back (on the task's stack). */
struct urt__job_wait {
	void *result;     /* fn's return value */
	int err;          /* 0, or what fn reported with urt_job_error */
};

/* One call handed to a pool. Owner: the pool (and then the worker running
 * it) until the worker posts its completion; then whoever receives that:
 * the submitting loop (frees it in job_done) or, for a future, the worker
 * itself. A job withdrawn before it started is freed by whoever withdrew
 * it (the interrupted task's loop, or urt_future_cancel's caller). */
struct urt__job {
	/* The first 64 bytes: what the pool and the worker write (links,
	 * state, outcome) and what job_done reads back on the loop thread.
	 * Task records are 64-byte aligned (jobcache.c), so a completion
	 * costs the loop one cache line fetched from the worker's CPU. */
	struct urt_remote msg;       /* completion message to loop; first */
	struct urt__job *next;       /* link in the pool queue it sits in */
	void *result;                /* fn's return value */
	int err;                     /* urt_job_error's value, else 0 */
	enum urt__job_where where;   /* under pool->mu */
	uint64_t seq;                /* order of entry into the main queue (growth) */
	/* completion to a parked task (loop-thread fields, read with the above) */
	urt_task *task;              /* the parked task */
	struct urt__job_wait *wait;  /* on the task's stack; NULL once abandoned */
	/* Written by the submitter only; the worker reads them. */
	urt_task_fn fn;
	void *arg;
	urt_ctx *ctx;                /* submitter's context, captured (owned) */
	unsigned cls;                /* concurrency class */
	bool ctx_on_worker;          /* the submitter's was empty: run in a scratch
				      * copy of the worker's (empty) one */
	bool batched;                /* in its loop thread's batch (that thread only) */
	struct urt__pool *pool;
	urt_loop *loop;              /* submitting loop, or NULL */
	/* completion to a future (urt_*_try) */
	urt_future *fut;
	/* Set by job_interrupt (loop thread) when the task stops waiting
	 * while the job runs: the task's stack, pinned until job_done. The
	 * job holds the stack, not the task, whose record may be joined and
	 * reused meanwhile. */
	urt_stack *stack;
};

/* A worker thread's record (on its own stack). */
struct urt__worker {
	struct urt__worker *next, *prev; /* on the pool's idle list */
	struct urt__worker *all_next, *all_prev; /* on the pool's list of all workers */
	pthread_cond_t cv;               /* signalled when it is woken for work */
	bool idle;                       /* on the idle list */
	bool woken;                      /* taken off it by kick(): counted in nwaking */
	_Atomic bool in_job;             /* running a job's function (the monitor reads it) */
	pid_t tid;                       /* its kernel thread id (/proc/self/task/tid/stat) */
	uint64_t jobs;                   /* jobs it finished */
	uint64_t jobs_mark;              /* jobs when the monitor's period began */
	clockid_t cpu_clock;             /* its CPU-time clock */
	unsigned still_periods;          /* growth periods in a row on one job */
	uint64_t cpu_mark;               /* its CPU time when that began */
};

/* A concurrency class. Its waiting list holds jobs whose tasks are parked
 * for room where the class's next job goes: the main queue while the class
 * is under its cap (or uncapped), else its own queue. Each list is
 * admitted on its own, so a capped class whose queue is full never holds
 * up other classes' waiters. */
struct urt__pool_class {
	unsigned limit;                  /* max admitted at once; 0 = no cap */
	unsigned admitted;               /* queued in the main queue or running */
	unsigned nqueued;                /* on head: at most queue_bound (room) */
	struct urt__job *head, *tail;    /* over the cap, FIFO */
	struct urt__job *whead, *wtail;  /* tasks parked for room, FIFO */
};

/* Everything but the _Atomic fields is under mu. */
struct urt__pool {
	pthread_mutex_t mu;
	pthread_cond_t drained;          /* a worker or the monitor left (shutdown) */
	pthread_cond_t mon_cv;           /* the monitor's sleep (blocking pool) */
	const char *name;
	unsigned ncpus;                  /* CPUs allowed at first use (eager size) */
	unsigned nthreads;               /* workers alive, or being started */
	unsigned nidle;                  /* on the idle list */
	unsigned nspinning;              /* polling qlen (at most 1) */
	unsigned nwaking;                /* woken or being started, not looking yet */
	unsigned to_spawn;               /* reserved in nthreads, to start unlocked */
	unsigned running;                /* jobs handed to workers */
	unsigned queued;                 /* main queue + class queues (stats) */
	unsigned queued_main;            /* main queue only: what queue_bound limits */
	unsigned nwaiting;               /* jobs on the classes' waiting lists */
	unsigned stopping;               /* shutdowns under way (a count: see pool_stop);
					  * while any is, workers exit when out of work */
	bool monitor_running;            /* the monitor thread exists (or starts) */
	bool monitor_start;              /* unlock_and_spawn must start it */
	bool mon_sleeping;               /* in its untimed wait: signal mon_cv */
	uint64_t enq_seq;                /* next urt__job.seq */
	uint64_t grown;                  /* workers the monitor started */
	_Atomic unsigned qlen;           /* queued_main, for lock-free spinners */
	/* the lock-free intake (pool.c) */
	struct urt__job *_Atomic intake; /* pushed without the lock, newest first */
	_Atomic unsigned fast_n;         /* jobs on it, not yet in queued_main */
	_Atomic unsigned room;           /* queue_bound - queued_main, as last published */
	_Atomic bool fast_ok;            /* a push alone gets the job run */
	struct urt__job *qhead, *qtail;  /* main queue, FIFO */
	struct urt__worker *idle;        /* sleeping workers, most recent first */
	struct urt__worker *all;         /* every running worker (the monitor reads their counts) */
	struct urt__pool_class cls[URT_OFFLOAD_CLASSES];
	_Atomic uint64_t done;           /* finished jobs */
	bool is_cpu;
};

extern struct urt__pool urt__pool_blocking, urt__pool_cpu;

/* Settings shared by both pools (guarded by each pool's mu when read). */
struct urt__offload_cfg {
	unsigned blocking_threads, cpu_threads, queue_bound;
	uint64_t keep_alive_ns, spin_ns;
	_Atomic unsigned flags;
};
extern struct urt__offload_cfg urt__ocfg;

/* Give job to its pool. may_wait: when the queue is full, park the job on
 * the waiting list (a task waits for it anyway) instead of failing.
 * Returns 0; -EAGAIN (full and !may_wait, or no thread could start). */
int urt__pool_submit(struct urt__pool *p, struct urt__job *job, bool may_wait);
/* A task's job, submitted from its loop thread l: held in this thread's
 * batch and handed to the pool with the others queued meanwhile, before
 * the loop polls (l->flush). The task must park right after; a job that
 * cannot be handed over (no worker thread could start) wakes it with
 * that error (-EAGAIN). */
void urt__pool_submit_batched(struct urt__pool *p, struct urt__job *job, urt_loop *l);
/* Take job back if no worker has it yet. Returns true if withdrawn. */
bool urt__pool_withdraw(struct urt__job *job);
/* Called by a worker after job finished: post its completion. */
void urt__job_finished(struct urt__job *job);
void urt__job_free(struct urt__job *job);
/* Capture the submitter's context into job, unless it is the empty one
 * (then the job runs in a scratch context on the worker: nothing to
 * allocate). Returns 0 or -ENOMEM. */
int urt__job_capture(struct urt__job *job);

/* A zeroed task job record, from this thread's cache (jobcache.c); NULL
 * when out of memory. */
struct urt__job *urt__job_alloc(void);
/* Give a record from urt__job_alloc back, on the thread that took it. */
void urt__job_recycle(struct urt__job *job);

/* Futures (future.c). refs: one for the handle, one for the producer. */
struct urt_future {
	_Atomic uint32_t state;   /* futex word: FUT_PENDING, FUT_SLEEPER, FUT_DONE */
	_Atomic int refs;         /* the handle and the producer (+ messages in flight) */
	_Atomic int claim;        /* 0 free, 1 a wait runs, 2 the result was taken */
	_Atomic int cancel_req;   /* URT_FUT_OPEN, _CANCEL or _DECIDED: see urt__future_complete */
	void *result;             /* written before state becomes FUT_DONE */
	int err;
	urt_loop *loop;           /* the loop its task runs on (EDEADLK), or NULL */
	void (*cancel)(urt_future *f); /* producer's hook (any thread) */
	void (*destroy)(urt_future *f); /* frees the record */
	void *producer;           /* the job (pool futures) */
};
enum { URT_FUT_PENDING = 0, URT_FUT_SLEEPER = 1, URT_FUT_DONE = 2 };
/* cancel_req: who settled the outcome first. urt_future_cancel moves it
 * from OPEN to CANCEL, the producer's completion from OPEN to DECIDED;
 * whichever compare-and-swap succeeds decides, so a cancel that returned
 * 0 always ends in -ECANCELED. */
enum { URT_FUT_OPEN = 0, URT_FUT_CANCEL = 1, URT_FUT_DECIDED = 2 };

/* Initialise f with two references and no result. */
void urt__future_init(urt_future *f);
/* Publish the result, wake the waiter, drop the producer's reference. If
 * urt_future_cancel got in first (see cancel_req), err becomes -ECANCELED
 * (result is kept). */
void urt__future_complete(urt_future *f, void *result, int err);
void urt__future_unref(urt_future *f);
bool urt__future_done(const urt_future *f);


/* A message that can also travel by IORING_OP_MSG_RING (msgring.c). */
struct urt__ring_msg {
	urt_op dst;                  /* the target ring's CQE points here */
	urt_op src;                  /* the sender's CQE (only on failure) */
	urt_loop *target;
	struct urt_remote *m;        /* run on the target loop */
	void (*fail)(struct urt_remote *m, int err); /* could not be delivered */
};
/* From a thread running another loop, send rm->m to target through the
 * sender's ring (submitted at once). Returns 0; -ESHUTDOWN (target
 * closing); -ENOTSUP when this transport does not apply (not on a loop
 * thread, same loop): then use urt__loop_post. */
int urt__msgring_post(urt_loop *target, struct urt__ring_msg *rm);

#endif
