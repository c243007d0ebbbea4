/* Offload benchmarks, urt vs libuv, interleaved rounds, medians:
 *   offload_rtt      sequential to_thread(trivial) vs uv_queue_work -> after_work
 *   offload_tput     1,000 jobs in flight vs 1,000 uv_queue_work in flight
 *   submit_rtt       a foreign thread submits and waits vs uv_async_send ping-pong
 *   loop2loop_rtt    loop A -> loop B -> loop A: MSG_RING vs the eventfd inbox
 * --pin: every thread on CPU 0 (cross-CPU wake-ups cost 40-70 us on the
 * build VM; this shows the cost without them). --quick: a few rounds.
 * --only rtt|tput|submit|l2l: just that measurement (for profiling).
 * --urt-only: skip libuv's side of tput (callgrind counts of the loop
 * thread); BENCH_STATS=1 prints the pool's size after each urt tput round.
 * Both sides use their default pools: urt's settles on a worker per CPU,
 * libuv's has 4 threads (UV_THREADPOOL_SIZE unset); BENCH_THREADS caps
 * urt's blocking pool, BENCH_NOSPIN turns its spinning off, BENCH_JOBS sets
 * the jobs per tput round (200,000: about 50 ms, long enough for a
 * throughput; rounds of 20,000, 5 ms, swung 0.5-1.3x from run to run on
 * the build VM, whichever pool was faster in the long run). */
#include <pthread.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <uv.h>
#include "bench_util.h"
#include "urt.h"
#include "urt_offload.h"

static int rounds = 9, iters = 2000, tput_jobs = 200000;
static int pin;
static int urt_only; /* --urt-only: skip libuv's side (callgrind of the loop thread) */
static const char *sfx = "";
static const char *only; /* --only NAME: run just that measurement (rtt, tput, submit, l2l) */

static int want(const char *name) { return !only || !strcmp(only, name); }

static void *trivial(void *arg) { return arg; }

/* ---- urt: to_thread ------------------------------------------------------ */

static void *urt_rtt_main(void *arg)
{
	double *out = arg;
	urt_to_thread(trivial, NULL, NULL); /* warm: a worker exists */
	uint64_t t0 = perf_now_ns();
	for (int i = 0; i < iters; i++)
		urt_to_thread(trivial, NULL, NULL);
	*out = (double)(perf_now_ns() - t0) / iters / 1000.0;
	return NULL;
}

/* Throughput: IN_FLIGHT tasks each loop on to_thread(trivial) until
 * tput_jobs jobs were handed out. Timed from the go signal (every task
 * spawned, started and parked on the event: like libuv's 1,000
 * preallocated uv_work_t, no set-up inside the clock) to the last job's
 * completion, as libuv's side is timed from the first uv_queue_work to the
 * last after_work callback. */
#define IN_FLIGHT 1000
static atomic_long tput_left;
static long tput_finished;     /* loop thread only */
static uint64_t tput_end;
static urt_event tput_go;

static void *tput_task(void *arg)
{
	(void)arg;
	urt_event_wait(&tput_go);
	for (;;) {
		long n = atomic_fetch_sub_explicit(&tput_left, 1, memory_order_relaxed);
		if (n <= 0)
			return NULL;
		urt_to_thread(trivial, NULL, NULL);
		if (++tput_finished == tput_jobs)
			tput_end = perf_now_ns();
	}
}

static double urt_rtt(void)
{
	double us = 0;
	urt_run(urt_rtt_main, &us, NULL, NULL);
	return us;
}

/* BENCH_STATS: the loop thread's CPU time, context switches and ticks
 * over the timed part, per job (less load-dependent than the rate). */
static struct { uint64_t cpu_ns, proc_ns, ticks; long vcsw, ivcsw; } tput_st;

