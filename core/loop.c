/* The loop: its life (create, step, destroy), urt_run, and the tick.
 *
 * One tick: take messages other threads posted, run the ready tasks (they
 * hand over to each other directly, up to a budget), then one
 * io_uring_enter that submits what they queued and waits for the first
 * completion or the earliest timer, then reap the completions and fire the
 * timers that are due. */
#include "core_internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

void urt__run_ready(urt_loop *l);
void urt__task_pool_drain(urt_loop *l);
int urt__spawn_on(urt_loop *l, urt_task **out, urt_task_fn fn, void *arg,
		  const urt_task_opts *o, unsigned flags);

/* This thread's loop. initial-exec: one load from the thread pointer
 * (general-dynamic TLS, the -fPIC default, would call __tls_get_addr on
 * every blocking call and switch). */
__thread urt_loop *urt__this_loop __attribute__((tls_model("initial-exec")));
/* The loop this thread ran when the process forked (the child's copy is
 * unusable): only to answer -ECHILD instead of -EPERM. */
static __thread urt_loop *inherited_loop;
/* Closed (and abandoned) loops keep their record for the life of the
 * process (a few hundred bytes): another thread that still holds the
 * pointer gets a clean -ESHUTDOWN from a late submission, never a
 * use-after-free. */
static pthread_mutex_t closed_lock = PTHREAD_MUTEX_INITIALIZER;
static urt_loop *closed_loops;
static _Atomic uint64_t next_loop_id = 1;

/* Fork: the child has a copy of the loop records but not the rings
 * (uring/ring.c makes them MADV_DONTFORK) nor the loop's other threads.
 * A loop is usable only in the process that made it: in a forked child
 * the forking thread's loop is no longer current (urt__loop() is NULL),
 * and calls that name a loop whose pid is not ours get -ECHILD. */
static pid_t self_pid;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_child(void)
{
	self_pid = getpid();
	inherited_loop = urt__this_loop;
	urt__this_loop = NULL;
}
static void fork_init(void)
{
	self_pid = getpid();
	pthread_atfork(NULL, NULL, fork_child);
}

/* hot (here and in task.c): beside urt__log_emit, which calls them (log/record.c) */
__attribute__((hot)) urt_loop *urt_loop_current(void) { return urt__loop(); }
int urt__loop_foreign(const urt_loop *l) { return l && l->pid != self_pid ? -ECHILD : 0; }
bool urt__loop_inherited(void) { return inherited_loop != NULL; }
__attribute__((hot)) uint64_t urt_loop_id(const urt_loop *l) { return l ? l->id : 0; }

int urt_loop_stats_get(const urt_loop *l, urt_loop_stats *out)
{
	if (!l)
		l = urt__loop();
	if (!l || !out)
		return -EINVAL;
	*out = l->stats;
	return 0;
}

/* Every remaining task waits on something nobody can signal: cancel them
 * so they can finish (asyncio would hang here forever). */
static void break_deadlock(urt_loop *l)
{
	for (urt_task *t = l->all; t; t = t->all_next)
		if (t->state == URT_T_PARKED)
			urt_cancel(t);
}

/* Something outside the ring may still wake a task: an offloaded job, or
 * another thread's submission the embedder said to expect (a hold). */
static bool waits_outside(const urt_loop *l)
{
	return l->external || l->holds;
}

/* Paused time: when every task waits only on timers, the virtual clock
 * jumps to the earliest one instead of sleeping; while real I/O or
 * offloaded work is pending, it advances with real time, so real I/O and
 * deadlines on it still behave. */
static int poll_paused(urt_loop *l, uint64_t timeout)
{
	if (timeout && !l->inflight && !waits_outside(l) && l->nheap) {
		l->virtual_now += timeout; /* timeout is the distance to the earliest timer */
		return urt__backend_poll(l, 0);
	}
	if (!l->inflight && !waits_outside(l))
		return urt__backend_poll(l, timeout); /* time stands still: deterministic */
	uint64_t t0 = urt__mono_ns();
	int r = urt__backend_poll(l, timeout);
	l->virtual_now += urt__mono_ns() - t0;
	return r;
}

