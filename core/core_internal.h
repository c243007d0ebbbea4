/* core's private contract: the loop and task records, parking, timers,
 * operations, and the backend interface that uring/ implements.
 * Names here are urt__* (internal but not static), never exported. */
#ifndef URT_CORE_INTERNAL_H
#define URT_CORE_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "urt_core.h"
#include "urt_sync.h"
#include "arch/ctxsw.h"
#include "arch/fpenv.h"
#include "fault.h"
#include "signals.h" /* urt__block_async_signals (sigsafe.c) */
#include "ctx_internal.h" /* core depends on ctx: a task owns its context */

#define URT_LIKELY(x) __builtin_expect(!!(x), 1)

/* Happens-before edges that go through the kernel (IORING_OP_MSG_RING:
 * one thread's SQE becomes another ring's CQE), which ThreadSanitizer
 * cannot see: the sender releases the message, the receiver acquires it. */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define URT_TSAN_RELEASE(p) __tsan_release(p)
#define URT_TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define URT_TSAN_RELEASE(p) ((void)(p))
#define URT_TSAN_ACQUIRE(p) ((void)(p))
#endif
#define URT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define URT_NO_DEADLINE UINT64_MAX
#define URT_NAME_MAX 32
#define URT_STACK_POOLS 4 /* stack sizes a loop pools */

/* ---- timers: a min-heap of deadlines, one per parked task ------------- */
typedef struct urt_timer {
	uint64_t when;     /* absolute, in loop time */
	unsigned heap_idx; /* position in loop->heap, URT_TIMER_IDLE if not armed */
	void (*fire)(urt_loop *l, struct urt_timer *t);
} urt_timer;
#define URT_TIMER_IDLE (~0u)

void urt__timer_arm(urt_loop *l, urt_timer *t, uint64_t when);
void urt__timer_disarm(urt_loop *l, urt_timer *t);
/* ns until the earliest timer (0 if due), URT_NO_DEADLINE if none. */
uint64_t urt__timer_next(urt_loop *l, uint64_t now);
void urt__timers_fire(urt_loop *l, uint64_t now);
/* Make room for n armed timers, so arming never fails. Returns 0 or -1.
 * The compare is inline (every spawn makes it), the growth is not. */
int urt__timer_grow(urt_loop *l, unsigned n);
static inline int urt__timer_reserve(urt_loop *l, unsigned n);

/* ---- stacks ------------------------------------------------------------ */
typedef struct urt_stack {
	void *base;        /* lowest mapped address (the guard page) */
	void *lo;          /* lowest usable address (just above the guard) */
	size_t size;       /* whole mapping, guard included */
	unsigned vg_id;    /* valgrind stack id */
	struct urt_stack *next_free; /* pool link */
	unsigned pins;     /* offload jobs abandoned by its task, still running */
	bool orphaned;     /* its task ended while pinned: the last unpin pools it */
} urt_stack;

size_t urt__page_size(void);
size_t urt__stack_round(size_t size);
/* A stack of at least size bytes; 0 = the loop's default. Stacks of the
 * default size and of the first few other sizes are pooled. Inline (after
 * struct urt_loop): the pool of the default size; out of line: the rest. */
static inline int urt__stack_get(urt_loop *l, size_t size, urt_stack **out);
static inline void urt__stack_put(urt_loop *l, urt_stack *s);
/* A job its task stopped waiting for (offload) may still write into the
 * task's stack: keep s from being pooled, reused or unmapped until the
 * matching urt__stack_unpin, even if the task ends meanwhile. Loop thread
 * only (no lock). */
void urt__stack_pin(urt_stack *s);
/* Drop a pin of s; the last one of a stack whose task has ended gives it
 * back to l's pool. Loop thread only. */
void urt__stack_unpin(urt_loop *l, urt_stack *s);
int urt__stack_get_slow(urt_loop *l, size_t size, urt_stack **out);
void urt__stack_put_slow(urt_loop *l, urt_stack *s);
/* Usable stack for the context switch: above the guard, below the record. */
static inline void urt__stack_bounds(const urt_stack *s, void **lo, size_t *size)
{
	*lo = s->lo;
	*size = (size_t)((const char *)s - (const char *)s->lo);
}
void urt__stack_pool_drain(urt_loop *l);
/* Per loop thread: SIGSEGV handler and alternate signal stack. */
int urt__stack_thread_init(void **altstack);
void urt__stack_thread_fini(void *altstack);

/* ---- tasks ------------------------------------------------------------- */
/* READY covers the running task too (it is l->current): a switch between
 * runnable tasks stores no state. */
