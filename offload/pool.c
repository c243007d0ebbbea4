/* The two worker pools: placing jobs, growing, idling and shrinking.
 *
 * One FIFO queue per pool under the pool's mutex; workers take jobs from
 * it themselves, so a worker that finishes a job takes the next one
 * without a wake-up, and a submitter that needs nothing but a push does not
 * even lock (the lock-free intake, below). Who looks at a new job:
 *   - a spinning worker (at most one per pool spins: more would only take
 *     CPU from the loop threads), else one being woken or started;
 *   - else the submitter wakes one sleeping worker (each has its own
 *     condition variable, so exactly that one wakes; sleepers form a LIFO:
 *     the warm ones are reused, the others time out after the keep-alive);
 *   - else, while the pool has fewer workers than its eager size (the CPUs
 *     the process may use, or the CPU pool's cap), a new thread is started
 *     (outside the lock);
 *   - else the busy workers take it when they finish, and the blocking
 *     pool's monitor thread starts one more worker whenever a job has
 *     waited in the queue for a whole growth period (1 ms) while a worker
 *     is held by its job (asleep in a blocking call, or on one job for 10
 *     periods); workers short of CPU get no more threads.
 *     So the cap (64) is a limit, not a target: trivial jobs run on a
 *     couple of threads, blocking ones get their own.
 * A worker that takes a job and leaves more in the queue looks for the
 * next helper the same way, so bursts spread without the submitter paying
 * for the wake-ups. Concurrency classes admit at most `limit` jobs at once;
 * the rest wait in the class's own queue. queue_bound limits the main
 * queue and, separately, each class's own queue, so a capped class that
 * fills its queue leaves the main queue's room to the others. When the
 * queue a job goes to is full, a task's job waits on its class's list (its
 * task stays parked: that is the back-pressure), a plain thread gets
 * -EAGAIN. */
#include "offload_internal.h"
#include "probes.h"
#include "stats_provider.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define POOL_INIT(nm, cpu)                                              \
	{                                                               \
		.mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP, .drained = PTHREAD_COND_INITIALIZER, \
		.mon_cv = PTHREAD_COND_INITIALIZER, .name = nm, .is_cpu = cpu, \
	}
struct urt__pool urt__pool_blocking = POOL_INIT("blocking", false);
struct urt__pool urt__pool_cpu = POOL_INIT("cpu", true);

struct urt__offload_cfg urt__ocfg = {
	.blocking_threads = 64,
	.cpu_threads = 0, /* resolved at first use: CPUs this process may use */
	.queue_bound = 4096,
	.keep_alive_ns = 10 * URT_NS_PER_SEC,
	.spin_ns = 50 * 1000,
};

/* How long a queued job may wait before the blocking pool grows. */
#define GROW_NS (1000 * 1000)
/* A job that has had this many periods of CPU time keeps its worker from
 * the queue as surely as a blocked one: the pool grows for it too. CPU
 * time, not time on the job: on a loaded machine a worker may wait for a
 * CPU for 10 ms and more in the middle of a 5 us job. */
#define GROW_LONG_PERIODS 10

static __thread struct urt__job *current_job __attribute__((tls_model("initial-exec"))); /* the job this worker runs */

static unsigned cpus_allowed(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 1;
	int n = CPU_COUNT(&set);
	return n > 0 ? (unsigned)n : 1;
}

static unsigned pool_cap(struct urt__pool *p)
{
	if (!p->is_cpu)
		return urt__ocfg.blocking_threads;
	if (!urt__ocfg.cpu_threads)
		urt__ocfg.cpu_threads = cpus_allowed();
	return urt__ocfg.cpu_threads;
}

/* Workers started without waiting for a job to wait: the CPU pool's jobs
 * are long, so all of them; the blocking pool's are often trivial, so one
 * per CPU (more would only contend for the CPUs with the loops). */
static unsigned pool_eager(struct urt__pool *p)
{
	unsigned cap = pool_cap(p);
	if (p->is_cpu)
		return cap;
	if (!p->ncpus)
		p->ncpus = cpus_allowed();
	return p->ncpus < cap ? p->ncpus : cap;
}

/* ---- lists ------------------------------------------------------------- */

static void fifo_push(struct urt__job **head, struct urt__job **tail, struct urt__job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static struct urt__job *fifo_pop(struct urt__job **head, struct urt__job **tail)
{
	struct urt__job *j = *head;
	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
	}
	return j;
}

/* Unlink j (O(n): only cancellation does this). Returns true if found. */
static bool fifo_remove(struct urt__job **head, struct urt__job **tail, struct urt__job *j)
{
	struct urt__job *prev = NULL;
	for (struct urt__job *x = *head; x; prev = x, x = x->next) {
		if (x != j)
			continue;
		if (prev)
			prev->next = x->next;
		else
			*head = x->next;
		if (*tail == x)
			*tail = prev;
		return true;
	}
	return false;
}

