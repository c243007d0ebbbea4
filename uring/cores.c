/* Thread-per-core: N loops on N threads, one stop request for all.
 *
 * A stop reaches each loop as a message (urt__loop_post: the target's
 * eventfd, armed in its ring) that sets the loop's stop event; a loop that
 * publishes itself after the stop began sees the flag itself (both sides
 * publish, then look: sequentially consistent atomics). SIGINT/SIGTERM are
 * blocked before the threads start (they inherit the mask) and read by a
 * loop-internal task of loop 0 through a signalfd in its ring. */
#include "core_internal.h"
#include "urt_io.h"
#include "urt_server.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define URT_CORES_MAX 1024

struct core {
	unsigned idx;
	int cpu;                    /* CPU to pin to, -1: none */
	pthread_t thread;
	int rc;                     /* urt_run's result */
	urt_loop *_Atomic loop;     /* published by the loop thread */
	urt_event stop;             /* set on the loop when a stop arrives */
	struct urt_remote msg;      /* the stop message */
	_Atomic int posted;         /* msg was handed to the loop */
};

static struct {
	const urt_cores_opts *o;
	struct core *cores;
	unsigned n;
	int sigfd;                  /* -1 if signals are not handled */
	_Atomic int stopping;
} run;
static _Atomic int running;
/* Guards run.cores / run.n against a stop from a thread outside the run
 * while the run sets up or tears down (held briefly, never while waiting). */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread struct core *this_core;

static void stop_msg(urt_loop *l, struct urt_remote *m)
{
	(void)l;
	struct core *c = (struct core *)((char *)m - offsetof(struct core, msg));
	urt_event_set(&c->stop);
}

int urt_cores_stop(void)
{
	pthread_mutex_lock(&run_lock);
	if (!run.cores) {
		pthread_mutex_unlock(&run_lock);
		return -ESRCH;
	}
	atomic_store(&run.stopping, 1);
	for (unsigned i = 0; i < run.n; i++) {
		struct core *c = &run.cores[i];
		urt_loop *l = atomic_load(&c->loop);
		if (!l || atomic_exchange(&c->posted, 1))
			continue;
		if (l == urt__loop())
			urt_event_set(&c->stop);
		else
			urt__loop_post(l, &c->msg); /* -ESHUTDOWN: that loop has ended */
	}
	pthread_mutex_unlock(&run_lock);
	return 0;
}

int urt_cores_index(void) { return this_core ? (int)this_core->idx : -1; }
unsigned urt_cores_count(void)
{
	pthread_mutex_lock(&run_lock);
	unsigned n = run.cores ? run.n : 0;
	pthread_mutex_unlock(&run_lock);
	return n;
}
int urt_cores_stopping(void) { return atomic_load(&running) && atomic_load(&run.stopping); }

int urt_cores_wait_stop(void)
{
	urt_loop *l = urt__loop();
	if (!this_core || this_core->loop != l)
		return -ESRCH;
	/* the stop comes as a message from another thread: held, a loop
	 * with nothing else pending is not deadlocked while it waits */
	urt_loop_hold(l);
	int r = urt_event_wait(&this_core->stop);
	urt_loop_unhold(l);
	return r;
}

/* Loop 0's signal reader: one read of the signalfd through the ring. */
static void *signal_task(void *arg)
{
	(void)arg;
	struct signalfd_siginfo si;
	ssize_t n = urt_read(run.sigfd, &si, sizeof si, URT_POS_CURRENT);
	if (n == (ssize_t)sizeof si)
		urt_cores_stop();
	return NULL;
}

static void *core_main(void *arg)
{
	struct core *c = arg;
	this_core = c;
	urt_loop *l = urt__loop();
	atomic_store(&c->loop, l);
	if (atomic_load(&run.stopping) && !atomic_exchange(&c->posted, 1))
		urt_event_set(&c->stop);
	if (c->idx == 0 && run.sigfd >= 0)
		urt__spawn_system(l, NULL, signal_task, NULL, "signals");
	return run.o->fn(run.o->arg);
}

static void *core_thread(void *arg)
{
	struct core *c = arg;
	if (c->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(c->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	}
	c->rc = urt_run(core_main, c, run.o->cfg, NULL);
	this_core = NULL;
	if (c->rc < 0)
		urt_cores_stop(); /* e.g. no io_uring here: do not leave the others waiting */
	return NULL;
}

/* The i-th CPU this process may run on (modulo their number). */
static int nth_cpu(const cpu_set_t *allowed, unsigned i)
{
	int count = CPU_COUNT(allowed);
	if (count <= 0)
		return -1;
	unsigned want = i % (unsigned)count;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, allowed) && want-- == 0)
			return cpu;
	return -1;
}

static int setup_signals(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	int e = pthread_sigmask(SIG_BLOCK, &set, old);
	if (e)
		return -e;
	run.sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (run.sigfd < 0) {
		e = -errno;
		pthread_sigmask(SIG_SETMASK, old, NULL);
		return e;
	}
	return 0;
}

/* Swallow signals that came after the reader had finished, then unblock. */
static void teardown_signals(const sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	const struct timespec zero = {0, 0};
	while (sigtimedwait(&set, NULL, &zero) > 0)
		;
	close(run.sigfd);
	run.sigfd = -1;
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static unsigned default_loops(const cpu_set_t *allowed)
{
	int n = CPU_COUNT(allowed);
	return n > 0 ? (unsigned)n : 1;
}

int urt_cores_run(const urt_cores_opts *o)
{
	if (!o || !o->fn || o->loops > URT_CORES_MAX)
		return -EINVAL;
	if (urt__loop())
		return -EBUSY;
	int expect = 0;
	if (!atomic_compare_exchange_strong(&running, &expect, 1))
		return -EBUSY;
	cpu_set_t allowed;
	if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
		CPU_ZERO(&allowed);
	unsigned n = o->loops ? o->loops : default_loops(&allowed);
	struct core *cores = calloc(n, sizeof *cores);
	if (!cores) {
		atomic_store(&running, 0);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		cores[i].idx = i;
		cores[i].cpu = o->pin ? nth_cpu(&allowed, i) : -1;
		cores[i].msg.run = stop_msg;
		urt_event_init(&cores[i].stop);
	}
	pthread_mutex_lock(&run_lock);
	run.o = o;
	run.cores = cores;
	run.n = n;
	run.sigfd = -1;
	atomic_store(&run.stopping, 0);
	pthread_mutex_unlock(&run_lock);
	sigset_t old;
	int r = o->signals ? setup_signals(&old) : 0;
	unsigned started = 0;
	for (unsigned i = 0; r == 0 && i < n; i++) {
		int e = pthread_create(&cores[i].thread, NULL, core_thread, &cores[i]);
		if (e) {
			r = -EAGAIN;
			urt_cores_stop();
			break;
		}
		started++;
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(cores[i].thread, NULL);
		if (r == 0 && cores[i].rc < 0)
			r = cores[i].rc;
	}
	if (o->signals && run.sigfd >= 0)
		teardown_signals(&old);
	pthread_mutex_lock(&run_lock);
	run.cores = NULL;
	run.n = 0;
	pthread_mutex_unlock(&run_lock);
	free(cores);
	atomic_store(&running, 0);
	return r;
}
