/* Semaphores: counting, FIFO hand-off, tryacquire, overflow, misuse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

static urt_sem g_sem;

static void *counts(void *arg)
{
	(void)arg;
	urt_sem s = URT_SEM_INIT(2);
	cr_expect_eq(urt_sem_acquire(&s), 0);
	cr_expect_eq(urt_sem_tryacquire(&s), 0);
	cr_expect_eq(urt_sem_tryacquire(&s), -EAGAIN);
	cr_expect_eq(s.count, 0);
	cr_expect_eq(urt_sem_release(&s), 0);
	cr_expect_eq(urt_sem_release(&s), 0);
	cr_expect_eq(urt_sem_release(&s), 0, "release beyond the initial count is allowed");
	cr_expect_eq(s.count, 3);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(urt_sem_acquire(&s), 0);
	cr_expect_eq(urt_sem_tryacquire(&s), -EAGAIN);
	urt_sem z;
	urt_sem_init(&z, 0);
	cr_expect_eq(urt_sem_tryacquire(&z), -EAGAIN);
	urt_sem_init(&z, UINT64_MAX);
	cr_expect_eq(urt_sem_release(&z), -EOVERFLOW);
	cr_expect_eq(z.count, UINT64_MAX);
	return NULL;
}

Test(sem, counts_and_overflow, .timeout = 10)
{
	urt_test_run(counts, NULL);
}

static char g_trace[16];
static int g_n;

static void *acquirer(void *arg)
{
	int r = urt_sem_acquire(&g_sem);
	if (r == 0)
		g_trace[g_n++] = (char)(intptr_t)arg;
	return (void *)(intptr_t)r;
}

static void *fifo(void *arg)
{
	(void)arg;
	urt_sem_init(&g_sem, 0);
	memset(g_trace, 0, sizeof g_trace);
	g_n = 0;
	urt_task *ts[4];
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(urt_spawn(&ts[i], acquirer, (void *)(intptr_t)('a' + i), NULL), 0);
		urt_yield();
	}
	cr_expect_eq(urt_sem_release(&g_sem), 0);
	/* the unit went to the longest waiter, not back to the count */
	cr_expect_eq(urt_sem_tryacquire(&g_sem), -EAGAIN, "release with waiters left a unit to steal");
	for (int i = 0; i < 3; i++)
		cr_expect_eq(urt_sem_release(&g_sem), 0);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(urt_join(ts[i], NULL), 0);
	cr_expect_str_eq(g_trace, "abcd");
	cr_expect_eq(g_sem.count, 0);
	return NULL;
}

Test(sem, fifo_handoff, .timeout = 10)
{
	urt_test_run(fifo, NULL);
}

static int g_active, g_max;

static void *bounded(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_sem_acquire(&g_sem), 0);
	if (++g_active > g_max)
		g_max = g_active;
	urt_sleep(URT_NS_PER_MS);
	g_active--;
	cr_assert_eq(urt_sem_release(&g_sem), 0);
	return NULL;
}

static void *limit(void *arg)
{
	(void)arg;
	urt_sem_init(&g_sem, 3);
	g_active = g_max = 0;
	urt_task *ts[12];
	for (int i = 0; i < 12; i++)
		cr_assert_eq(urt_spawn(&ts[i], bounded, NULL, NULL), 0);
	for (int i = 0; i < 12; i++)
		urt_join(ts[i], NULL);
	cr_expect_eq(g_max, 3, "at most 3 at once, and 3 reached");
	cr_expect_eq(g_sem.count, 3);
	return NULL;
}

Test(sem, bounds_concurrency, .timeout = 10)
{
	urt_test_run(limit, NULL);
}

static void *bad_args(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_sem_acquire(NULL), -EINVAL);
	cr_expect_eq(urt_sem_tryacquire(NULL), -EINVAL);
	cr_expect_eq(urt_sem_release(NULL), -EINVAL);
	return NULL;
}

Test(sem, null_einval, .timeout = 10)
{
	urt_test_run(bad_args, NULL);
}

Test(sem, outside_a_task)
{
	urt_sem s = URT_SEM_INIT(1);
	/* the non-blocking calls work anywhere */
	cr_expect_eq(urt_sem_tryacquire(&s), 0);
	cr_expect_eq(urt_sem_tryacquire(&s), -EAGAIN);
	cr_expect_eq(urt_sem_release(&s), 0);
	cr_expect_eq(urt_sem_acquire(&s), -EPERM, "acquire is a blocking call");
	cr_expect_eq(s.count, 1);
}
