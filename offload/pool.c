/* The two worker pools: placing jobs, growing, idling and shrinking.
 *
 * A job goes straight to a free worker when there is one (a spinning one
 * first: it needs no wake-up), else to a new thread while the pool is under
 * its cap, else to a FIFO queue. Each worker has its own condition
 * variable, so a hand-over wakes exactly the worker that got the job, and
 * idle workers form a LIFO: the most recently busy one is reused and the
 * others time out after the keep-alive and exit. Concurrency classes admit
 * at most `limit` jobs at once; the rest wait in the class's own queue.
 * When the queue is full, a task's job waits on a list (its task stays
 * parked: that is the back-pressure), a plain thread gets -EAGAIN. */
#include "offload_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#define POOL_INIT(nm, cpu)                                              \
	{                                                               \
		.mu = PTHREAD_MUTEX_INITIALIZER, .drained = PTHREAD_COND_INITIALIZER, \
		.name = nm, .is_cpu = cpu,                              \
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

static __thread struct urt__job *current_job; /* the job this worker runs */

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

enum { ON_NONE, ON_IDLE, ON_SPIN };

static void worker_enlist(struct urt__pool *p, struct urt__worker *w, int list)
{
	struct urt__worker **head = list == ON_IDLE ? &p->idle : &p->spinning;
	w->prev = NULL;
	w->next = *head;
	if (*head)
		(*head)->prev = w;
	*head = w;
	w->list = list;
	if (list == ON_IDLE)
		p->nidle++;
}

static void worker_delist(struct urt__pool *p, struct urt__worker *w)
{
	if (w->list == ON_NONE)
		return;
	struct urt__worker **head = w->list == ON_IDLE ? &p->idle : &p->spinning;
	if (w->prev)
		w->prev->next = w->next;
	else
		*head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	if (w->list == ON_IDLE)
		p->nidle--;
	w->list = ON_NONE;
}

/* ---- placing jobs (all under p->mu) ------------------------------------ */

static void *worker_main(void *arg);

static bool hand_to_worker(struct urt__pool *p, struct urt__job *job)
{
	struct urt__worker *w = p->spinning ? p->spinning : p->idle;
	if (!w)
		return false;
	bool sleeping = w->list == ON_IDLE;
	worker_delist(p, w);
	job->where = URT_JOB_RUNNING;
	p->running++;
	atomic_store_explicit(&w->job, job, memory_order_release);
	if (sleeping)
		pthread_cond_signal(&w->cv);
	return true;
}

static int spawn_worker(struct urt__pool *p, struct urt__job *job)
{
	pthread_attr_t attr;
	pthread_t th;
	if (urt__fault(URT_FAULT_ALLOC) || pthread_attr_init(&attr) != 0)
		return -EAGAIN;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	job->where = URT_JOB_RUNNING;
	int r = pthread_create(&th, &attr, worker_main, job);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		job->where = URT_JOB_NEW;
		return -r;
	}
	p->nthreads++;
	p->running++;
	return 0;
}

/* Admit job (class room permitting) and start it or queue it. */
static int place(struct urt__pool *p, struct urt__job *job)
{
	struct urt__pool_class *c = &p->cls[job->cls];
	if (c->limit && c->admitted >= c->limit) {
		fifo_push(&c->head, &c->tail, job);
		job->where = URT_JOB_CLASS;
		p->queued++;
		return 0;
	}
	c->admitted++;
	if (hand_to_worker(p, job))
		return 0;
	if (p->nthreads < pool_cap(p)) {
		int r = spawn_worker(p, job);
		if (r == 0)
			return 0;
		if (p->nthreads == 0) {
			c->admitted--;
			return r; /* nobody could ever run it */
		}
	}
	fifo_push(&p->qhead, &p->qtail, job);
	job->where = URT_JOB_QUEUED;
	p->queued++;
	return 0;
}

/* The queue has room again: let parked submitters' jobs in. */
static void admit_waiters(struct urt__pool *p)
{
	while (p->whead && p->queued < urt__ocfg.queue_bound) {
		struct urt__job *j = fifo_pop(&p->whead, &p->wtail);
		p->nwaiting--;
		if (place(p, j) < 0) { /* cannot happen with threads alive; keep it queued */
			fifo_push(&p->qhead, &p->qtail, j);
			j->where = URT_JOB_QUEUED;
			p->queued++;
		}
	}
}

