/* Helpers for the tests that use offload (pools, cross-thread
 * submission). A header of its own (inline): check.c must not reference
 * offload, or every test binary would link the pools and their stats
 * provider. */
#ifndef URT_TEST_CHECK_OFFLOAD_H
#define URT_TEST_CHECK_OFFLOAD_H

#include "check.h"

/* urt_run(fn, arg), asserting 0, then shut the pools down (asserting 0)
 * and check fds and threads (glibc keeps exited threads' stacks mapped,
 * so not mappings). Returns the main task's result. */
static inline void *urt_test_run_offload(urt_task_fn fn, void *arg)
{
	urt_test_baseline b = urt_test_baseline_take();
	void *result = NULL;
	int r = urt_run(fn, arg, NULL, &result);
	cr_assert_eq(r, 0, "urt_run: %s", urt_strerror(r));
	cr_assert_eq(urt_offload_shutdown(), 0);
	urt_test_fds_threads_check(b);
	return result;
}

static inline void *urt_test_identity(void *arg) { return arg; }

/* From this (foreign) thread, n times in a row: urt_submit an identity
 * task to l and wait for it at most wait_ns (UINT64_MAX: no bound). */
static inline void urt_test_submit_round_trips(urt_loop *l, int n, uint64_t wait_ns)
{
	for (int i = 0; i < n; i++) {
		urt_future *f;
		cr_assert_eq(urt_submit(l, urt_test_identity, (void *)(intptr_t)i, &f), 0);
		void *res = NULL;
		cr_assert_eq(urt_future_wait(f, wait_ns, &res), 0, "submission %d waited", i);
		cr_assert_eq((intptr_t)res, i);
		urt_future_release(f);
	}
}

#endif