static void tput_sample(int sign)
{
	struct timespec ts;
	struct rusage ru;
	urt_loop_stats ls;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	getrusage(RUSAGE_THREAD, &ru);
	urt_loop_stats_get(NULL, &ls);
	tput_st.cpu_ns += (uint64_t)sign * ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
	tput_st.ticks += (uint64_t)sign * ls.ticks;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	tput_st.proc_ns += (uint64_t)sign * ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
	tput_st.vcsw += sign * ru.ru_nvcsw;
	tput_st.ivcsw += sign * ru.ru_nivcsw;
}

static void *tput_waiter(void *arg)
{
	double *out = arg;
	urt_task *t[IN_FLIGHT];
	atomic_store(&tput_left, tput_jobs);
	tput_finished = 0;
	urt_event_init(&tput_go);
	for (int i = 0; i < IN_FLIGHT; i++)
		urt_spawn(&t[i], tput_task, NULL, NULL);
	urt_yield(); /* each task runs up to its wait */
	int stats = getenv("BENCH_STATS") != NULL;
	if (stats) {
		memset(&tput_st, 0, sizeof tput_st);
		tput_sample(-1);
	}
	uint64_t t0 = perf_now_ns();
	urt_event_set(&tput_go);
	for (int i = 0; i < IN_FLIGHT; i++)
		urt_join(t[i], NULL);
	if (stats)
		tput_sample(1);
	*out = tput_jobs / ((double)(tput_end - t0) / 1e9);
	return NULL;
}

static double urt_tput(void)
{
	double rate = 0;
	/* a stack for every task, as libuv has a uv_work_t for every job */
	urt_config cfg = {.stack_pool = IN_FLIGHT};
	urt_run(tput_waiter, &rate, &cfg, NULL);
	if (getenv("BENCH_STATS")) {
		urt_offload_stats st;
		urt_offload_stats_get(URT_POOL_BLOCKING, &st);
		fprintf(stderr, "tput: %.0f jobs/s, %u workers; per job: loop %.0f ns CPU, all %.0f ns CPU; per 1000 jobs: "
			"%.1f ticks, %.1f sleeps, %.1f preemptions\n",
			rate, st.threads, (double)tput_st.cpu_ns / tput_jobs, (double)tput_st.proc_ns / tput_jobs, 1000.0 * tput_st.ticks / tput_jobs,
			1000.0 * tput_st.vcsw / tput_jobs, 1000.0 * tput_st.ivcsw / tput_jobs);
	}
	return rate;
}

/* ---- libuv: uv_queue_work ------------------------------------------------ */

static int uv_left;
static uv_work_t uv_reqs[IN_FLIGHT];
static void uv_work(uv_work_t *r) { (void)r; }
static void uv_after_rtt(uv_work_t *r, int status)
{
	(void)status;
	if (--uv_left > 0)
		uv_queue_work(r->loop, r, uv_work, uv_after_rtt);
}

static double uv_rtt(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	uv_left = 1;
	uv_queue_work(&loop, &uv_reqs[0], uv_work, uv_after_rtt); /* warm */
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_left = iters;
	uint64_t t0 = perf_now_ns();
	uv_queue_work(&loop, &uv_reqs[0], uv_work, uv_after_rtt);
	uv_run(&loop, UV_RUN_DEFAULT);
	double us = (double)(perf_now_ns() - t0) / iters / 1000.0;
	uv_loop_close(&loop);
	return us;
}

static int uv_tput_left;
static void uv_after_tput(uv_work_t *r, int status)
{
	(void)status;
	if (--uv_tput_left >= IN_FLIGHT)
		uv_queue_work(r->loop, r, uv_work, uv_after_tput);
}

static double uv_tput(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	uv_tput_left = tput_jobs;
	uint64_t t0 = perf_now_ns();
	for (int i = 0; i < IN_FLIGHT; i++)
		uv_queue_work(&loop, &uv_reqs[i], uv_work, uv_after_tput);
	uv_run(&loop, UV_RUN_DEFAULT);
	double r = tput_jobs / ((double)(perf_now_ns() - t0) / 1e9);
	uv_loop_close(&loop);
	return r;
}