static void idle_push(struct urt__pool *p, struct urt__worker *w)
{
	w->prev = NULL;
	w->next = p->idle;
	if (p->idle)
		p->idle->prev = w;
	p->idle = w;
	w->idle = true;
	p->nidle++;
}

static void idle_remove(struct urt__pool *p, struct urt__worker *w)
{
	if (!w->idle)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		p->idle = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->idle = false;
	p->nidle--;
}

/* ---- the lock-free intake ------------------------------------------------
 * A class-0 submission skips the lock when nothing but a push is needed:
 * someone already looks at the queue (a spinner, a worker being woken or
 * started) or nobody could be woken anyway (no sleeper, the pool at its
 * eager size, the monitor watching or the cap reached), there is room and
 * no task waits for room. The pool publishes that as fast_ok whenever it
 * unlocks or sleeps; the submitter pushes, then reads fast_ok again and
 * takes the lock if it turned false meanwhile, while a worker or monitor
 * that turns it false reads the intake afterwards (both sequentially
 * consistent), so a pushed job is always seen. Whoever takes the lock
 * moves the intake into the queue first (intake_drain), so every other
 * path, withdrawal included, sees an ordinary queue. */

static void publish(struct urt__pool *p)
{
	unsigned bound = urt__ocfg.queue_bound;
	atomic_store_explicit(&p->room, p->queued_main < bound ? bound - p->queued_main : 0,
			      memory_order_relaxed);
	bool nobody_to_wake = !p->idle && p->nthreads >= pool_eager(p) &&
			      (p->is_cpu || p->nthreads >= pool_cap(p) ||
			       (p->monitor_running && !p->mon_sleeping));
	bool ok = !p->cls[0].whead && !p->stopping && p->nthreads > 0 &&
		  (p->nspinning || (p->nwaking && p->nthreads >= pool_eager(p)) || nobody_to_wake);
	if (ok != atomic_load_explicit(&p->fast_ok, memory_order_relaxed))
		atomic_store(&p->fast_ok, ok);
}

static int unlock_and_spawn(struct urt__pool *p);

/* Every unlock starts what kick() reserved meanwhile. */
static void pool_unlock(struct urt__pool *p) { (void)unlock_and_spawn(p); }

static void main_push(struct urt__pool *p, struct urt__job *job);

/* Move the intake into the queue, in submission order (lock held). It
 * does not kick(): a worker taking a job would wake a helper for the very
 * job it is about to take; callers kick (or take) afterwards. */
static void intake_drain(struct urt__pool *p)
{
	if (!atomic_load(&p->intake)) /* after publish(): see the top */
		return;
	struct urt__job *j = atomic_exchange(&p->intake, NULL), *fifo = NULL;
	unsigned n = 0;
	for (; j; n++) {
		struct urt__job *next = j->next;
		j->next = fifo;
		fifo = j;
		j = next;
	}
	p->queued += n;
	p->queued_main += n; /* class 0: never capped, straight to the main queue */
	publish(p); /* room shrinks before fast_n does: never over-counted */
	atomic_fetch_sub_explicit(&p->fast_n, n, memory_order_relaxed);
	while (fifo) {
		struct urt__job *next = fifo->next;
		main_push(p, fifo);
		fifo = next;
	}
}

/* The fast path; false: take the lock. */
static bool intake_push(struct urt__pool *p, struct urt__job *job)
{
	if (job->cls != 0 || !atomic_load(&p->fast_ok))
		return false;
	unsigned n = atomic_fetch_add_explicit(&p->fast_n, 1, memory_order_relaxed);
	if (n >= atomic_load_explicit(&p->room, memory_order_relaxed)) {
		atomic_fetch_sub_explicit(&p->fast_n, 1, memory_order_relaxed);
		return false;
	}
	struct urt__job *head = atomic_load_explicit(&p->intake, memory_order_relaxed);
	do
		job->next = head;
	while (!atomic_compare_exchange_weak(&p->intake, &head, job));
	return true;
}

/* ---- who runs a queued job (all under p->mu) --------------------------- */

static void *worker_main(void *arg);
static void *monitor_main(void *arg);

/* The main queue's length, for spinners that poll without the lock. */
static void qlen_publish(struct urt__pool *p)
{
	atomic_store_explicit(&p->qlen, p->queued_main, memory_order_release);
}

