/* bench_ctx: the cost of context variables.
 *
 * ctx_get_1 / ctx_get_64: urt_ctxvar_get with 1 / 64 variables set in the
 *   current context, per call. Peer: reading a __thread variable through an
 *   out-of-line function (get is one too). Target: 2 ns absolute.
 * ctx_set_reset: urt_ctxvar_set with a token + urt_ctxvar_reset, per pair.
 *   Peer: saving and restoring a __thread variable (two stores, out of line).
 *   Reported, no target.
 * ctx_spawn_join_8: urt_spawn + urt_join of an empty task whose spawner has
 *   8 variables set. Peer: the same with no variable set. Target 1.10x.
 * --get-loop N: only run N gets (for perf/ctx_callgrind.sh, which counts the
 *   instructions of urt_ctxvar_get under callgrind).
 * --quick: a couple of seconds in all (CI smoke). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench_urt.h"
#include "urt_core.h"
#include "urt_ctx.h"

#define ROUNDS_MAX 15

static int rounds = 11;
static long get_iters = 5000000, pair_iters = 2000000, spawn_iters = 100000;

static __thread void *tls_value;

__attribute__((noinline, noipa)) static void *tls_get(void) { return tls_value; }
__attribute__((noinline, noipa)) static void *tls_swap(void *v)
{
	void *old = tls_value;
	tls_value = v;
	return old;
}

static urt_ctxvar *vars[64];

static void make_vars(void)
{
	for (int i = 0; i < 64; i++)
		if (urt_ctxvar_create(&vars[i], "bench", NULL, NULL, 0) < 0) {
			fprintf(stderr, "bench_ctx: urt_ctxvar_create failed\n");
			exit(1);
		}
}

/* ns per get of v, over n calls; the sum keeps the calls alive */
static double time_get(const urt_ctxvar *v, long n)
{
	uintptr_t sum = 0;
	uint64_t t0 = perf_now_ns();
	for (long i = 0; i < n; i++)
		sum += (uintptr_t)urt_ctxvar_get(v);
	double ns = (double)(perf_now_ns() - t0) / (double)n;
	__asm__ volatile("" ::"r"(sum));
	return ns;
}

static double time_tls_get(long n)
{
	uintptr_t sum = 0;
	uint64_t t0 = perf_now_ns();
	for (long i = 0; i < n; i++)
		sum += (uintptr_t)tls_get();
	double ns = (double)(perf_now_ns() - t0) / (double)n;
	__asm__ volatile("" ::"r"(sum));
	return ns;
}

static double time_set_reset(long n)
{
	urt_ctx_token t;
	uint64_t t0 = perf_now_ns();
	for (long i = 0; i < n; i++) {
		urt_ctxvar_set(vars[0], (void *)(uintptr_t)i, &t);
		urt_ctxvar_reset(vars[0], &t);
	}
	return (double)(perf_now_ns() - t0) / (double)n;
}

static double time_tls_swap(long n)
{
	uint64_t t0 = perf_now_ns();
	for (long i = 0; i < n; i++) {
		void *old = tls_swap((void *)(uintptr_t)i);
		tls_swap(old);
	}
	return (double)(perf_now_ns() - t0) / (double)n;
}

/* Alternate urt (a) and peer (b) measurements, report the medians. */
static void compare(const char *bench, double (*a)(void), double (*b)(void), const char *peer_name,
		    double target, int absolute)
{
	double ua[ROUNDS_MAX], pb[ROUNDS_MAX];
	for (int r = 0; r < rounds; r++) {
		ua[r] = a();
		pb[r] = b();
	}
	perf_emit(bench, perf_median(ua, rounds), perf_median(pb, rounds), peer_name, "ns", target, 1,
		  absolute);
}

static double get1(void) { return time_get(vars[0], get_iters); }
static double get64(void) { return time_get(vars[63], get_iters); }
static double tlsget(void) { return time_tls_get(get_iters); }
static double setreset(void) { return time_set_reset(pair_iters); }
static double tlsswap(void) { return time_tls_swap(pair_iters); }

/* ---- spawn + join with and without a context -------------------------- */

/* On a fresh thread, whose context starts empty: set nvars variables there
 * (urt_run's main task inherits them, and its children from it), then time
 * spawn+join inside urt_run. */
struct spawn_job {
	int nvars;
	double ns;
};

static void *spawn_thread(void *arg)
{
	struct spawn_job *j = arg;
	perf_pin(0);
	for (int i = 0; i < j->nvars; i++)
		urt_ctxvar_set(vars[i], (void *)(uintptr_t)(i + 1), NULL);
	void *res = NULL;
	struct perf_spawn_join sj = {.iters = spawn_iters};
	int r = urt_run(perf_spawn_join_main, &sj, NULL, &res);
	j->ns = sj.ns;
	if (r < 0 || res) {
		fprintf(stderr, "bench_ctx: urt_run: %s\n", r < 0 ? urt_strerror(r) : "spawn failed");
		exit(1);
	}
	return NULL;
}

static double time_spawn(int nvars)
{
	struct spawn_job j = {.nvars = nvars};
	pthread_t t;
	if (pthread_create(&t, NULL, spawn_thread, &j) != 0) {
		fprintf(stderr, "bench_ctx: pthread_create failed\n");
		exit(1);
	}
	pthread_join(t, NULL);
	return j.ns;
}

static double spawn8(void) { return time_spawn(8); }
static double spawn0(void) { return time_spawn(0); }

int main(int argc, char **argv)
{
	make_vars();
	if (argc == 3 && !strcmp(argv[1], "--get-loop")) {
		urt_ctxvar_set(vars[0], (void *)1, NULL);
		time_get(vars[0], atol(argv[2]));
		return 0;
	}
	if (perf_has_flag(argc, argv, "--quick")) {
		rounds = 3;
		get_iters = 300000;
		pair_iters = 200000;
		spawn_iters = 10000;
	}
	perf_pin(0);

	urt_ctxvar_set(vars[0], (void *)1, NULL);
	compare("ctx_get_1", get1, tlsget, "__thread read", 2.0, 1);
	for (int i = 1; i < 64; i++)
		urt_ctxvar_set(vars[i], (void *)(uintptr_t)i, NULL);
	compare("ctx_get_64", get64, tlsget, "__thread read", 2.0, 1);
	compare("ctx_set_reset", setreset, tlsswap, "__thread save+restore", 0, 0);
	compare("ctx_spawn_join_8", spawn8, spawn0, "spawn_join, empty context", 1.10, 0);
	return 0;
}