enum urt_task_state { URT_T_READY, URT_T_PARKED, URT_T_DONE, URT_T_FREE };
enum {
	URT_TF_DETACHED = 1u << 0,
	URT_TF_JOINED = 1u << 1,   /* a join has claimed it */
	URT_TF_CANCELLED = 1u << 2,
	URT_TF_SYSTEM = 1u << 3,   /* internal task: does not keep urt_run alive */
	URT_TF_MAIN = 1u << 4,     /* urt_run's main task: its result goes to l->main_result */
};

/* Called when a parked task must stop waiting (cancel: -ECANCELED, deadline:
 * -ETIME). It must make sure urt__wake(t, ...) follows: at once (a wait
 * queue) or when the kernel's completion arrives (an operation). */
typedef void (*urt_interrupt_fn)(urt_task *t, int err);

struct urt__waiter {          /* one parked task in a urt_waitq */
	struct urt__waiter *next, *prev;
	urt_task *task;
	void *data;               /* primitive-specific (channel item pointer) */
	urt_waitq *q;             /* queue it is on, NULL once removed */
};

struct urt_task {
	urt_ctxsw regs;           /* saved registers; first for cheap access */
	urt_loop *loop;
	urt_task *next_ready;     /* ready-ring link (urt_loop.ready_tail) */
	enum urt_task_state state;
	unsigned flags;           /* URT_TF_* */
	int yield_res;            /* what urt_yield returns to it: 0, -ECANCELED once cancelled */
#ifdef URT_FPENV_SWITCH
	urt_fpenv *fpenv;         /* its FP control state while switched out: &fpenv_own
				   * (URT_TASK_OWN_FPENV) or the loop's shared one */
#endif
	urt_task_fn fn;
	void *arg;
	void *result;             /* fn's return value */
	int wake_res;             /* what the waker passed to urt__wake */
	urt_interrupt_fn interrupt; /* set while parked interruptibly */
	void *wait_obj;           /* what it waits on (op, waiter), for interrupt and dumps */
	const char *wait_what;    /* short description of the wait, for dumps */
	int wait_fd;              /* fd of the I/O it waits on, -1 if none (dumps) */
	uint64_t wait_since;      /* loop time the I/O wait began (dumps) */
	urt_timer timer;          /* fires at min(wake-up time, deadline) while parked */
	uint64_t wake_at;         /* the park's own wake-up time (sleep), or NO_DEADLINE */
	uint64_t deadline;        /* effective deadline, URT_NO_DEADLINE if none */
	urt_deadline *deadline_top; /* innermost scope */
	urt_waitq done_waiters;   /* joiners and wait_all/any callers */
	urt_stack *stack;
	urt_ctx *ctx;             /* the task's context variables (ctx/), may be NULL */
	uint64_t id;
	void *san_fake_stack;     /* ASan fake-stack handle across switches */
	void *tsan_fiber;         /* TSan fiber */
	urt_task *next_free;      /* record pool link */
	urt_task *all_next, *all_prev; /* every live task of the loop (dumps, deadlock) */
	char name[URT_NAME_MAX];
#ifdef URT_FPENV_SWITCH
	urt_fpenv fpenv_own;
#endif
};

/* ---- operations: one in-flight io_uring request ------------------------ */
typedef struct urt_op {
	/* called for each CQE whose user_data points here */
	void (*complete)(struct urt_op *op, int res, unsigned cqe_flags);
	urt_task *task;           /* task parked on it, if any */
	int interrupted;          /* -ETIME/-ECANCELED once a cancel was sent */
	int res;
} urt_op;

/* ---- messages from other threads (inbox.c) ---------------------------- */
/* A message for a loop, posted from any thread; run() is called on the
 * loop thread, in the scheduler (not in a task), in posting order. Also
 * called for messages that arrive while the loop closes: check
 * urt__loop_closing(). The poster owns the memory until run() is called. */
struct urt_remote {
	struct urt_remote *next;
	void (*run)(urt_loop *l, struct urt_remote *m);
};
/* Post m to l from any thread. Returns 0, -EINVAL, or -ESHUTDOWN if l is
 * closing or closed (then run() is never called). */
int urt__loop_post(urt_loop *l, struct urt_remote *m);
/* The completion of work the loop counts in l->external: accepted while
 * the loop closes (it waits for that work), refused only once closed. */