/* Make sure someone will look at the main queue soon (see the top). */
static void kick(struct urt__pool *p)
{
	if (!p->qhead || p->nspinning)
		return;
	struct urt__worker *w = p->idle;
	if (w && !p->nwaking) {
		idle_remove(p, w);
		w->woken = true;
		p->nwaking++;
		pthread_cond_signal(&w->cv);
		return;
	}
	/* up to the eager size, one new thread per queued job at once: long
	 * jobs (the CPU pool's) should not wait for a chain of start-ups */
	if (p->nthreads < pool_eager(p) && p->nwaking < p->queued_main) {
		p->nthreads++; /* reserved; unlock_and_spawn starts it */
		p->nwaking++;
		p->to_spawn++;
		return;
	}
	unsigned cap = pool_cap(p);
	if (p->nwaking)
		return;
	if (p->is_cpu || p->nthreads >= cap)
		return;
	if (!p->monitor_running) {
		p->monitor_running = true;
		p->monitor_start = true;
	} else if (p->mon_sleeping) {
		pthread_cond_signal(&p->mon_cv);
	}
}

/* Is class cls at its cap: does its next job go to the class's queue? */
static bool over_cap(const struct urt__pool_class *c)
{
	return c->limit && c->admitted >= c->limit;
}

/* Is there room where class cls's next job goes (see urt__pool_class)? */
static bool has_room(const struct urt__pool *p, unsigned cls)
{
	const struct urt__pool_class *c = &p->cls[cls];
	unsigned bound = urt__ocfg.queue_bound;
	return over_cap(c) ? c->nqueued < bound : p->queued_main < bound;
}

/* Append job to the main queue; it is already counted in p->queued and
 * p->queued_main. Admits it to its class. */
static void main_push(struct urt__pool *p, struct urt__job *job)
{
	p->cls[job->cls].admitted++;
	fifo_push(&p->qhead, &p->qtail, job);
	job->where = URT_JOB_QUEUED;
	job->seq = p->enq_seq++;
	qlen_publish(p);
}

/* Queue job: in the main queue, or in its class's queue when the class is
 * at its cap. Whether there is room is the caller's business: a job let
 * in from its class's queue goes to the main queue even when that is
 * full (it was admitted to the pool already). */
static void place(struct urt__pool *p, struct urt__job *job)
{
	struct urt__pool_class *c = &p->cls[job->cls];
	p->queued++;
	if (over_cap(c)) {
		fifo_push(&c->head, &c->tail, job);
		c->nqueued++;
		job->where = URT_JOB_CLASS;
		return;
	}
	p->queued_main++;
	main_push(p, job);
	kick(p);
}

/* Room may have come back: let parked submitters' jobs in, each class's
 * list as far as its own room goes. */
static void admit_waiters(struct urt__pool *p)
{
	if (!p->nwaiting)
		return;
	for (unsigned i = 0; i < URT_OFFLOAD_CLASSES; i++) {
		struct urt__pool_class *c = &p->cls[i];
		while (c->whead && has_room(p, i)) {
			struct urt__job *j = fifo_pop(&c->whead, &c->wtail);
			p->nwaiting--;
			place(p, j);
		}
	}
}

/* A job of class cls left (finished or withdrawn): admit the next one. */
static void class_release(struct urt__pool *p, unsigned cls)
{
	struct urt__pool_class *c = &p->cls[cls];
	c->admitted--;
	if (c->head && !over_cap(c)) {
		struct urt__job *j = fifo_pop(&c->head, &c->tail);
		c->nqueued--;
		p->queued--;
		place(p, j);
	}
}

/* Start the threads kick() reserved, without the lock (thread creation
 * takes tens of microseconds). Returns 0, or -errno when a start failed
 * and the pool has no worker left to run its queue. */
static int unlock_and_spawn(struct urt__pool *p)
{
	unsigned n = p->to_spawn;
	bool mon = p->monitor_start;
	p->to_spawn = 0;
	p->monitor_start = false;
	publish(p);
	pthread_mutex_unlock(&p->mu);
	if (!n && !mon)
		return 0;
	int err = 0;
	unsigned failed = 0;
	bool mon_failed = mon;
	pthread_attr_t attr;
	if (urt__fault(URT_FAULT_ALLOC) || pthread_attr_init(&attr) != 0) {
		failed = n;
		err = -EAGAIN;
	} else {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		/* the threads inherit it: a SIGTERM meant for urt_cores_run's
		 * signalfd (blocked only in the threads started after it) must
		 * not land in a worker an earlier loop started */
		sigset_t old = urt__block_async_signals();
		pthread_t th;
		for (unsigned i = 0; i < n; i++) {
			int r = pthread_create(&th, &attr, worker_main, p);
			if (r != 0) {
				failed++;
				err = -r;
			}
		}
		if (mon)
			mon_failed = pthread_create(&th, &attr, monitor_main, p) != 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
	}
	if (!failed && !mon_failed)
		return 0;
	pthread_mutex_lock(&p->mu);
	if (mon_failed) /* the next starved submission tries again */
		p->monitor_running = false;
	p->nthreads -= failed;
	p->nwaking -= failed;
	bool none = p->nthreads == 0;
	pthread_cond_broadcast(&p->drained);
	publish(p);
	pthread_mutex_unlock(&p->mu);
	return failed && none ? err : 0;
}

