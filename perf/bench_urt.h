/* urt workloads shared by several benchmark programs (perf/bench_util.h
 * stays free of urt: the peer servers include it too). */
#ifndef URT_BENCH_URT_H
#define URT_BENCH_URT_H

#include <urt.h>
#include "bench_util.h"

/* Spawn + join of an empty task, timed inside urt_run: pass a
 * struct perf_spawn_join with iters set; ns (per pair) is filled in. */
struct perf_spawn_join {
	long iters;
	double ns;
};

static inline void *perf_empty_task(void *arg) { return arg; }

static inline void *perf_spawn_join_main(void *arg)
{
	struct perf_spawn_join *sj = arg;
	uint64_t t0 = perf_now_ns();
	for (long i = 0; i < sj->iters; i++) {
		urt_task *t;
		if (urt_spawn(&t, perf_empty_task, NULL, NULL) < 0 || urt_join(t, NULL) < 0)
			return (void *)1;
	}
	sj->ns = (double)(perf_now_ns() - t0) / (double)sj->iters;
	return NULL;
}

#endif