/* The idle spin (urt_config.idle_spin_ns): after a tick that ran messages
 * from other threads, poll the inbox for at most the spin time or the next
 * timer (*timeout: what is left of the wait after it). Only with no I/O in flight (its completions are seen only by
 * entering the ring, so a spin would delay them) and no offload job in
 * flight (the pool's workers need the CPUs then: 1,000 jobs in flight ran
 * at 5.2 instead of 6.0 M jobs/s with the loop spinning, docs/offload.md).
 * true: a message is there. */
static bool idle_spin(urt_loop *l, uint64_t *timeout)
{
	bool recent = l->stats.remote != l->remote_seen;
	l->remote_seen = l->stats.remote;
	if (!recent || !l->cfg.idle_spin_ns || l->inflight || waits_outside(l) ||
	    (l->cfg.flags & URT_CFG_PAUSED_TIME))
		return false;
	if (!urt__spin_until(l, l->cfg.idle_spin_ns, timeout, urt__inbox_waiting))
		return false;
	l->stats.idle_spins++;
	return true;
}

/* Who ticks: an embedder's urt_loop_step, urt_run until the user tasks
 * have finished, or the teardown until the loop's own tasks have. */
enum tick_phase { TICK_STEP, TICK_USER, TICK_SYSTEM };

/* One tick, waiting at most max_wait ns for I/O or timers. */
static int tick(urt_loop *l, uint64_t max_wait, enum tick_phase phase)
{
	bool user_phase = phase != TICK_SYSTEM;
	urt__inbox_drain(l);
	urt__run_ready(l);
	if (l->flush) /* before the timeout: a failed hand-over wakes its task */
		l->flush(l);
	uint64_t now = urt__now(l);
	uint64_t timeout = l->nready ? 0 : urt__timer_next(l, now);
	if (timeout > max_wait)
		timeout = max_wait;
	if (timeout == URT_NO_DEADLINE && !l->inflight && !l->external) {
		bool done = user_phase ? !l->tasks_alive : !l->tasks_alive && !l->system_alive;
		/* a hold keeps waiting tasks from a deadlock verdict, and an
		 * embedder's step waiting for submissions; it does not keep
		 * urt_run going once its tasks have finished */
		if (done && (!l->holds || phase != TICK_STEP))
			return 0; /* nothing left that this phase waits for */
		if (!l->holds) {
			if (user_phase)
				l->deadlocked = true;
			break_deadlock(l);
			return 0;
		}
	}
	if (timeout && idle_spin(l, &timeout)) /* false: timeout less the time spun */
		timeout = 0; /* a message arrived while it spun */
	if (timeout && !urt__inbox_sleep(l))
		timeout = 0; /* a message arrived: do not sleep */
	l->stats.ticks++;
	int r;
	if (l->cfg.flags & URT_CFG_PAUSED_TIME)
		r = poll_paused(l, timeout);
	else
		r = urt__backend_poll(l, timeout);
	urt__inbox_awake(l);
	if (r < 0)
		return r;
	urt__timers_fire(l, urt__now(l));
	return 0;
}

/* io_uring_enter failures in a row before the loop gives up on its ring. */
#define URT_RING_TRIES 3

/* What run_until ticks for: urt_run's and a wind-down's user tasks, or,
 * when the loop is destroyed, its own tasks and the work it counts (I/O
 * without a task, offload jobs). */
static bool user_tasks(const urt_loop *l) { return l->tasks_alive; }
static bool loop_work(const urt_loop *l) { return l->system_alive || l->inflight || l->external; }

/* Tick while pending(l). A failed io_uring_enter is retried a few times
 * in a row (the ring may recover; no completion may be abandoned while it
 * can still arrive), then reported. */
static int run_until(urt_loop *l, bool (*pending)(const urt_loop *), enum tick_phase phase)
{
	int fails = 0;
	while (pending(l)) {
		int r = tick(l, URT_NO_DEADLINE, phase);
		if (r < 0 && ++fails >= URT_RING_TRIES)
			return r;
		if (r == 0)
			fails = 0;
	}
	return 0;
}

