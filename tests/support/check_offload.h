/* urt_test_run for the tests that use the offload pools. A header of its
 * own (inline): check.c must not reference offload, or every test binary
 * would link the pools and their stats provider. */
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

#endif