/* A job of class cls left (finished or withdrawn): admit the next one. */
static void class_release(struct urt__pool *p, unsigned cls)
{
	struct urt__pool_class *c = &p->cls[cls];
	c->admitted--;
	if (c->head && (!c->limit || c->admitted < c->limit)) {
		struct urt__job *j = fifo_pop(&c->head, &c->tail);
		p->queued--;
		place(p, j); /* the pool has threads: this cannot fail */
	}
}

int urt__pool_submit(struct urt__pool *p, struct urt__job *job, bool may_wait)
{
	job->pool = p;
	pthread_mutex_lock(&p->mu);
	struct urt__pool_class *c = &p->cls[job->cls];
	bool class_full = c->limit && c->admitted >= c->limit;
	bool no_worker = !p->spinning && !p->idle && p->nthreads >= pool_cap(p);
	int r = 0;
	if ((class_full || no_worker) && p->queued >= urt__ocfg.queue_bound) {
		if (may_wait) {
			fifo_push(&p->whead, &p->wtail, job);
			job->where = URT_JOB_WAITING;
			p->nwaiting++;
		} else {
			r = -EAGAIN;
		}
	} else {
		r = place(p, job);
	}
	pthread_mutex_unlock(&p->mu);
	return r;
}

bool urt__pool_withdraw(struct urt__job *job)
{
	struct urt__pool *p = job->pool;
	if (!p)
		return false;
	pthread_mutex_lock(&p->mu);
	bool gone = true;
	switch (job->where) {
	case URT_JOB_WAITING:
		fifo_remove(&p->whead, &p->wtail, job);
		p->nwaiting--;
		break;
	case URT_JOB_CLASS:
		fifo_remove(&p->cls[job->cls].head, &p->cls[job->cls].tail, job);
		p->queued--;
		admit_waiters(p);
		break;
	case URT_JOB_QUEUED:
		fifo_remove(&p->qhead, &p->qtail, job);
		p->queued--;
		class_release(p, job->cls);
		admit_waiters(p);
		break;
	default:
		gone = false;
	}
	if (gone)
		job->where = URT_JOB_GONE;
	pthread_mutex_unlock(&p->mu);
	return gone;
}

/* ---- workers ----------------------------------------------------------- */

static void execute(struct urt__job *job)
{
	current_job = job;
	if (job->ctx) {
		if (urt_ctx_run(job->ctx, job->fn, job->arg, &job->result) < 0)
			job->result = job->fn(job->arg); /* cannot happen: the ctx is ours alone */
	} else {
		job->result = job->fn(job->arg);
	}
	current_job = NULL;
	/* values only this job held are destroyed here, on the worker */
	urt_ctx_release(job->ctx);
	job->ctx = NULL;
}

/* The job of class cls finished: account for it and take the next one. */
static struct urt__job *finish_and_next(struct urt__pool *p, unsigned cls)
{
	p->running--;
	atomic_fetch_add_explicit(&p->done, 1, memory_order_relaxed);
	class_release(p, cls);
	struct urt__job *j = fifo_pop(&p->qhead, &p->qtail);
	if (j) {
		p->queued--;
		j->where = URT_JOB_RUNNING;
		p->running++;
		admit_waiters(p);
	}
	return j;
}