/* Keep l's record for the life of the process (closed_loops). */
static void keep_record(urt_loop *l)
{
	pthread_mutex_lock(&closed_lock);
	l->next_closed = closed_loops;
	closed_loops = l;
	pthread_mutex_unlock(&closed_lock);
}

/* The end of a loop for other threads, whether it is destroyed or
 * abandoned: no poster touches it after this, and the messages posted
 * before run once, each seeing the loop closing and letting its poster go
 * (a submission's future gets -ESHUTDOWN) instead of waiting for ever in
 * a dead inbox; the stall watchdog stops looking at it. */
static void close_to_others(urt_loop *l)
{
	urt__inbox_set_state(l, URT_LOOP_CLOSED);
	urt__inbox_drain(l);
	urt__stall_loop_stop(l);
}

/* The ring keeps failing with work in flight: give the loop up. Its
 * memory is never freed and its ring never closed (the kernel may still
 * write into task stacks and the backend), it refuses submissions, and
 * the thread may start a new loop. */
static void abandon(urt_loop *l)
{
	close_to_others(l);
	urt__this_loop = NULL;
	keep_record(l);
}

/* Cancel every task that has not ended (their blocking calls return
 * -ECANCELED). */
static void cancel_all(urt_loop *l)
{
	for (urt_task *t = l->all; t; t = t->all_next)
		if (t->state != URT_T_DONE)
			urt_cancel(t);
}

/* The ring failed under urt_run or urt_loop_step: cancel every task (their blocking calls
 * return -ECANCELED) and run them to their end so the loop can be torn
 * down; if the ring keeps failing, abandon the loop. Returns true if the
 * loop can be destroyed. */
static bool wind_down(urt_loop *l)
{
	cancel_all(l);
	if (run_until(l, user_tasks, TICK_SYSTEM) == 0)
		return true;
	abandon(l);
	return false;
}

static void config_defaults(urt_config *c, const urt_config *user)
{
	if (user)
		*c = *user;
	if (!c->ring_entries)
		c->ring_entries = 256;
	if (!c->stack_size)
		c->stack_size = 64 * 1024;
	if (!c->stack_pool)
		c->stack_pool = 256;
	if (!c->idle_spin_ns)
		c->idle_spin_ns = 20 * 1000;
	/* on one CPU a spin only keeps the thread that would post from running */
	cpu_set_t cpus;
	if (c->idle_spin_ns == UINT64_MAX ||
	    (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < 2))
		c->idle_spin_ns = 0;
	/* the I/O spin's peers are other threads or machines: a loop pinned to
	 * one CPU may spin (urt_cores_run pins), a machine with one may not;
	 * paused time keeps runs repeatable */
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || (c->flags & URT_CFG_PAUSED_TIME))
		c->io_spin_ns = 0;
}


int urt_loop_create(urt_loop **out, const urt_config *cfg)
{
	if (!out || (cfg && cfg->ring_entries > 32768)) /* the kernel's SQ limit */
		return -EINVAL;
	if (urt__loop())
		return -EBUSY;
	pthread_once(&fork_once, fork_init);
	urt_loop *l = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	l->pid = self_pid;
	config_defaults(&l->cfg, cfg);
	l->id = atomic_fetch_add_explicit(&next_loop_id, 1, memory_order_relaxed);
	int r = urt__backend_init(l);
	if (r < 0) {
		free(l);
		return r;
	}
	r = urt__stack_thread_init(&l->altstack);
	if (r < 0) {
		urt__backend_fini(l);
		free(l);
		return r;
	}
	l->owner = pthread_self();
	atomic_store(&l->state, URT_LOOP_OPEN);
	urt__this_loop = l;
	inherited_loop = NULL;
	urt__switch_init(l);
	urt__stall_loop_start(l);
	*out = l;
	return 0;
}