/* A new job (lock held): queued if there is room where it goes and no
 * job of its class waits for that room before it, else on its class's
 * waiting list (its task stays parked) if may_wait. Returns 1 queued, 0
 * waiting, -EAGAIN full. */
static int queue_or_wait(struct urt__pool *p, struct urt__job *job, bool may_wait)
{
	struct urt__pool_class *c = &p->cls[job->cls];
	if (!c->whead && has_room(p, job->cls)) {
		place(p, job);
		return 1;
	}
	if (!may_wait)
		return -EAGAIN;
	fifo_push(&c->whead, &c->wtail, job);
	job->where = URT_JOB_WAITING;
	p->nwaiting++;
	return 0;
}

int urt__pool_submit(struct urt__pool *p, struct urt__job *job, bool may_wait)
{
	URT_PROBE2(offload_queue, job, p == &urt__pool_cpu);
	job->pool = p;
	if (intake_push(p, job) && atomic_load(&p->fast_ok))
		return 0;
	pthread_mutex_lock(&p->mu);
	intake_drain(p); /* job itself, if it was pushed after all */
	kick(p);
	int q = job->where == URT_JOB_NEW ? queue_or_wait(p, job, may_wait) : 1;
	int r = unlock_and_spawn(p);
	if (q <= 0) /* waiting, or refused */
		return q;
	if (r < 0 && urt__pool_withdraw(job)) /* no thread could start and none is left */
		return r;
	return 0;
}

/* ---- a loop thread's batch ------------------------------------------------
 * A task's job waits in its loop thread's batch until the tick is about to
 * poll (l->flush), or until BATCH_MAX are held: then the whole batch goes
 * onto the intake with one counter update and one CAS, or is placed under
 * one lock, instead of a push per job on the cache lines the workers poll.
 * The delay is nil for a lone job: its task parks, and with nothing else
 * ready the tick reaches the hand-over at once. */
#define BATCH_MAX 64

struct batch {
	struct urt__job *head, *tail; /* FIFO */
	unsigned n;
};
/* initial-exec: see jobcache.c */
static __thread struct batch batches[2] __attribute__((tls_model("initial-exec"))); /* [is_cpu] */

/* Several jobs at once onto the intake (v[0] oldest); false: take the lock. */
static bool intake_push_many(struct urt__pool *p, struct urt__job **v, unsigned n)
{
	if (!atomic_load(&p->fast_ok))
		return false;
	unsigned before = atomic_fetch_add_explicit(&p->fast_n, n, memory_order_relaxed);
	if (before + n > atomic_load_explicit(&p->room, memory_order_relaxed)) {
		atomic_fetch_sub_explicit(&p->fast_n, n, memory_order_relaxed);
		return false;
	}
	for (unsigned i = n - 1; i > 0; i--) /* the intake is newest first */
		v[i]->next = v[i - 1];
	struct urt__job *head = atomic_load_explicit(&p->intake, memory_order_relaxed);
	do
		v[0]->next = head;
	while (!atomic_compare_exchange_weak(&p->intake, &head, v[n - 1]));
	return true;
}

/* A batched job could not be handed over: its (parked) task gets err. */
static void batch_fail(struct urt__job *job, int err)
{
	job->loop->external--;
	urt__wake(job->task, err);
	urt__job_free(job);
}

/* Hand v[0..n) to p: urt__pool_submit's paths, once for all of them. */
static void handover(struct urt__pool *p, struct urt__job **v, unsigned n)
{
	bool plain = true; /* all class 0: the intake may take them */
	for (unsigned i = 0; i < n; i++) {
		URT_PROBE2(offload_queue, v[i], p == &urt__pool_cpu);
		plain = plain && v[i]->cls == 0;
	}
	if (plain && intake_push_many(p, v, n) && atomic_load(&p->fast_ok))
		return;
	pthread_mutex_lock(&p->mu);
	intake_drain(p); /* the batch itself, if it was pushed after all */
	for (unsigned i = 0; i < n; i++)
		if (v[i]->where == URT_JOB_NEW)
			queue_or_wait(p, v[i], true);
	kick(p);
	int r = unlock_and_spawn(p);
	if (r < 0) /* no thread could start and none is left: take them back */
		for (unsigned i = 0; i < n; i++)
			if (urt__pool_withdraw(v[i]))
				batch_fail(v[i], r);
}

