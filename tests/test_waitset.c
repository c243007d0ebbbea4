/* urt_wait_all / urt_wait_any over sets of tasks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include "check.h"

#define MS URT_NS_PER_MS

/* The timing checks below compare the tasks' sleeps with each other: under
 * paused time they are exact, however loaded the machine is. */
static const urt_config paused = {.flags = URT_CFG_PAUSED_TIME};

static void *sleep_ms(void *arg)
{
	urt_sleep((uint64_t)(intptr_t)arg * MS);
	return (void *)((intptr_t)arg + 100);
}

static void *all(void *arg)
{
	(void)arg;
	urt_task *ts[3];
	const int ms[3] = {8, 2, 5};
	for (int i = 0; i < 3; i++)
		cr_assert_eq(urt_spawn(&ts[i], sleep_ms, (void *)(intptr_t)ms[i], NULL), 0);
	uint64_t t0 = urt_now();
	cr_expect_eq(urt_wait_all(ts, 3), 0);
	cr_expect_geq(urt_now() - t0, 8 * MS, "wait_all returned before the slowest task");
	/* already finished: returns at once; the tasks are not joined */
	cr_expect_eq(urt_wait_all(ts, 3), 0);
	cr_expect_geq(urt_wait_any(ts, 3), 0);
	for (int i = 0; i < 3; i++) {
		void *res;
		cr_expect_eq(urt_join(ts[i], &res), 0, "wait_all joined the task");
		cr_expect_eq((intptr_t)res, ms[i] + 100);
	}
	return NULL;
}

Test(waitset, wait_all, .timeout = 10)
{
	urt_test_run_cfg(all, NULL, &paused);
}

static void *any(void *arg)
{
	(void)arg;
	urt_task *ts[3];
	const int ms[3] = {30, 3, 15};
	for (int i = 0; i < 3; i++)
		cr_assert_eq(urt_spawn(&ts[i], sleep_ms, (void *)(intptr_t)ms[i], NULL), 0);
	uint64_t t0 = urt_now();
	cr_expect_eq(urt_wait_any(ts, 3), 1, "the fastest task is index 1");
	uint64_t dt = urt_now() - t0;
	cr_expect_geq(dt, 3 * MS);
	cr_expect_lt(dt, 15 * MS, "wait_any waited for more than the first");
	/* ts[1] is done; wait on the other two */
	urt_task *rest[2] = {ts[0], ts[2]};
	cr_expect_eq(urt_wait_any(rest, 2), 1);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(urt_join(ts[i], NULL), 0);
	return NULL;
}

Test(waitset, wait_any_first_index, .timeout = 10)
{
	urt_test_run_cfg(any, NULL, &paused);
}

static void *same_task_twice(void *arg)
{
	(void)arg;
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, sleep_ms, (void *)2, NULL), 0);
	urt_task *set[2] = {t, t};
	cr_expect_eq(urt_wait_all(set, 2), 0);
	cr_expect_eq(urt_join(t, NULL), 0);
	return NULL;
}

Test(waitset, same_task_listed_twice, .timeout = 10)
{
	urt_test_run(same_task_twice, NULL);
}

/* Many waiters on one task and one waiter on many tasks. */
static urt_task *g_target;

static void *waits_on_target(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_wait_all(&g_target, 1);
}

static void *fan(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_spawn(&g_target, sleep_ms, (void *)3, NULL), 0);
	urt_task *ws[10];
	for (int i = 0; i < 10; i++)
		cr_assert_eq(urt_spawn(&ws[i], waits_on_target, NULL, NULL), 0);
	for (int i = 0; i < 10; i++) {
		void *r = (void *)1;
		cr_expect_eq(urt_join(ws[i], &r), 0);
		cr_expect_eq((intptr_t)r, 0);
	}
	cr_expect_eq(urt_join(g_target, NULL), 0);
	enum { N = 100 };
	urt_task *many[N];
	for (int i = 0; i < N; i++)
		cr_assert_eq(urt_spawn(&many[i], sleep_ms, (void *)(intptr_t)(i % 5), NULL), 0);
	cr_expect_eq(urt_wait_all(many, N), 0);
	for (int i = 0; i < N; i++)
		cr_expect_eq(urt_join(many[i], NULL), 0);
	return NULL;
}

Test(waitset, fan_in_fan_out, .timeout = 10)
{
	urt_test_run(fan, NULL);
}

