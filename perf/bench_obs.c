/* Cost of observability: the stall detector on (urt) vs off (peer), same
 * run, interleaved, on a switch-heavy workload (two tasks yielding to each
 * other) and an I/O-heavy one (two tasks ping-ponging a byte over a
 * socketpair). Stats counters are unconditional plain increments, so
 * their cost is part of both sides; count it with callgrind (see
 * docs/profiling.md). Target: at most 2% slower. */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include "bench_util.h"
#include "urt.h"

static long iters;
static uint64_t body_ns; /* the workload's own time, loop set-up excluded */

static void *yielder(void *arg)
{
	(void)arg;
	for (long i = 0; i < iters; i++)
		urt_yield();
	return NULL;
}

static void *switch_main(void *arg)
{
	(void)arg;
	uint64_t t0 = perf_now_ns();
	urt_task *a, *b;
	urt_spawn(&a, yielder, NULL, NULL);
	urt_spawn(&b, yielder, NULL, NULL);
	urt_join(a, NULL);
	urt_join(b, NULL);
	body_ns = perf_now_ns() - t0;
	return NULL;
}

static int sv[2];

static void *echo_side(void *arg)
{
	int fd = sv[(intptr_t)arg];
	char c = 'x';
	if ((intptr_t)arg == 0 && urt_send(fd, &c, 1, 0) != 1)
		return (void *)1;
	for (long i = 0; i < iters; i++) {
		if (urt_recv(fd, &c, 1, 0) != 1)
			return (void *)1;
		if (!((intptr_t)arg == 0 && i == iters - 1) && urt_send(fd, &c, 1, 0) != 1)
			return (void *)1;
	}
	return NULL;
}

static void *io_main(void *arg)
{
	(void)arg;
	uint64_t t0 = perf_now_ns();
	urt_task *a, *b;
	urt_spawn(&a, echo_side, (void *)0, NULL);
	urt_spawn(&b, echo_side, (void *)1, NULL);
	urt_join(a, NULL);
	urt_join(b, NULL);
	body_ns = perf_now_ns() - t0;
	return NULL;
}

/* ns per iteration of one run of body with the detector on or off. The
 * clock runs inside the loop: starting and joining the watchdog thread is
 * a once-per-loop cost, not the per-operation overhead measured here. */
static double run_once(urt_task_fn body, int detector)
{
	urt_config cfg = {.stall_ns = detector ? 100 * URT_NS_PER_MS : UINT64_MAX};
	if (urt_run(body, NULL, &cfg, NULL) != 0) {
		fprintf(stderr, "bench_obs: urt_run failed\n");
		_exit(1);
	}
	return (double)body_ns / (double)iters;
}

static void bench(const char *name, urt_task_fn body, long n, int rounds)
{
	double on[64], off[64];
	iters = n;
	run_once(body, 1); /* warm-up: stacks, ring, unwinder */
	for (int r = 0; r < rounds; r++) {
		on[r] = run_once(body, 1);
		off[r] = run_once(body, 0);
	}
	perf_emit(name, perf_median(on, rounds), perf_median(off, rounds), "stall detector off",
		  "ns/op", 1.02, 1, 0);
}

int main(int argc, char **argv)
{
	int quick = perf_has_flag(argc, argv, "--quick");
	int rounds = quick ? 5 : 21;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return 1;
	bench("obs_switch_yield_pingpong", switch_main, quick ? 200000 : 2000000, rounds);
	bench("obs_io_socketpair_pingpong", io_main, quick ? 20000 : 100000, rounds);
	return 0;
}