int urt__loop_post_counted(urt_loop *l, struct urt_remote *m);
bool urt__loop_closing(const urt_loop *l);
void urt__inbox_drain(urt_loop *l);
/* About to sleep in the kernel: false if a message is already waiting. */
bool urt__inbox_sleep(urt_loop *l);
void urt__inbox_awake(urt_loop *l);
/* Move to state (CLOSING, CLOSED) and wait out posters that had already
 * passed their state check. */
void urt__inbox_set_state(urt_loop *l, int state);

/* ---- stall detector (stall.c) ------------------------------------------ */
/* One loop's stall-detector state. The watchdog thread reads the loop's
 * current task and switch count with relaxed atomic loads (urt__switch
 * stores them with relaxed atomic stores: plain moves on x86). */
struct urt__stall {
	uint64_t threshold;       /* ns; URT_NO_DEADLINE: off (not registered) */
	int fd;                   /* where reports go */
	urt_loop *next;           /* watchdog registry link (under its lock) */
	uint64_t seen_sw;         /* watchdog: switch count at the last sample */
	uint64_t seen_at;         /* watchdog: when seen_sw was first seen */
	bool signalled;           /* watchdog: the stall at seen_sw was signalled */
	_Atomic uint64_t sig_sw;  /* switch count of the stall being signalled */
	_Atomic uint64_t sig_held; /* ns the task had held the loop by then */
	uint64_t last_report;     /* loop thread: CLOCK_MONOTONIC of the last report */
	uint64_t suppressed;      /* loop thread: stalls not reported since then */
};
/* Register l with the watchdog (starting it for the first loop). Never
 * fails: without a watchdog thread, stalls are not detected. */
void urt__stall_loop_start(urt_loop *l);
/* Unregister l; the last loop out joins the watchdog thread. */
void urt__stall_loop_stop(urt_loop *l);
/* URT_STATS=path: append l's JSON line to path (at loop destruction). */
void urt__stats_loop_closed(urt_loop *l);

/* ---- the loop ---------------------------------------------------------- */
struct urt_backend;
enum { URT_LOOP_OPEN = 1, URT_LOOP_CLOSING, URT_LOOP_CLOSED };

struct urt_loop {
	urt_ctxsw main_ctx;       /* the loop thread's own context (scheduler) */
	urt_task *current;        /* running task, NULL in the scheduler */
#ifdef URT_FPENV_SWITCH
	urt_fpenv fpenv;          /* the FP control state its tasks share (arch/fpenv.h) */
#endif
	/* The ready ring: the ready tasks and the running one, linked by
	 * next_ready in the order they run. ready_tail is its last task, so
	 * ready_tail->next_ready runs next, or is running (then a yield is
	 * ready_tail = current; current = current->next_ready). NULL: empty. */
	urt_task *ready_tail;
	unsigned nready;          /* ready tasks, the running one not counted */
	/* task-to-task hand-overs go on while stats.switches is below this
	 * (set by the scheduler's run of the ready tasks): one compare with
	 * the counter every switch updates anyway, not a second counter */
	uint64_t switch_limit;
	urt_timer **heap;         /* timer min-heap */
	unsigned nheap, heap_cap;
	struct urt_backend *backend; /* uring/ */
	uint64_t id;
	uint64_t id_next, id_end; /* block of task ids this loop hands out */
	unsigned tasks_alive;     /* user tasks not yet finished */
	unsigned system_alive;    /* loop-internal tasks not yet finished */
	unsigned ntasks;          /* task records in use (each may arm one timer) */
	unsigned inflight;        /* operations awaiting a CQE (user-visible work) */
	unsigned external;        /* outside sources that may still wake tasks (offload) */
	unsigned holds;           /* urt_loop_hold: work expected from other threads */
	void *main_result;        /* urt_run's main task's return (its record may be reused) */
	urt_task *dead;           /* finished task whose stack is released after the switch */
	/* offload: hands the pools the jobs this thread's tasks queued since
	 * the last call (one batch, one wake-up); set while any are held,
	 * called by the tick before it polls */
	void (*flush)(urt_loop *l);
	urt_task *all;            /* list of every task not yet freed */
	bool deadlocked;          /* every task waited forever: they were cancelled */
	unsigned step_fails;      /* urt_loop_step: ring errors in a row */
	urt_task *free_tasks, *free_tasks_tail; /* FIFO record pool */
	struct urt_stack_pool {   /* reusable stacks of one mapping size */
		size_t mapping;   /* 0: slot unused (slot 0: the default size) */
		urt_stack *free;
		unsigned n;       /* at most cfg.stack_pool */
	} stack_pools[URT_STACK_POOLS];
	urt_config cfg;           /* effective configuration */
	uint64_t virtual_now;     /* paused-time clock */
	void *main_fake_stack;    /* ASan bookkeeping for the scheduler context */
	const void *main_stack_bottom;
	size_t main_stack_size;
	void *main_tsan_fiber;
	urt_loop_stats stats;
	uint64_t remote_seen;     /* stats.remote at the last idle_spin check (loop.c) */
	void *altstack;           /* this thread's signal stack, if urt made it */
	pthread_t owner;          /* the thread the loop belongs to */
	pid_t pid;                /* the process that made it: a forked child must not touch it */
	struct urt__stall stall;  /* stall detector (stall.c) */
	/* shared with other threads */
	_Atomic int state;        /* URT_LOOP_OPEN / CLOSING / CLOSED */
	struct urt_remote *_Atomic inbox; /* posted messages, newest first */
	_Atomic int posters;      /* posts between their state check and push */
	_Atomic int sleeping;     /* the loop may be blocked in io_uring_enter */
	_Atomic int wake_pending; /* an eventfd write is on its way */
	urt_loop *next_closed;    /* closed-loop list */
};