/* ---- cross-thread submit: urt_submit + future vs uv_async ping-pong ------ */

typedef struct server {
	pthread_t th;
	_Atomic(urt_loop *) loop;
	atomic_int stop;
} server;

static void *serve(void *arg)
{
	server *s = arg;
	atomic_store(&s->loop, urt_loop_current());
	while (!atomic_load(&s->stop))
		urt_sleep(1000000);
	return NULL;
}

static void *server_thread(void *arg)
{
	if (pin)
		perf_pin(0);
	urt_run(serve, arg, NULL, NULL);
	return NULL;
}

static double urt_submit_rtt(server *s)
{
	urt_loop *l = atomic_load(&s->loop);
	int n = iters / 2;
	uint64_t t0 = perf_now_ns();
	for (int i = 0; i < n; i++) {
		urt_future *f;
		urt_submit(l, trivial, NULL, &f);
		urt_future_wait(f, UINT64_MAX, NULL);
		urt_future_release(f);
	}
	return (double)(perf_now_ns() - t0) / n / 1000.0;
}

/* libuv: the client posts uv_async_send to the server loop, whose callback
 * replies through a futex-free condvar-free path: a second uv loop on the
 * client would be unfair, so the reply is a pthread cond signal. */
static uv_loop_t uv_srv_loop;
static uv_async_t uv_ping, uv_quit;
static pthread_mutex_t uv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t uv_cv = PTHREAD_COND_INITIALIZER;
static int uv_pong;

static void on_ping(uv_async_t *a)
{
	(void)a;
	pthread_mutex_lock(&uv_mu);
	uv_pong = 1;
	pthread_cond_signal(&uv_cv);
	pthread_mutex_unlock(&uv_mu);
}

