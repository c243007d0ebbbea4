/* A loop thread's batch of jobs (offload/pool.c): jobs its tasks submit
 * are handed to the pool together before the loop polls. Withdrawal while
 * a job is still held, overflow past the batch size into a small queue,
 * and capped classes mixed into one batch. URT_TEST_THREADS: workers share
 * the jobs with the loop, so this also runs under TSan. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include "check_offload.h"
#include "urt_offload.h"

#define MS URT_NS_PER_MS

static atomic_int ran;

static void *count_job(void *arg)
{
	atomic_fetch_add(&ran, 1);
	return (void *)((intptr_t)arg * 2);
}

static void *submitter(void *arg)
{
	void *res = NULL;
	int r = urt_to_thread(count_job, arg, &res);
	return r == 0 ? res : (void *)(intptr_t)r;
}

/* The child submits and parks; the parent runs next in the same run of
 * ready tasks (a fresh one after the sleep: its budget is far from spent),
 * so the loop has not reached its hand-over when the cancel comes. */
static void *cancel_held_main(void *arg)
{
	(void)arg;
	urt_sleep(MS);
	urt_task *child;
	cr_assert_eq(urt_spawn(&child, submitter, (void *)(intptr_t)5, NULL), 0);
	urt_yield(); /* the child runs up to its park */
	cr_assert_eq(urt_cancel(child), 0);
	void *r;
	cr_assert_eq(urt_join(child, &r), -ECANCELED);
	cr_expect_eq((intptr_t)r, -ECANCELED, "the child's to_thread: %ld", (long)(intptr_t)r);
	/* the same loop keeps submitting normally afterwards */
	cr_expect_eq((intptr_t)submitter((void *)(intptr_t)7), 14);
	return NULL;
}

Test(offload_batch, job_withdrawn_before_handover_never_runs, .timeout = 20)
{
	atomic_store(&ran, 0);
	urt_test_run_offload(cancel_held_main, NULL);
	cr_expect_eq(atomic_load(&ran), 1, "only the second job ran (ran %d)", atomic_load(&ran));
}

/* Many tasks, several batches per tick, a queue far smaller than a batch
 * (jobs wait on the list, their tasks parked), and every third job in a
 * class capped at 2: every result comes back, in its own task. */
#define NTASKS 300
#define ROUNDS 4

static void *mixed_task(void *arg)
{
	intptr_t id = (intptr_t)arg;
	intptr_t sum = 0;
	for (int i = 0; i < ROUNDS; i++) {
		void *res = NULL;
		int r = id % 3 ? urt_to_thread(count_job, (void *)(id + i), &res)
			       : urt_to_thread_class(1, count_job, (void *)(id + i), &res);
		if (r != 0)
			return (void *)(intptr_t)r;
		sum += (intptr_t)res;
	}
	return (void *)sum;
}

static void *mixed_main(void *arg)
{
	(void)arg;
	urt_task *t[NTASKS];
	for (intptr_t i = 0; i < NTASKS; i++)
		cr_assert_eq(urt_spawn(&t[i], mixed_task, (void *)i, NULL), 0);
	for (intptr_t i = 0; i < NTASKS; i++) {
		void *r;
		cr_assert_eq(urt_join(t[i], &r), 0);
		intptr_t want = 2 * (ROUNDS * i + ROUNDS * (ROUNDS - 1) / 2);
		cr_expect_eq((intptr_t)r, want, "task %ld: %ld, want %ld", (long)i, (long)(intptr_t)r,
			     (long)want);
	}
	urt_offload_stats st;
	cr_assert_eq(urt_offload_stats_get(URT_POOL_BLOCKING, &st), 0);
	cr_expect_eq(st.queued, 0);
	cr_expect_eq(st.waiting, 0);
	return NULL;
}

Test(offload_batch, batches_overflow_a_small_queue_and_capped_class, .timeout = 60)
{
	atomic_store(&ran, 0);
	cr_assert_eq(urt_offload_configure(&(urt_offload_config){.queue_bound = 8}), 0);
	cr_assert_eq(urt_offload_class_limit(1, 2), 0);
	urt_test_run_offload(mixed_main, NULL);
	cr_expect_eq(atomic_load(&ran), NTASKS * ROUNDS);
}