static void *bad(void *arg)
{
	(void)arg;
	urt_task *t, *d;
	cr_assert_eq(urt_spawn(&t, sleep_ms, (void *)1, NULL), 0);
	cr_assert_eq(urt_spawn(&d, sleep_ms, (void *)1, NULL), 0);
	cr_assert_eq(urt_detach(d), 0);
	urt_task *with_null[2] = {t, NULL};
	urt_task *with_detached[2] = {t, d};
	cr_expect_eq(urt_wait_all(NULL, 1), -EINVAL);
	cr_expect_eq(urt_wait_any(NULL, 1), -EINVAL);
	cr_expect_eq(urt_wait_all(&t, 0), -EINVAL);
	cr_expect_eq(urt_wait_any(&t, 0), -EINVAL);
	cr_expect_eq(urt_wait_all(with_null, 2), -EINVAL);
	cr_expect_eq(urt_wait_any(with_null, 2), -EINVAL);
	cr_expect_eq(urt_wait_all(with_detached, 2), -EINVAL);
	cr_expect_eq(urt_wait_any(with_detached, 2), -EINVAL);
	cr_expect_eq(urt_join(t, NULL), 0);
	return NULL;
}

Test(waitset, bad_args_einval, .timeout = 10)
{
	urt_test_run(bad, NULL);
}

/* Another task may join or detach a task of the set while the caller
 * waits: its record is freed when it finishes (and may be reused), yet
 * it counts as finished. */
static urt_event g_go;
static urt_task *g_b, *g_w;

static void *wait_for_go(void *arg)
{
	urt_event_wait(&g_go);
	return arg;
}

static void *at_once(void *arg)
{
	return arg;
}

static void *wait_on(void *ev)
{
	urt_event_wait(ev);
	return NULL;
}

static void *join_b_then_go(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_join(g_b, NULL), 0);
	urt_task *reuse; /* likely takes b's record */
	cr_expect_eq(urt_spawn(&reuse, at_once, NULL, NULL), 0);
	urt_sleep(URT_NS_PER_MS);
	urt_event_set(&g_go);
	cr_expect_eq(urt_join(reuse, NULL), 0);
	return NULL;
}

static void *all_with_a_joined(void *arg)
{
	(void)arg;
	urt_event_init(&g_go);
	urt_task *a, *j;
	cr_assert_eq(urt_spawn(&a, wait_for_go, NULL, NULL), 0);
	cr_assert_eq(urt_spawn(&g_b, at_once, NULL, NULL), 0);
	cr_assert_eq(urt_spawn(&j, join_b_then_go, NULL, NULL), 0);
	urt_task *set[2] = {a, g_b};
	cr_expect_eq(urt_wait_all(set, 2), 0);
	cr_expect_eq(urt_join(j, NULL), 0);
	cr_expect_eq(urt_join(a, NULL), 0);
	return NULL;
}

Test(waitset, wait_all_while_another_joins, .timeout = 10)
{
	cr_expect_eq(urt_run(all_with_a_joined, NULL, NULL, NULL), 0, "no deadlock");
}

static void *detach_w_then_go(void *arg)
{
	(void)arg;
	urt_yield();
	cr_expect_eq(urt_detach(g_w), 0);
	urt_event_set(&g_go);
	return NULL;
}

static void *any_with_a_detached(void *arg)
{
	(void)arg;
	urt_event_init(&g_go);
	urt_event never;
	urt_event_init(&never);
	urt_task *other, *d;
	cr_assert_eq(urt_spawn(&g_w, wait_for_go, NULL, NULL), 0);
	cr_assert_eq(urt_spawn(&other, wait_on, &never, NULL), 0);
	cr_assert_eq(urt_spawn(&d, detach_w_then_go, NULL, NULL), 0);
	urt_task *set[2] = {g_w, other};
	cr_expect_eq(urt_wait_any(set, 2), 0, "the detached task finished");
	urt_event_set(&never);
	cr_expect_eq(urt_join(d, NULL), 0);
	cr_expect_eq(urt_join(other, NULL), 0);
	return NULL;
}

Test(waitset, wait_any_while_another_detaches, .timeout = 10)
{
	urt_test_run(any_with_a_detached, NULL);
}

/* The caller in its own set: -EDEADLK at once, before any wait. */
static void *self_in_set(void *arg)
{
	(void)arg;
	urt_task *slow;
	cr_assert_eq(urt_spawn(&slow, wait_for_go, NULL, NULL), 0);
	urt_event_init(&g_go);
	urt_task *set[2] = {slow, urt_self()};
	uint64_t t0 = urt_now();
	cr_expect_eq(urt_wait_all(set, 2), -EDEADLK);
	cr_expect_eq(urt_wait_any(set, 2), -EDEADLK);
	cr_expect_lt(urt_now() - t0, URT_NS_PER_SEC);
	urt_event_set(&g_go);
	cr_expect_eq(urt_join(slow, NULL), 0);
	return NULL;
}

Test(waitset, caller_in_the_set, .timeout = 10)
{
	urt_test_run(self_in_set, NULL);
}