static void deadline_after(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	uint64_t t = (uint64_t)ts->tv_nsec + ns % URT_NS_PER_SEC;
	ts->tv_sec += (time_t)(ns / URT_NS_PER_SEC + t / URT_NS_PER_SEC);
	ts->tv_nsec = (long)(t % URT_NS_PER_SEC);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * URT_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* Poll w->job for up to ns without the lock. */
static struct urt__job *spin_for_job(struct urt__worker *w, uint64_t ns)
{
	uint64_t end = mono_ns() + ns;
	for (unsigned i = 1;; i++) {
		struct urt__job *j = atomic_load_explicit(&w->job, memory_order_acquire);
		if (j)
			return j;
		if ((i & 63) == 0 && mono_ns() >= end)
			return NULL;
		cpu_relax();
	}
}

/* Wait (lock held) for a hand-over. NULL: time to exit (lock still held). */
static struct urt__job *wait_for_job(struct urt__pool *p, struct urt__worker *w)
{
	if (w->list == ON_SPIN)
		worker_delist(p, w);
	struct timespec until;
	deadline_after(&until, urt__ocfg.keep_alive_ns);
	bool timed_out = false;
	while (!atomic_load_explicit(&w->job, memory_order_acquire)) {
		if (p->stopping || timed_out) {
			worker_delist(p, w);
			return NULL;
		}
		if (w->list == ON_NONE)
			worker_enlist(p, w, ON_IDLE);
		timed_out = pthread_cond_timedwait(&w->cv, &p->mu, &until) == ETIMEDOUT;
	}
	return atomic_exchange_explicit(&w->job, NULL, memory_order_acquire);
}

static void *worker_main(void *arg)
{
	struct urt__job *job = arg;
	struct urt__pool *p = job->pool;
	struct urt__worker w = {.list = ON_NONE};
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cv, &ca);
	pthread_condattr_destroy(&ca);
	bool may_spin = cpus_allowed() > 1; /* pinned to one CPU: spinning only delays the loop */

	for (;;) {
		unsigned cls = job->cls;
		execute(job);
		pthread_mutex_lock(&p->mu);
		struct urt__job *next = finish_and_next(p, cls);
		uint64_t spin = urt__ocfg.spin_ns;
		bool spin_now = !next && may_spin && spin && !p->stopping &&
				!(atomic_load_explicit(&urt__ocfg.flags, memory_order_relaxed) & URT_OFFLOAD_NO_SPIN);
		if (!next)
			worker_enlist(p, &w, spin_now ? ON_SPIN : ON_IDLE);
		pthread_mutex_unlock(&p->mu);
		/* on a list before the completion goes out: the submitter's next
		 * job finds this worker instead of starting a thread */
		urt__job_finished(job);
		if (next) {
			job = next;
			continue;
		}
		job = spin_now ? spin_for_job(&w, spin) : NULL;
		if (job) {
			atomic_store_explicit(&w.job, NULL, memory_order_relaxed);
			continue;
		}
		pthread_mutex_lock(&p->mu);
		job = wait_for_job(p, &w);
		if (!job)
			break;
		pthread_mutex_unlock(&p->mu);
	}
	p->nthreads--;
	if (!p->nthreads)
		pthread_cond_broadcast(&p->drained);
	pthread_mutex_unlock(&p->mu);
	pthread_cond_destroy(&w.cv);
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
	pthread_mutex_unlock(&urt__pool_cpu.mu);
	pthread_mutex_unlock(&urt__pool_blocking.mu);
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
	while (c->head && (!c->limit || c->admitted < c->limit)) {
		struct urt__job *j = fifo_pop(&c->head, &c->tail);
		p->queued--;
		place(p, j);
	}
	admit_waiters(p);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

int urt_offload_stats_get(int pool, urt_offload_stats *out)
{
	if (!out || (pool != URT_POOL_BLOCKING && pool != URT_POOL_CPU))
		return -EINVAL;
	struct urt__pool *p = pool == URT_POOL_CPU ? &urt__pool_cpu : &urt__pool_blocking;
	pthread_mutex_lock(&p->mu);
	*out = (urt_offload_stats){
		.threads = p->nthreads, .idle = p->nidle, .running = p->running,
		.queued = p->queued, .waiting = p->nwaiting,
		.done = atomic_load_explicit(&p->done, memory_order_relaxed),
	};
	pthread_mutex_unlock(&p->mu);
	return 0;
}

static void pool_stop(struct urt__pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	for (struct urt__worker *w = p->idle; w; w = w->next)
		pthread_cond_signal(&w->cv);
	while (p->nthreads)
		pthread_cond_wait(&p->drained, &p->mu);
	p->stopping = false;
	pthread_mutex_unlock(&p->mu);
}

int urt_offload_shutdown(void)
{
	if (current_job)
		return -EDEADLK;
	pool_stop(&urt__pool_blocking);
	pool_stop(&urt__pool_cpu);
	return 0;
}