static void on_quit(uv_async_t *a)
{
	uv_close((uv_handle_t *)&uv_ping, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

static void *uv_server(void *arg)
{
	(void)arg;
	if (pin)
		perf_pin(0);
	uv_run(&uv_srv_loop, UV_RUN_DEFAULT);
	return NULL;
}

static double uv_submit_rtt(void)
{
	int n = iters / 2;
	uint64_t t0 = perf_now_ns();
	for (int i = 0; i < n; i++) {
		uv_pong = 0;
		uv_async_send(&uv_ping);
		pthread_mutex_lock(&uv_mu);
		while (!uv_pong)
			pthread_cond_wait(&uv_cv, &uv_mu);
		pthread_mutex_unlock(&uv_mu);
	}
	return (double)(perf_now_ns() - t0) / n / 1000.0;
}

/* ---- loop to loop ------------------------------------------------------- */

static urt_loop *l2l_peer;
static urt_event l2l_done;
static urt_loop *l2l_home;

static void *l2l_back(void *arg)
{
	(void)arg;
	urt_event_set(&l2l_done);
	return NULL;
}

static void *l2l_there(void *arg)
{
	(void)arg;
	urt_call_soon(l2l_home, l2l_back, NULL);
	return NULL;
}

/* A pending timer: replies come as messages, which the deadlock detector
 * cannot foresee, so keep the loop waiting in the kernel instead. */
static void *keepalive(void *arg)
{
	(void)arg;
	urt_sleep(60 * URT_NS_PER_SEC);
	return NULL;
}

static void *l2l_main(void *arg)
{
	double *out = arg;
	l2l_home = urt_loop_current();
	urt_task *ka;
	urt_spawn(&ka, keepalive, NULL, NULL);
	int n = iters / 2;
	uint64_t t0 = perf_now_ns();
	for (int i = 0; i < n; i++) {
		urt_event_init(&l2l_done);
		urt_call_soon(l2l_peer, l2l_there, NULL);
		urt_event_wait(&l2l_done);
	}
	*out = (double)(perf_now_ns() - t0) / n / 1000.0;
	urt_cancel(ka);
	urt_join(ka, NULL);
	return NULL;
}

static double l2l_rtt(unsigned flags)
{
	urt_offload_configure(&(urt_offload_config){.flags = flags});
	double us = 0;
	urt_run(l2l_main, &us, NULL, NULL);
	return us;
}

static void emit(const char *bench, double u, double p, const char *peer, const char *unit,
		 double target, int lower)
{
	char name[96];
	snprintf(name, sizeof name, "%s%s", bench, sfx);
	perf_emit(name, u, p, peer, unit, target, lower, 0);
}

int main(int argc, char **argv)
{
	if (perf_has_flag(argc, argv, "--quick"))
		rounds = 3, iters = 200, tput_jobs = 4000;
	pin = perf_has_flag(argc, argv, "--pin");
	urt_only = perf_has_flag(argc, argv, "--urt-only");
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--only"))
			only = argv[i + 1];
	if (getenv("BENCH_JOBS")) /* longer tput rounds, for profiling */
		tput_jobs = atoi(getenv("BENCH_JOBS"));
	if (getenv("BENCH_THREADS"))
		urt_offload_configure(&(urt_offload_config){.blocking_threads = (unsigned)atoi(getenv("BENCH_THREADS"))});
	if (getenv("BENCH_NOSPIN"))
		urt_offload_configure(&(urt_offload_config){.flags = URT_OFFLOAD_NO_SPIN});
	if (pin) {
		sfx = "_pinned";
		perf_pin(0);
	}
	double a[32], b[32];
	/* to_thread round trip */
	if (want("rtt")) {
		for (int r = 0; r < rounds; r++) {
			a[r] = urt_rtt();
			b[r] = uv_rtt();
		}
		emit("offload_rtt", perf_median(a, rounds), perf_median(b, rounds), "libuv uv_queue_work", "us", 0.7, 1);
	}
	/* throughput */
	if (want("tput")) {
		for (int r = 0; r < rounds; r++) {
			a[r] = urt_tput();
			b[r] = urt_only ? 1 : uv_tput();
		}
		emit("offload_tput_1000", perf_median(a, rounds), perf_median(b, rounds), "libuv uv_queue_work", "jobs/s", 1.5, 0);
	}
	if (want("submit") || want("l2l")) {
		/* cross-thread submit */
		server s = {0};
		pthread_create(&s.th, NULL, server_thread, &s);
		while (!atomic_load(&s.loop))
			sched_yield();
		uv_loop_init(&uv_srv_loop);
		uv_async_init(&uv_srv_loop, &uv_ping, on_ping);
		uv_async_init(&uv_srv_loop, &uv_quit, on_quit);
		pthread_t uvt;
		pthread_create(&uvt, NULL, uv_server, NULL);
		if (want("submit")) {
			for (int r = 0; r < rounds; r++) {
				a[r] = urt_submit_rtt(&s);
				b[r] = uv_submit_rtt();
			}
			emit("submit_rtt", perf_median(a, rounds), perf_median(b, rounds), "libuv uv_async_send", "us", 1.0, 1);
		}
		/* loop to loop: the peer loop is the server */
		l2l_peer = atomic_load(&s.loop);
		if (want("l2l")) {
			for (int r = 0; r < rounds; r++) {
				a[r] = l2l_rtt(URT_OFFLOAD_MSG_RING);
				b[r] = l2l_rtt(0);
			}
			/* reported side by side (issue #4); the faster path is the default: eventfd */
			emit("loop2loop_rtt_msgring", perf_median(a, rounds), perf_median(b, rounds), "urt eventfd inbox", "us", 0, 1);
		}
		atomic_store(&s.stop, 1);
		pthread_join(s.th, NULL);
		uv_async_send(&uv_quit);
		pthread_join(uvt, NULL);
		uv_loop_close(&uv_srv_loop);
	}
	urt_offload_shutdown();
	return 0;
}
