/* bench_switch: the cost of a task switch and of spawning a task.
 *
 * switch_yield: two urt tasks ping-pong with urt_yield(); time per switch =
 * elapsed / yields. Peer: a raw Boost.Context fcontext ping-pong
 * (switch_boost.cpp), time per jump_fcontext. Target: urt <= 1.0x.
 * switch_yield_own_fpenv (informational): the same with two tasks spawned
 * with URT_TASK_OWN_FPENV, so each switch saves and reloads MXCSR and the
 * x87 control word as fcontext's does: what owning an FP environment
 * costs, and the like-for-like comparison with fcontext.
 *
 * spawn_join: urt_spawn + urt_join of an empty task, per pair. Peer, for
 * scale only: pthread_create + pthread_join. Target: urt <= 150 ns
 * absolute (the ratio is printed too).
 *
 * The thread is pinned to one CPU; urt and peer runs alternate (A B A B)
 * for several rounds and medians are reported. --quick: fewer iterations
 * and rounds. --cpu N picks the CPU (default 0). */
#include <urt.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_urt.h"

#ifdef PERF_HAVE_BOOST_CONTEXT
double perf_boost_switch_ns(long iters);
#endif

#define MAX_ROUNDS 15

static long yield_iters; /* yields per task */
static long spawn_iters; /* urt spawn+join pairs */
static long pthread_iters;

/* ---- urt: yield ping-pong ---------------------------------------------- */
static uint64_t yield_t0, yield_t1;

static void *yielder(void *arg)
{
	int first = arg != NULL;
	if (first)
		yield_t0 = perf_now_ns();
	for (long i = 0; i < yield_iters; i++)
		urt_yield();
	if (first)
		yield_t1 = perf_now_ns();
	return NULL;
}

static void *yield_main(void *arg)
{
	const urt_task_opts *o = arg; /* NULL, or tasks that own an FP environment */
	urt_task *a, *b;
	if (urt_spawn(&a, yielder, (void *)1, o) < 0 || urt_spawn(&b, yielder, NULL, o) < 0)
		return (void *)1;
	urt_join(a, NULL);
	urt_join(b, NULL);
	return NULL;
}

/* ns per switch, or -1 if urt failed. */
static double urt_yield_ns(const urt_task_opts *o)
{
	void *res = NULL;
	int ret = urt_run(yield_main, (void *)o, NULL, &res);
	if (ret < 0 || res) {
		fprintf(stderr, "bench_switch: urt_run: %s\n", ret < 0 ? urt_strerror(ret) : "spawn failed");
		return -1;
	}
	/* task a's window holds a's yields and b's, one switch each */
	return (double)(yield_t1 - yield_t0) / (double)(2 * yield_iters);
}

/* ---- urt: spawn + join -------------------------------------------------- */
static double urt_spawn_ns(void)
{
	struct perf_spawn_join sj = {.iters = spawn_iters};
	void *res = NULL;
	int ret = urt_run(perf_spawn_join_main, &sj, NULL, &res);
	if (ret < 0 || res) {
		fprintf(stderr, "bench_switch: spawn/join failed\n");
		return -1;
	}
	return sj.ns;
}

/* ---- peer: pthread create + join ---------------------------------------- */
static double pthread_spawn_ns(void)
{
	uint64_t t0 = perf_now_ns();
	for (long i = 0; i < pthread_iters; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, perf_empty_task, NULL) != 0)
			return -1;
		pthread_join(t, NULL);
	}
	return (double)(perf_now_ns() - t0) / (double)pthread_iters;
}

int main(int argc, char **argv)
{
	int quick = perf_has_flag(argc, argv, "--quick");
	int cpu = 0;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--cpu"))
			cpu = atoi(argv[i + 1]);
	int rounds = quick ? 3 : 7;
	yield_iters = quick ? 200000 : 2000000;
	spawn_iters = quick ? 50000 : 500000;
	pthread_iters = quick ? 2000 : 10000;
	if (perf_pin(cpu) < 0)
		fprintf(stderr, "bench_switch: could not pin to CPU %d, running unpinned\n", cpu);

	static const urt_task_opts own_fpenv = {.flags = URT_TASK_OWN_FPENV};
	double uy[MAX_ROUNDS], uf[MAX_ROUNDS], by[MAX_ROUNDS], us[MAX_ROUNDS], ps[MAX_ROUNDS];
	for (int r = 0; r < rounds; r++) {
		uy[r] = urt_yield_ns(NULL);
		uf[r] = urt_yield_ns(&own_fpenv);
#ifdef PERF_HAVE_BOOST_CONTEXT
		by[r] = perf_boost_switch_ns(yield_iters);
#else
		by[r] = 0;
#endif
		us[r] = urt_spawn_ns();
		ps[r] = pthread_spawn_ns();
		if (uy[r] < 0 || uf[r] < 0 || us[r] < 0 || ps[r] < 0 || by[r] < 0)
			return 1;
	}
#ifdef PERF_HAVE_BOOST_CONTEXT
	perf_emit("switch_yield", perf_median(uy, rounds), perf_median(by, rounds),
		  "boost.context fcontext", "ns/switch", 1.0, 1, 0);
	perf_emit("switch_yield_own_fpenv", perf_median(uf, rounds), perf_median(by, rounds),
		  "boost.context fcontext", "ns/switch", 0, 1, 0);
#else
	fprintf(stderr, "bench_switch: built without Boost.Context, switch_yield has no peer\n");
	perf_emit("switch_yield", perf_median(uy, rounds), 0, "none", "ns/switch", 1.0, 1, 0);
	perf_emit("switch_yield_own_fpenv", perf_median(uf, rounds), 0, "none", "ns/switch", 0, 1, 0);
#endif
	perf_emit("spawn_join", perf_median(us, rounds), perf_median(ps, rounds),
		  "pthread_create+join", "ns", 150, 1, 1);
	return 0;
}