static void batch_flush(struct urt__pool *p)
{
	struct batch *b = &batches[p->is_cpu];
	while (b->head) {
		struct urt__job *v[BATCH_MAX];
		unsigned n = 0;
		while (b->head && n < BATCH_MAX) {
			struct urt__job *j = fifo_pop(&b->head, &b->tail);
			j->batched = false;
			v[n++] = j;
		}
		b->n -= n;
		handover(p, v, n);
	}
}

static void batch_flush_all(urt_loop *l)
{
	l->flush = NULL;
	batch_flush(&urt__pool_blocking);
	batch_flush(&urt__pool_cpu);
}

void urt__pool_submit_batched(struct urt__pool *p, struct urt__job *job, urt_loop *l)
{
	struct batch *b = &batches[p->is_cpu];
	if (b->n >= BATCH_MAX)
		batch_flush(p); /* their tasks are parked (this one is not yet) */
	job->pool = p;
	job->batched = true;
	fifo_push(&b->head, &b->tail, job);
	b->n++;
	l->flush = batch_flush_all;
}

bool urt__pool_withdraw(struct urt__job *job)
{
	struct urt__pool *p = job->pool;
	if (!p)
		return false;
	if (job->batched) { /* on this (its loop's) thread: never seen by p */
		struct batch *b = &batches[p->is_cpu];
		fifo_remove(&b->head, &b->tail, job);
		b->n--;
		job->batched = false;
		job->where = URT_JOB_GONE;
		return true;
	}
	pthread_mutex_lock(&p->mu);
	intake_drain(p); /* job may still be on the lock-free intake */
	kick(p);
	bool gone = true;
	switch (job->where) {
	case URT_JOB_WAITING:
		fifo_remove(&p->cls[job->cls].whead, &p->cls[job->cls].wtail, job);
		p->nwaiting--;
		break;
	case URT_JOB_CLASS:
		fifo_remove(&p->cls[job->cls].head, &p->cls[job->cls].tail, job);
		p->cls[job->cls].nqueued--;
		p->queued--;
		admit_waiters(p);
		break;
	case URT_JOB_QUEUED:
		fifo_remove(&p->qhead, &p->qtail, job);
		p->queued--;
		p->queued_main--;
		qlen_publish(p);
		class_release(p, job->cls);
		admit_waiters(p);
		break;
	default:
		gone = false;
	}
	if (gone)
		job->where = URT_JOB_GONE;
	unlock_and_spawn(p);
	return gone;
}

/* ---- workers ----------------------------------------------------------- */

static void execute(struct urt__job *job)
{
	current_job = job;
	URT_PROBE1(offload_start, job);
	if (job->ctx_on_worker) {
		job->result = urt__ctx_run_scratch(job->fn, job->arg);
	} else if (job->ctx) {
		if (urt_ctx_run(job->ctx, job->fn, job->arg, &job->result) < 0)
			job->result = job->fn(job->arg); /* cannot happen: the ctx is ours alone */
	} else {
		job->result = job->fn(job->arg);
	}
	current_job = NULL;
	URT_PROBE2(offload_done, job, job->err);
	/* values only this job held are destroyed here, on the worker (the
	 * field is written only then: the loop reads this record back) */
	if (job->ctx) {
		urt_ctx_release(job->ctx);
		job->ctx = NULL;
	}
}

/* Take the next queued job (lock held), and if more wait, see that
 * someone looks at them too. */
static struct urt__job *take(struct urt__pool *p)
{
	intake_drain(p);
	struct urt__job *j = fifo_pop(&p->qhead, &p->qtail);
	if (!j)
		return NULL;
	p->queued--;
	p->queued_main--;
	qlen_publish(p);
	j->where = URT_JOB_RUNNING;
	p->running++;
	admit_waiters(p);
	kick(p);
	return j;
}

/* A job of class cls finished (lock held). */
static void finish(struct urt__pool *p, unsigned cls)
{
	p->running--;
	atomic_fetch_add_explicit(&p->done, 1, memory_order_relaxed);
	class_release(p, cls);
	if (p->cls[cls].limit)
		admit_waiters(p); /* its class's queue may have room again */
}

static void deadline_after(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	uint64_t t = (uint64_t)ts->tv_nsec + ns % URT_NS_PER_SEC;
	ts->tv_sec += (time_t)(ns / URT_NS_PER_SEC + t / URT_NS_PER_SEC);
	ts->tv_nsec = (long)(t % URT_NS_PER_SEC);
}

