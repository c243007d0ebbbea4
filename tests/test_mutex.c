/* Mutexes: ownership, FIFO hand-off, trylock, misuse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

static urt_mutex g_mu;
static char g_trace[32];
static int g_n;

static void *basic(void *arg)
{
	(void)arg;
	urt_mutex m = URT_MUTEX_INIT;
	cr_expect_eq(urt_mutex_trylock(&m), 0);
	cr_expect_eq(m.owner, urt_self());
	cr_expect_eq(urt_mutex_trylock(&m), -EBUSY, "trylock while the caller holds it");
	cr_expect_eq(urt_mutex_lock(&m), -EDEADLK, "relock by the owner");
	cr_expect_eq(urt_mutex_unlock(&m), 0);
	cr_expect_null(m.owner);
	cr_expect_eq(urt_mutex_unlock(&m), -EPERM, "unlock of an unlocked mutex");
	cr_expect_eq(urt_mutex_lock(&m), 0);
	cr_expect_eq(urt_mutex_unlock(&m), 0);
	urt_mutex n;
	urt_mutex_init(&n);
	cr_expect_eq(urt_mutex_lock(&n), 0);
	cr_expect_eq(urt_mutex_unlock(&n), 0);
	return NULL;
}

Test(mutex, lock_trylock_unlock, .timeout = 10)
{
	urt_test_run(basic, NULL);
}

static void *try_other(void *arg)
{
	(void)arg;
	int r1 = urt_mutex_trylock(&g_mu);
	int r2 = urt_mutex_unlock(&g_mu);
	return (void *)(intptr_t)(r1 * 1000 + r2);
}

static void *non_owner(void *arg)
{
	(void)arg;
	urt_mutex_init(&g_mu);
	cr_assert_eq(urt_mutex_lock(&g_mu), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, try_other, NULL, NULL), 0);
	void *res;
	cr_expect_eq(urt_join(t, &res), 0);
	cr_expect_eq((intptr_t)res, -EBUSY * 1000 + -EPERM,
		     "trylock by another task must be -EBUSY, unlock by a non-owner -EPERM");
	cr_expect_eq(g_mu.owner, urt_self(), "a non-owner's unlock released the mutex");
	cr_expect_eq(urt_mutex_unlock(&g_mu), 0);
	return NULL;
}

Test(mutex, non_owner_eperm_and_busy, .timeout = 10)
{
	urt_test_run(non_owner, NULL);
}

static void *fifo_locker(void *arg)
{
	char c = (char)(intptr_t)arg;
	cr_expect_eq(urt_mutex_lock(&g_mu), 0);
	g_trace[g_n++] = c;
	urt_yield(); /* hold it across a switch */
	cr_expect_eq(urt_mutex_unlock(&g_mu), 0);
	return NULL;
}

static void *fifo(void *arg)
{
	(void)arg;
	urt_mutex_init(&g_mu);
	memset(g_trace, 0, sizeof g_trace);
	g_n = 0;
	cr_assert_eq(urt_mutex_lock(&g_mu), 0);
	urt_task *ts[5];
	/* queue them up in spawn order, each parked before the next starts */
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(urt_spawn(&ts[i], fifo_locker, (void *)(intptr_t)('0' + i), NULL), 0);
		urt_yield();
	}
	cr_expect_eq(g_n, 0);
	cr_expect_eq(urt_mutex_unlock(&g_mu), 0);
	/* hand-off: the longest waiter owns it now, so it is not free */
	cr_expect_neq(g_mu.owner, NULL, "unlock with waiters must hand the mutex over");
	cr_expect_eq(urt_mutex_trylock(&g_mu), -EBUSY, "the unlocker barged past waiters");
	for (int i = 0; i < 5; i++)
		urt_join(ts[i], NULL);
	cr_expect_str_eq(g_trace, "01234");
	cr_expect_null(g_mu.owner);
	return NULL;
}

Test(mutex, fifo_handoff, .timeout = 10)
{
	urt_test_run(fifo, NULL);
}

/* Mutual exclusion over a critical section that parks. */
static int g_counter, g_inside, g_max_inside;

static void *incrementer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(urt_mutex_lock(&g_mu), 0);
		g_inside++;
		if (g_inside > g_max_inside)
			g_max_inside = g_inside;
		int v = g_counter;
		urt_sleep(i % 10 == 0 ? 10000 : 0);
		g_counter = v + 1;
		g_inside--;
		cr_assert_eq(urt_mutex_unlock(&g_mu), 0);
		urt_yield();
	}
	return NULL;
}

static void *exclusion(void *arg)
{
	(void)arg;
	urt_mutex_init(&g_mu);
	g_counter = g_inside = g_max_inside = 0;
	urt_task *ts[8];
	for (int i = 0; i < 8; i++)
		cr_assert_eq(urt_spawn(&ts[i], incrementer, NULL, NULL), 0);
	for (int i = 0; i < 8; i++)
		urt_join(ts[i], NULL);
	cr_expect_eq(g_counter, 400);
	cr_expect_eq(g_max_inside, 1);
	return NULL;
}

Test(mutex, mutual_exclusion, .timeout = 10)
{
	urt_test_run(exclusion, NULL);
}

static void *bad_args(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_mutex_lock(NULL), -EINVAL);
	cr_expect_eq(urt_mutex_trylock(NULL), -EINVAL);
	cr_expect_eq(urt_mutex_unlock(NULL), -EINVAL);
	return NULL;
}

Test(mutex, null_einval, .timeout = 10)
{
	urt_test_run(bad_args, NULL);
}

Test(mutex, outside_a_task_eperm)
{
	urt_mutex m = URT_MUTEX_INIT;
	cr_expect_eq(urt_mutex_lock(&m), -EPERM);
	cr_expect_eq(urt_mutex_trylock(&m), -EPERM);
	cr_expect_eq(urt_mutex_unlock(&m), -EPERM);
	cr_expect_null(m.owner);
}
