/* Sleep and time: durations, wake order of many sleepers, urt_now. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "check.h"

#define MS URT_NS_PER_MS

static void *durations(void *arg)
{
	(void)arg;
	const uint64_t ns[] = {0, 1, 1000, 1 * MS, 5 * MS, 20 * MS};
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		/* never early; not late in the best of three tries (a loaded
		 * machine may run any one try late, a broken timer every one) */
		uint64_t best = UINT64_MAX;
		for (int try = 0; try < 3; try++) {
			uint64_t t0 = urt_now();
			cr_expect_eq(urt_sleep(ns[i]), 0);
			uint64_t dt = urt_now() - t0;
			cr_expect_geq(dt, ns[i], "sleep(%llu) woke after %llu ns",
				      (unsigned long long)ns[i], (unsigned long long)dt);
			best = dt < best ? dt : best;
		}
		cr_expect_lt(best, ns[i] + 500 * MS, "sleep(%llu) took %llu ns",
			     (unsigned long long)ns[i], (unsigned long long)best);
	}
	return NULL;
}

Test(sleep, durations, .timeout = 10)
{
	urt_test_run(durations, NULL);
}

static void *now_monotonic(void *arg)
{
	(void)arg;
	uint64_t prev = urt_now();
	cr_expect_gt(prev, 0);
	for (int i = 0; i < 1000; i++) {
		if (i % 100 == 0)
			urt_sleep(10000);
		uint64_t t = urt_now();
		cr_assert_geq(t, prev, "urt_now went backwards");
		prev = t;
	}
	return NULL;
}

Test(sleep, now_is_monotonic, .timeout = 10)
{
	urt_test_run(now_monotonic, NULL);
}

/* Many sleepers with shuffled durations wake in order of their wake-up
 * times, and none wakes early. */
enum { NSLEEP = 300 };
static uint64_t g_target[NSLEEP];
static uint64_t g_woke_at[NSLEEP];
static int g_order[NSLEEP];
static int g_norder;

static void *sleeper(void *arg)
{
	int i = (int)(intptr_t)arg;
	uint64_t ns = (uint64_t)((i * 7919) % NSLEEP) * 100000; /* 0 .. 30 ms, 0.1 ms apart */
	g_target[i] = urt_now() + ns;
	cr_expect_eq(urt_sleep(ns), 0);
	g_woke_at[i] = urt_now();
	g_order[g_norder++] = i;
	return NULL;
}

static void *many_sleepers(void *arg)
{
	(void)arg;
	g_norder = 0;
	for (int i = 0; i < NSLEEP; i++)
		cr_assert_eq(urt_spawn(NULL, sleeper, (void *)(intptr_t)i, NULL), 0);
	return NULL;
}

/* On the real clock a sleeper can be preempted between reading the time
 * and arming its timer, so only "never early" holds exactly there. */
Test(sleep, many_sleepers_never_wake_early, .timeout = 10)
{
	urt_test_run(many_sleepers, NULL);
	cr_assert_eq(g_norder, NSLEEP);
	for (int i = 0; i < NSLEEP; i++)
		cr_expect_geq(g_woke_at[i], g_target[i], "task %d woke early", i);
}

/* Paused time does not move while tasks run, so every target is exact
 * and the wake order must follow the targets strictly. */
Test(sleep, many_sleepers_wake_in_order, .timeout = 10)
{
	urt_config cfg = {.flags = URT_CFG_PAUSED_TIME};
	urt_test_run_cfg(many_sleepers, NULL, &cfg);
	cr_assert_eq(g_norder, NSLEEP);
	for (int k = 0; k < NSLEEP; k++) {
		int i = g_order[k];
		cr_expect_eq(g_woke_at[i], g_target[i], "task %d woke at the wrong time", i);
		if (k > 0)
			cr_expect_geq(g_target[i], g_target[g_order[k - 1]], "task %d woke before task %d", i,
				      g_order[k - 1]);
	}
}

/* Sleep parks only the caller: others keep running meanwhile. */
static int g_ticks;

static void *ticker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++) {
		g_ticks++;
		urt_sleep(0);
	}
	return NULL;
}

static void *others_run(void *arg)
{
	(void)arg;
	urt_task *t;
	g_ticks = 0;
	cr_assert_eq(urt_spawn(&t, ticker, NULL, NULL), 0);
	cr_expect_eq(urt_sleep(5 * MS), 0);
	cr_expect_eq(g_ticks, 10, "a sleeping task blocked the loop");
	urt_join(t, NULL);
	return NULL;
}

Test(sleep, parks_only_the_caller, .timeout = 10)
{
	urt_test_run(others_run, NULL);
}

Test(sleep, outside_a_task_eperm)
{
	cr_expect_eq(urt_sleep(0), -EPERM);
	cr_expect_eq(urt_sleep(MS), -EPERM);
}

/* A huge duration does not overflow into "already due". */
static void *huge(void *arg)
{
	(void)arg;
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, 5 * MS), 0);
	cr_expect_eq(urt_sleep(UINT64_MAX), -ETIME, "sleep(UINT64_MAX) returned early");
	cr_expect_eq(urt_sleep(UINT64_MAX - 1), -ETIME);
	urt_deadline_exit(&d);
	cr_assert_eq(urt_deadline_enter(&d, UINT64_MAX), 0); /* no overflow either */
	cr_expect_eq(urt_sleep(MS), 0);
	urt_deadline_exit(&d);
	return NULL;
}

Test(sleep, huge_durations_do_not_wrap, .timeout = 10)
{
	urt_test_run(huge, NULL);
}
