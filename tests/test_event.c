/* Events: set/clear/is_set, waking every waiter, misuse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include "check.h"

static urt_event g_ev;
static int g_woken;

static void *waiter(void *arg)
{
	(void)arg;
	int r = urt_event_wait(&g_ev);
	if (r == 0)
		g_woken++;
	return (void *)(intptr_t)r;
}

static void *basic(void *arg)
{
	(void)arg;
	urt_event e = URT_EVENT_INIT;
	cr_expect_eq(urt_event_is_set(&e), 0);
	cr_expect_eq(urt_event_set(&e), 0);
	cr_expect_eq(urt_event_is_set(&e), 1);
	cr_expect_eq(urt_event_set(&e), 0, "set twice");
	cr_expect_eq(urt_event_wait(&e), 0, "wait on a set event");
	cr_expect_eq(urt_event_is_set(&e), 1, "waiting does not consume the flag");
	cr_expect_eq(urt_event_clear(&e), 0);
	cr_expect_eq(urt_event_is_set(&e), 0);
	cr_expect_eq(urt_event_clear(&e), 0, "clear twice");
	urt_event f;
	urt_event_init(&f);
	cr_expect_eq(urt_event_is_set(&f), 0);
	return NULL;
}

Test(event, set_clear_is_set, .timeout = 10)
{
	urt_test_run(basic, NULL);
}

static void *wakes_all(void *arg)
{
	(void)arg;
	enum { N = 20 };
	urt_task *ts[N];
	urt_event_init(&g_ev);
	g_woken = 0;
	for (int i = 0; i < N; i++)
		cr_assert_eq(urt_spawn(&ts[i], waiter, NULL, NULL), 0);
	cr_expect_eq(urt_sleep(URT_NS_PER_MS), 0);
	cr_expect_eq(g_woken, 0, "woken before set");
	cr_expect_eq(urt_event_set(&g_ev), 0);
	for (int i = 0; i < N; i++) {
		void *r = (void *)1;
		cr_expect_eq(urt_join(ts[i], &r), 0);
		cr_expect_eq((intptr_t)r, 0);
	}
	cr_expect_eq(g_woken, N);
	return NULL;
}

Test(event, set_wakes_every_waiter, .timeout = 10)
{
	urt_test_run(wakes_all, NULL);
}

/* A set followed by a clear before the waiters run still releases them:
 * they were woken by the set. */
static void *set_then_clear(void *arg)
{
	(void)arg;
	urt_task *t;
	urt_event_init(&g_ev);
	g_woken = 0;
	cr_assert_eq(urt_spawn(&t, waiter, NULL, NULL), 0);
	urt_yield();
	cr_expect_eq(urt_event_set(&g_ev), 0);
	cr_expect_eq(urt_event_clear(&g_ev), 0);
	void *r = (void *)1;
	cr_expect_eq(urt_join(t, &r), 0);
	cr_expect_eq((intptr_t)r, 0);
	/* and a fresh waiter on the cleared event parks again */
	cr_assert_eq(urt_spawn(&t, waiter, NULL, NULL), 0);
	cr_expect_eq(urt_sleep(URT_NS_PER_MS), 0);
	cr_expect_eq(g_woken, 1, "a waiter passed a cleared event");
	urt_event_set(&g_ev);
	cr_expect_eq(urt_join(t, NULL), 0);
	cr_expect_eq(g_woken, 2);
	return NULL;
}

Test(event, set_then_clear_still_wakes, .timeout = 10)
{
	urt_test_run(set_then_clear, NULL);
}

static void *bad_args(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_event_set(NULL), -EINVAL);
	cr_expect_eq(urt_event_clear(NULL), -EINVAL);
	cr_expect_eq(urt_event_is_set(NULL), -EINVAL);
	cr_expect_eq(urt_event_wait(NULL), -EINVAL);
	return NULL;
}

Test(event, null_einval, .timeout = 10)
{
	urt_test_run(bad_args, NULL);
}

Test(event, outside_a_task)
{
	urt_event e = URT_EVENT_INIT;
	/* set/clear/is_set are not blocking calls */
	cr_expect_eq(urt_event_set(&e), 0);
	cr_expect_eq(urt_event_is_set(&e), 1);
	cr_expect_eq(urt_event_clear(&e), 0);
	cr_expect_eq(urt_event_wait(&e), -EPERM);
}