int urt_loop_step(urt_loop *l, uint64_t timeout_ns)
{
	if (urt__loop_foreign(l))
		return -ECHILD;
	if (!l || l != urt__this_loop)
		return -EINVAL;
	if (l->current)
		return -EBUSY; /* called from inside a task */
	urt__inbox_awake(l);
	int r = tick(l, timeout_ns, TICK_STEP);
	if (r < 0) {
		/* as urt_run: retried by the embedder's next steps (the ring may
		 * recover), then the tasks are wound down or the loop abandoned */
		if (++l->step_fails >= URT_RING_TRIES && wind_down(l))
			l->step_fails = 0; /* the loop lives on: new tasks get three tries too */
		return r;
	}
	l->step_fails = 0;
	/* run what the completions just woke, so the embedder's next wait is
	 * for new events only */
	urt__inbox_drain(l);
	urt__run_ready(l);
	if (l->flush)
		l->flush(l);
	/* between steps the embedder sleeps in its own poller: posters must
	 * write the eventfd, which completes the armed read and fires
	 * urt_loop_fd */
	urt__inbox_sleep(l);
	return (int)(l->tasks_alive < INT32_MAX ? l->tasks_alive : INT32_MAX);
}

int64_t urt_loop_timeout(const urt_loop *l)
{
	if (urt__loop_foreign(l))
		return -ECHILD;
	if (!l || l != urt__this_loop)
		return -EINVAL;
	if (l->nready || atomic_load(&((urt_loop *)l)->inbox))
		return 0;
	uint64_t t = urt__timer_next((urt_loop *)l, urt__now((urt_loop *)l));
	return t == URT_NO_DEADLINE ? -1 : (int64_t)(t > INT64_MAX ? INT64_MAX : t);
}

int urt_loop_hold(urt_loop *l)
{
	if (urt__loop_foreign(l))
		return -ECHILD;
	if (!l || l != urt__this_loop)
		return -EINVAL;
	l->holds++;
	return 0;
}

int urt_loop_unhold(urt_loop *l)
{
	if (urt__loop_foreign(l))
		return -ECHILD;
	if (!l || l != urt__this_loop || !l->holds)
		return -EINVAL;
	l->holds--;
	return 0;
}

int urt_loop_destroy(urt_loop *l)
{
	if (urt__loop_foreign(l))
		return -ECHILD;
	if (!l || l != urt__this_loop)
		return -EINVAL;
	if (l->current)
		return -EBUSY;
	if (l->tasks_alive)
		return -EBUSY;
	/* refuse new messages, then run loop-internal tasks and the work
	 * the loop counts (offload jobs) to their end */
	urt__inbox_set_state(l, URT_LOOP_CLOSING);
	cancel_all(l);
	l->holds = 0; /* no user task is left to take what a hold waited for */
	int r = run_until(l, loop_work, TICK_SYSTEM);
	if (r < 0) {
		/* tearing down now would free what the kernel may still write
		 * into, and close the ring under work in flight */
		abandon(l);
		return r;
	}
	close_to_others(l); /* before the backend goes: posters write to it */
	urt__stats_loop_closed(l);
	urt__backend_fini(l);
	urt__this_loop = NULL;
	urt__stack_thread_fini(l->altstack);
	urt__task_pool_drain(l);
	urt__stack_pool_drain(l);
	free(l->heap);
	l->heap = NULL;
	keep_record(l);
	return 0;
}

int urt_run(urt_task_fn fn, void *arg, const urt_config *cfg, void **result)
{
	if (urt__loop())
		return -EBUSY;
	if (!fn)
		return -EINVAL;
	urt_loop *l;
	int r = urt_loop_create(&l, cfg);
	if (r < 0)
		return r;
	urt_task *main_task = NULL;
	r = urt__spawn_on(l, &main_task, fn, arg, &(urt_task_opts){.name = "main"}, URT_TF_MAIN);
	if (r == 0) {
		r = run_until(l, user_tasks, TICK_USER);
		if (r < 0 && !wind_down(l))
			return r;
	}
	if (r == 0 && result)
		*result = l->main_result;
	if (r == 0 && l->deadlocked)
		r = -EDEADLK;
	int d = urt_loop_destroy(l);
	return r < 0 ? r : d;
}