/* Slot 0 is the default size (its mapping is set before any stack of it
 * is pooled): every spawn without a stack size, and its release. */
static inline int urt__stack_get(urt_loop *l, size_t size, urt_stack **out)
{
	struct urt_stack_pool *p = &l->stack_pools[0];
	urt_stack *s = p->free;
	if (URT_UNLIKELY(size || !s))
		return urt__stack_get_slow(l, size, out);
	p->free = s->next_free;
	p->n--;
	*out = s;
	return 0;
}

static inline void urt__stack_put(urt_loop *l, urt_stack *s)
{
	struct urt_stack_pool *p = &l->stack_pools[0];
	if (URT_UNLIKELY(s->size != p->mapping || p->n >= l->cfg.stack_pool)) {
		urt__stack_put_slow(l, s);
		return;
	}
	s->next_free = p->free;
	p->free = s;
	p->n++;
}

static inline int urt__timer_reserve(urt_loop *l, unsigned n)
{
	return URT_LIKELY(n <= l->heap_cap) ? 0 : urt__timer_grow(l, n);
}

/* ---- switching (switch.c) ---------------------------------------------- */
void urt__switch_init(urt_loop *l);
/* urt__switch_task_created() is inline, in switch.h (empty without TSan). */
/* First call on a new task's stack. */
void urt__switch_arrived(urt_loop *l);
/* urt__switch() itself is inline, in switch.h. */
/* Return a finished, unobservable task record to the pool. */
void urt__task_free(urt_loop *l, urt_task *t);
/* The task (or NULL for the scheduler) a parking/yielding task hands over to. */
urt_task *urt__next(urt_loop *l);
void urt__ready_push(urt_loop *l, urt_task *t);

/* Async-signal-safe text building (sigsafe.c): append, stop at end. */
char *urt__put_str(char *p, char *end, const char *s);
char *urt__put_u64(char *p, char *end, uint64_t v);

/* Print what went wrong and abort: for broken invariants only. */
_Noreturn void urt__fatal(const char *what, int err);

/* The loop of this thread (NULL if none; NULL too in a forked child, where
 * the loop inherited from the parent is absent). */
extern __thread urt_loop *urt__this_loop __attribute__((tls_model("initial-exec")));
static inline urt_loop *urt__loop(void) { return urt__this_loop; }
/* A message from another thread waits in l's inbox (a hint: relaxed). */
static inline bool urt__inbox_waiting(urt_loop *l)
{
	return atomic_load_explicit(&l->inbox, memory_order_relaxed) != NULL;
}
/* -ECHILD if l was inherited over fork (made by another process), else 0. */
int urt__loop_foreign(const urt_loop *l);
/* True if this thread's loop was inherited over fork: blocking calls
 * report -ECHILD instead of -EPERM. */
bool urt__loop_inherited(void);
uint64_t urt__now(urt_loop *l);
/* CLOCK_MONOTONIC in ns, whatever the loop's clock. */
uint64_t urt__mono_ns(void);
/* a + b, or URT_NO_DEADLINE (forever) where that overflows: a timeout of
 * centuries must not wrap round to a time already past. */
static inline uint64_t urt__add_sat(uint64_t a, uint64_t b)
{
	return b > URT_NO_DEADLINE - a ? URT_NO_DEADLINE : a + b;
}