/* Poll the queue's length for up to ns without the lock. Every 64 polls
 * (a few microseconds) the spinner yields: when the scheduler has put it on the
 * CPU of a loop thread (or of a busy worker) that is runnable, that one
 * runs instead of waiting for the spin to end (with the spinner holding
 * the CPU, the loop it is waiting for cannot submit anything). */
static void spin_on_queue(struct urt__pool *p, uint64_t ns)
{
	uint64_t end = urt__add_sat(urt__mono_ns(), ns); /* spin_ns is the user's */
	for (unsigned i = 1;; i++) {
		if (atomic_load_explicit(&p->qlen, memory_order_acquire) ||
		    atomic_load_explicit(&p->intake, memory_order_acquire))
			return;
		if ((i & 63) == 0) {
			if (urt__mono_ns() >= end)
				return;
			sched_yield();
		}
		urt__cpu_relax();
	}
}

static bool may_spin_now(struct urt__pool *p, bool cpus_ok)
{
	return cpus_ok && !p->nspinning && !p->stopping && urt__ocfg.spin_ns &&
	       !(atomic_load_explicit(&urt__ocfg.flags, memory_order_relaxed) & URT_OFFLOAD_NO_SPIN);
}

/* Sleep on the idle list (lock held) until woken or work shows up.
 * Returns false when it is time to exit (keep-alive over, or stopping). */
static bool sleep_for_work(struct urt__pool *p, struct urt__worker *w)
{
	struct timespec until;
	deadline_after(&until, urt__ocfg.keep_alive_ns);
	bool timed_out = false;
	while (w->idle) {
		publish(p); /* asleep: submitters must take the lock and wake it */
		intake_drain(p);
		if (p->qhead) { /* queued while this worker was posting */
			idle_remove(p, w);
			return true;
		}
		if (p->stopping || timed_out) {
			idle_remove(p, w);
			return false;
		}
		timed_out = pthread_cond_timedwait(&w->cv, &p->mu, &until) == ETIMEDOUT;
		intake_drain(p);
	}
	if (w->woken) {
		w->woken = false;
		p->nwaking--;
	}
	return true;
}

static void *worker_main(void *arg)
{
	struct urt__pool *p = arg;
	struct urt__worker w = {.idle = false};
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cv, &ca);
	pthread_condattr_destroy(&ca);
	bool cpus_ok = cpus_allowed() > 1; /* pinned to one CPU: spinning only delays the loop */
	struct urt__job *done = NULL; /* finished, its completion not posted yet */
	bool spun = false;

	pthread_mutex_lock(&p->mu);
	p->nwaking--; /* counted as being woken while it started */
	w.tid = (pid_t)syscall(SYS_gettid);
	if (pthread_getcpuclockid(pthread_self(), &w.cpu_clock) != 0)
		w.cpu_clock = (clockid_t)-1; /* not on Linux: reads 0, only sleeping jobs count */
	w.all_next = p->all;
	if (p->all)
		p->all->all_prev = &w;
	p->all = &w;
	for (;;) {
		struct urt__job *job = take(p);
		if (job) {
			spun = false;
			int r = unlock_and_spawn(p);
			(void)r; /* this worker is alive: the queue is served */
			/* post the previous completion only now: the pool already
			 * counts this worker as busy, and the next job is out of
			 * the queue before its submitter hears back */
			if (done)
				urt__job_finished(done);
			unsigned cls = job->cls;
			atomic_store_explicit(&w.in_job, true, memory_order_relaxed);
			execute(job);
			atomic_store_explicit(&w.in_job, false, memory_order_relaxed);
			done = job;
			pthread_mutex_lock(&p->mu);
			finish(p, cls);
			w.jobs++;
			continue;
		}
		if (!spun && may_spin_now(p, cpus_ok)) {
			/* spinning before the completion goes out: the submitter's
			 * next job finds this worker without a wake-up */
			p->nspinning++;
			uint64_t ns = urt__ocfg.spin_ns;
			pool_unlock(p);
			if (done)
				urt__job_finished(done);
			done = NULL;
			spin_on_queue(p, ns);
			spun = true;
			pthread_mutex_lock(&p->mu);
			p->nspinning--;
			continue;
		}
		idle_push(p, &w);
		if (done) { /* on the idle list first, for the same reason */
			pool_unlock(p);
			urt__job_finished(done);
			done = NULL;
			pthread_mutex_lock(&p->mu);
		}
		if (!sleep_for_work(p, &w))
			break;
		spun = false;
	}
	if (w.all_prev)
		w.all_prev->all_next = w.all_next;
	else
		p->all = w.all_next;
	if (w.all_next)
		w.all_next->all_prev = w.all_prev;
	p->nthreads--;
	if (!p->nthreads) {
		pthread_cond_broadcast(&p->drained);
		pthread_cond_signal(&p->mon_cv); /* the monitor leaves with the last worker */
	}
	pool_unlock(p);
	pthread_cond_destroy(&w.cv);
	return NULL;
}