/* The pause of a spin-wait loop (lets the sibling hyperthread run). */
static inline void urt__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* The spins of a loop about to sleep (core/loop.c's idle spin, uring's
 * I/O spin): pause-poll until done(l) holds, for at most min(spin_ns,
 * *timeout_ns). true: done(l) held. false: *timeout_ns is what is left of
 * the wait after the spin (0 once the spin reached it), so the wait that
 * follows does not hold the next timer back by the time spun. */
static inline bool urt__spin_until(urt_loop *l, uint64_t spin_ns, uint64_t *timeout_ns,
				   bool (*done)(urt_loop *l))
{
	uint64_t start = urt__mono_ns();
	uint64_t end = urt__add_sat(start, spin_ns < *timeout_ns ? spin_ns : *timeout_ns);
	for (;;) {
		if (done(l))
			return true;
		uint64_t spun = urt__mono_ns() - start;
		if (start + spun >= end) {
			if (*timeout_ns != URT_NO_DEADLINE)
				*timeout_ns = spun >= *timeout_ns ? 0 : *timeout_ns - spun;
			return false;
		}
		urt__cpu_relax();
	}
}

/* ---- parking ----------------------------------------------------------- */
/* Check the running task may block: -EPERM outside a task, -ECANCELED,
 * -ETIME. Returns 0 and sets *lp, *tp when it may. */
int urt__may_block_slow(urt_loop **lp, urt_task **tp);
static inline int urt__may_block(urt_loop **lp, urt_task **tp)
{
	urt_loop *l = urt__loop();
	urt_task *t = l ? l->current : NULL;
	/* inline: a task that is not cancelled and has no deadline may block
	 * (two tests); the rest (errors, the clock read) is out of line */
	if (URT_LIKELY(t && !(t->flags & URT_TF_CANCELLED) && t->deadline == URT_NO_DEADLINE)) {
		*lp = l;
		*tp = t;
		return 0;
	}
	return urt__may_block_slow(lp, tp);
}
/* The same for a call on obj: -EINVAL first if obj is NULL. */
static inline int urt__may_block_on(const void *obj, urt_loop **lp, urt_task **tp)
{
	return obj ? urt__may_block(lp, tp) : -EINVAL;
}
/* Park the running task until urt__wake(). wake_at is an absolute time at
 * which the park ends with 0 (sleep), or URT_NO_DEADLINE. The deadline
 * calls interrupt(t, -ETIME); a cancel calls interrupt(t, -ECANCELED).
 * Returns the result passed to urt__wake. */
int urt__park(urt_loop *l, urt_task *t, urt_interrupt_fn interrupt, void *wait_obj,
	      const char *what, uint64_t wake_at);
/* Make a parked task ready with result res (idempotent per park). */
void urt__wake(urt_task *t, int res);

/* Wait queues (FIFO) built on parking; the list operations are inline
 * (a few stores each, on every wake and wait of every primitive). */
static inline void urt__waitq_push(urt_waitq *q, struct urt__waiter *w)
{
	w->q = q;
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

static inline void urt__waitq_remove(struct urt__waiter *w)
{
	urt_waitq *q = w->q;
	if (!q)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->q = NULL;
}

static inline struct urt__waiter *urt__waitq_pop(urt_waitq *q)
{
	struct urt__waiter *w = q->head;
	if (w)
		urt__waitq_remove(w);
	return w;
}

/* Park on q with waiter w (w->data set by caller). Returns the wake result. */
int urt__waitq_wait(urt_loop *l, urt_task *t, urt_waitq *q, struct urt__waiter *w,
		    const char *what);
/* Wake every waiter with res. */
void urt__waitq_wake_all(urt_waitq *q, int res);

/* Spawn a task that does not keep urt_run alive (loop-internal service). */
int urt__spawn_system(urt_loop *l, urt_task **out, urt_task_fn fn, void *arg, const char *name);

/* ---- backend: implemented by uring/ ------------------------------------ */
/* Set up the ring for l with l->cfg. Returns 0 or -errno. */
int urt__backend_init(urt_loop *l);
/* Tear down; called when no operation is in flight any more. */
void urt__backend_fini(urt_loop *l);
/* Submit what is queued and reap completions, waiting up to timeout_ns
 * (0: do not wait, URT_NO_DEADLINE: until something completes). Calls
 * op->complete for each CQE. Returns 0 or -errno (fatal). */
int urt__backend_poll(urt_loop *l, uint64_t timeout_ns);
/* Ask the kernel to cancel op; its CQE still arrives later. */
void urt__backend_cancel(urt_loop *l, urt_op *op);
/* From any thread: make a blocked urt__backend_poll return (eventfd). */
void urt__backend_wake(urt_loop *l);

#endif