/* ---- the blocking pool's monitor ---------------------------------------- */

/* Is thread tid of this process asleep in the kernel (state S or D)? If
 * /proc cannot tell, yes: growing is the safe answer for a queue that
 * waits. */
static bool thread_sleeps(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT; /* ENOENT: it has just exited */
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	const char *s = strrchr(buf, ')'); /* the name may hold anything */
	return !s || s[1] != ' ' || s[2] == 'S' || s[2] == 'D';
}

static uint64_t cpu_ns(clockid_t clock)
{
	struct timespec ts;
	if (clock_gettime(clock, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * URT_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* A job has waited a whole period: does the pool need one more worker?
 * Only if a worker is held by its job: asleep in it (a blocking call), or
 * on the same job for GROW_LONG_PERIODS. Workers that are running or
 * waiting for a CPU are short of CPU, not of threads: one more would only
 * share the CPUs with them and with the loops that submit (bench_offload
 * tput, 1,000 trivial jobs in flight on 2 CPUs: a third worker, started
 * when preempted workers let the queue wait a period, took throughput from
 * 8.1-8.7 to 4.3-4.9 M jobs/s; CPU-short jobs under load grew the pool to
 * 16-25 threads). Lock held on entry and on return; /proc is read without
 * it, for the thread ids taken first: the first 64 busy workers' (the
 * default cap; above it, a sample: each read is a few microseconds). */
static bool workers_held(struct urt__pool *p)
{
	pid_t asleep[64];
	unsigned n = 0;
	bool held = false;
	for (struct urt__worker *w = p->all; w; w = w->all_next) {
		bool busy = atomic_load_explicit(&w->in_job, memory_order_relaxed);
		if (!busy || w->jobs != w->jobs_mark) {
			w->still_periods = 0;
		} else if (w->still_periods++ == 0) {
			w->cpu_mark = cpu_ns(w->cpu_clock);
		} else if (w->still_periods >= GROW_LONG_PERIODS &&
			   cpu_ns(w->cpu_clock) - w->cpu_mark >= (GROW_LONG_PERIODS - 1) * GROW_NS) {
			held = true;
		}
		if (busy && n < sizeof asleep / sizeof *asleep)
			asleep[n++] = w->tid;
	}
	if (held || !n)
		return held;
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < n && !held; i++)
		held = thread_sleeps(asleep[i]);
	pthread_mutex_lock(&p->mu);
	return held;
}

/* Grows the pool when a job has waited a whole period and a worker is
 * held by its job (workers_held): another one is needed. Sleeps
 * while the queue is served, leaves with the last worker. */
static void *monitor_main(void *arg)
{
	struct urt__pool *p = arg;
	pthread_mutex_lock(&p->mu);
	uint64_t mark = 0;
	bool armed = false;
	while (!p->stopping && p->nthreads > 0) {
		intake_drain(p);
		kick(p);
		if (p->to_spawn) {
			unlock_and_spawn(p);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		bool starved = p->qhead && !p->nspinning && !p->nwaking && !p->idle &&
			       p->nthreads < pool_cap(p);
		if (!starved) {
			armed = false;
			p->mon_sleeping = true;
			publish(p);
			if (atomic_load(&p->intake)) { /* pushed meanwhile: look again */
				p->mon_sleeping = false;
				continue;
			}
			pthread_cond_wait(&p->mon_cv, &p->mu);
			p->mon_sleeping = false;
			continue;
		}
		if (armed && p->qhead->seq < mark && workers_held(p) && p->qhead &&
		    p->nthreads < pool_cap(p) && !p->stopping) {
			/* the oldest job was queued before the period began
			 * and a worker is held by its job */
			p->nthreads++;
			p->nwaking++;
			p->to_spawn++;
			p->grown++;
			unlock_and_spawn(p);
			pthread_mutex_lock(&p->mu);
			armed = false;
			continue;
		}
		mark = p->enq_seq;
		for (struct urt__worker *w = p->all; w; w = w->all_next)
			w->jobs_mark = w->jobs;
		armed = true;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until); /* mon_cv uses the default clock */
		until.tv_nsec += GROW_NS;
		if (until.tv_nsec >= (long)URT_NS_PER_SEC) {
			until.tv_sec++;
			until.tv_nsec -= (long)URT_NS_PER_SEC;
		}
		pthread_cond_timedwait(&p->mon_cv, &p->mu, &until);
	}
	p->monitor_running = false;
	pthread_cond_broadcast(&p->drained);
	pool_unlock(p);
	return NULL;
}

/* ---- public: configuration, stats, shutdown ---------------------------- */

int urt_job_error(int err)
{
	if (!current_job)
		return -EPERM;
	if (err >= 0)
		return -EINVAL;
	current_job->err = err;
	return 0;
}

int urt_offload_configure(const urt_offload_config *cfg)
{
	if (!cfg || (cfg->flags & ~(unsigned)(URT_OFFLOAD_NO_SPIN | URT_OFFLOAD_MSG_RING)))
		return -EINVAL;
	pthread_mutex_lock(&urt__pool_blocking.mu);
	pthread_mutex_lock(&urt__pool_cpu.mu);
	if (cfg->blocking_threads)
		urt__ocfg.blocking_threads = cfg->blocking_threads;
	if (cfg->cpu_threads)
		urt__ocfg.cpu_threads = cfg->cpu_threads;
	if (cfg->queue_bound)
		urt__ocfg.queue_bound = cfg->queue_bound;
	if (cfg->keep_alive_ns)
		urt__ocfg.keep_alive_ns = cfg->keep_alive_ns;
	if (cfg->spin_ns)
		urt__ocfg.spin_ns = cfg->spin_ns;
	atomic_store(&urt__ocfg.flags, cfg->flags);
	pool_unlock(&urt__pool_cpu);
	pool_unlock(&urt__pool_blocking);
	return 0;
}

int urt_offload_class_limit(unsigned class_id, unsigned max_running)
{
	if (class_id == 0 || class_id >= URT_OFFLOAD_CLASSES)
		return -EINVAL;
	struct urt__pool *p = &urt__pool_blocking;
	pthread_mutex_lock(&p->mu);
	p->cls[class_id].limit = max_running;
	/* a raised cap admits waiting jobs at once */
	struct urt__pool_class *c = &p->cls[class_id];
	while (c->head && !over_cap(c)) {
		struct urt__job *j = fifo_pop(&c->head, &c->tail);
		c->nqueued--;
		p->queued--;
		place(p, j);
	}
	admit_waiters(p);
	unlock_and_spawn(p);
	return 0;
}

int urt_offload_stats_get(int pool, urt_offload_stats *out)
{
	if (!out || (pool != URT_POOL_BLOCKING && pool != URT_POOL_CPU))
		return -EINVAL;
	struct urt__pool *p = pool == URT_POOL_CPU ? &urt__pool_cpu : &urt__pool_blocking;
	pthread_mutex_lock(&p->mu);
	intake_drain(p);
	kick(p);
	*out = (urt_offload_stats){
		.threads = p->nthreads, .idle = p->nidle + p->nspinning, .running = p->running,
		.queued = p->queued, .waiting = p->nwaiting,
		.done = atomic_load_explicit(&p->done, memory_order_relaxed),
	};
	unlock_and_spawn(p);
	return 0;
}

/* Counted, not a flag: with two shutdowns at once, the first to see the
 * pool empty must not end the other's stop. A submission right after it
 * (allowed) starts a worker, which would then go idle for its keep-alive,
 * 10 s, with the other shutdown waiting for it. */
static void pool_stop(struct urt__pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping++;
	for (struct urt__worker *w = p->idle; w; w = w->next)
		pthread_cond_signal(&w->cv);
	pthread_cond_signal(&p->mon_cv);
	publish(p); /* no more lock-free pushes */
	while (p->nthreads || p->monitor_running)
		pthread_cond_wait(&p->drained, &p->mu);
	p->stopping--;
	pool_unlock(p);
}

int urt_offload_shutdown(void)
{
	if (current_job)
		return -EDEADLK;
	pool_stop(&urt__pool_blocking);
	pool_stop(&urt__pool_cpu);
	return 0;
}

/* ---- the "offload" section of urt_stats_dump_json / URT_STATS ---------- */

static void stats_pool_json(FILE *out, const char *name, int pool)
{
	urt_offload_stats s;
	urt_offload_stats_get(pool, &s);
	fprintf(out, "\"%s\":{\"threads\":%u,\"idle\":%u,\"running\":%u,\"queued\":%u,"
		     "\"waiting\":%u,\"done\":%llu}",
		name, s.threads, s.idle, s.running, s.queued, s.waiting, (unsigned long long)s.done);
}

static int stats_json(FILE *out, void *arg)
{
	(void)arg;
	fputc('{', out);
	stats_pool_json(out, "blocking", URT_POOL_BLOCKING);
	fputc(',', out);
	stats_pool_json(out, "cpu", URT_POOL_CPU);
	fputc('}', out);
	return 0;
}

/* Registered for the life of the process once the pools are linked in. */
__attribute__((constructor)) static void stats_register(void)
{
	urt__stats_provider_register("offload", stats_json, NULL);
}
