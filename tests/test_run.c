/* urt_run: the loop's life cycle, its result, misuse, deadlock detection,
 * stats, and a clean teardown. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

static void *ret_arg_plus_one(void *arg)
{
	return (void *)((intptr_t)arg + 1);
}

Test(run, returns_main_result, .timeout = 10)
{
	cr_expect_eq((intptr_t)urt_test_run(ret_arg_plus_one, (void *)41), 42);
	/* result may be NULL */
	cr_expect_eq(urt_run(ret_arg_plus_one, NULL, NULL, NULL), 0);
	/* a zeroed config means defaults */
	urt_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cr_expect_eq((intptr_t)urt_test_run_cfg(ret_arg_plus_one, (void *)1, &cfg), 2);
}

/* The main task's result even when its handle was detached, or joined by
 * another task (its record freed and reused by later spawns). */
static void *spawn_a_few(void *arg)
{
	for (int i = 0; i < 4; i++) {
		urt_task *t;
		cr_assert_eq(urt_spawn(&t, ret_arg_plus_one, (void *)7, NULL), 0);
		urt_detach(t);
	}
	return arg;
}

static void *detached_main(void *arg)
{
	cr_assert_eq(urt_detach(urt_self()), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, spawn_a_few, NULL, NULL), 0);
	urt_detach(t);
	return arg;
}

static void *join_main(void *main_task)
{
	cr_expect_eq(urt_join(main_task, NULL), 0);
	return spawn_a_few(NULL);
}

static void *joined_main(void *arg)
{
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, join_main, urt_self(), NULL), 0);
	urt_detach(t);
	return arg;
}

Test(run, main_result_when_its_handle_is_gone, .timeout = 10)
{
	cr_expect_eq((intptr_t)urt_test_run(detached_main, (void *)42), 42);
	cr_expect_eq((intptr_t)urt_test_run(joined_main, (void *)43), 43);
}

/* A hold left over keeps no loop from ending: urt_run and urt_loop_destroy
 * drop it (without a task nothing could take what it waited for). */
static void *hold_and_return(void *arg)
{
	cr_assert_eq(urt_loop_hold(urt_loop_current()), 0);
	return arg;
}

Test(run, hold_left_over_is_dropped, .timeout = 10)
{
	cr_expect_eq((intptr_t)urt_test_run(hold_and_return, (void *)5), 5);
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, NULL), 0);
	cr_assert_eq(urt_loop_hold(l), 0);
	cr_expect_eq(urt_loop_destroy(l), 0);
}

Test(run, null_fn_einval)
{
	void *res = (void *)7;
	cr_expect_eq(urt_run(NULL, NULL, NULL, &res), -EINVAL);
	cr_expect_null(urt_loop_current());
}

static void *nested(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_run(ret_arg_plus_one, NULL, NULL, NULL);
}

static void *nested_in_child(void *arg)
{
	(void)arg;
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, nested, NULL, NULL), 0);
	void *res = NULL;
	cr_assert_eq(urt_join(t, &res), 0);
	return res;
}

Test(run, nested_run_ebusy, .timeout = 10)
{
	cr_expect_eq((intptr_t)urt_test_run(nested, NULL), -EBUSY, "urt_run from the main task");
	cr_expect_eq((intptr_t)urt_test_run(nested_in_child, NULL), -EBUSY, "urt_run from a spawned task");
}

static void *current_loop(void *arg)
{
	(void)arg;
	urt_loop *l = urt_loop_current();
	cr_expect_not_null(l);
	cr_expect_gt(urt_loop_id(l), 0);
	return (void *)(uintptr_t)urt_loop_id(l);
}

Test(run, loop_current_only_inside, .timeout = 10)
{
	cr_expect_null(urt_loop_current(), "a loop exists before urt_run");
	cr_expect_null(urt_loop_current(), "asking created a loop");
	uint64_t id1 = (uintptr_t)urt_test_run(current_loop, NULL);
	cr_expect_null(urt_loop_current(), "loop still current after urt_run");
	uint64_t id2 = (uintptr_t)urt_test_run(current_loop, NULL);
	cr_expect_gt(id1, 0);
	cr_expect_neq(id1, id2, "loop ids must be unique in the process");
	cr_expect_null(urt_self());
}

/* A task that waits for an event nobody can set: the loop notices, cancels
 * it so it can finish, and reports -EDEADLK. */
static int g_wait_res = 1;

static void *wait_forever(void *arg)
{
	(void)arg;
	urt_event ev = URT_EVENT_INIT;
	g_wait_res = urt_event_wait(&ev);
	return (void *)(intptr_t)5;
}

Test(run, deadlock_is_edeadlk, .timeout = 10)
{
	urt_test_baseline b = urt_test_baseline_take();
	void *res = NULL;
	cr_expect_eq(urt_run(wait_forever, NULL, NULL, &res), -EDEADLK);
	cr_expect_eq(g_wait_res, -ECANCELED, "the stuck task was not cancelled: %d", g_wait_res);
	cr_expect_eq((intptr_t)res, 5);
	urt_test_baseline_check(b);
	cr_expect_null(urt_loop_current());
}

/* A spawned task stuck after main has returned is a deadlock too. */
static void *spawn_stuck(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_spawn(NULL, wait_forever, NULL, NULL), 0);
	cr_expect_eq(urt_sleep(2 * URT_NS_PER_MS), 0, "deadlock declared while a timer was pending");
	return (void *)(intptr_t)8;
}

Test(run, deadlock_in_detached_task, .timeout = 10)
{
	g_wait_res = 1;
	void *res = NULL;
	cr_expect_eq(urt_run(spawn_stuck, NULL, NULL, &res), -EDEADLK);
	cr_expect_eq(g_wait_res, -ECANCELED);
	cr_expect_eq((intptr_t)res, 8);
}

/* urt_run waits for detached tasks that outlive main. */
static int g_late;

static void *late(void *arg)
{
	(void)arg;
	urt_sleep(5 * URT_NS_PER_MS);
	g_late = 1;
	return NULL;
}

static void *spawn_late(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_spawn(NULL, late, NULL, NULL), 0);
	return NULL;
}

Test(run, waits_for_detached_tasks, .timeout = 10)
{
	urt_test_run(spawn_late, NULL);
	cr_expect_eq(g_late, 1, "urt_run returned before a detached task finished");
}

/* Teardown: many runs in a row leave nothing behind. */
static void *io_and_tasks(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(pipe(p), 0);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(urt_spawn(NULL, late, NULL, NULL), 0);
	cr_expect_eq(urt_write(p[1], "z", 1, URT_POS_CURRENT), 1);
	char c;
	cr_expect_eq(urt_read(p[0], &c, 1, URT_POS_CURRENT), 1);
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(run, teardown_back_to_baseline, .timeout = 20)
{
	/* a first run warms up libc (stdio, allocator arenas) outside the count */
	cr_assert_eq(urt_run(io_and_tasks, NULL, NULL, NULL), 0);
	urt_test_baseline b = urt_test_baseline_take();
	for (int i = 0; i < 30; i++)
		cr_assert_eq(urt_run(io_and_tasks, NULL, NULL, NULL), 0);
	urt_test_baseline_check(b);
}

/* ---- stats -------------------------------------------------------------- */

static void *nothing(void *arg)
{
	(void)arg;
	return NULL;
}

static void *stats_main(void *arg)
{
	(void)arg;
	urt_loop_stats a, b;
	cr_expect_eq(urt_loop_stats_get(NULL, NULL), -EINVAL);
	cr_expect_eq(urt_loop_stats_get(urt_loop_current(), NULL), -EINVAL);
	cr_assert_eq(urt_loop_stats_get(NULL, &a), 0);
	cr_expect_geq(a.alive, 1);
	urt_task *ts[5];
	for (int i = 0; i < 5; i++)
		cr_assert_eq(urt_spawn(&ts[i], nothing, NULL, NULL), 0);
	cr_assert_eq(urt_loop_stats_get(urt_loop_current(), &b), 0);
	cr_expect_eq(b.spawned, a.spawned + 5);
	cr_expect_eq(b.alive, a.alive + 5);
	urt_yield();
	cr_assert_eq(urt_sleep(URT_NS_PER_MS), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(urt_join(ts[i], NULL), 0);
	cr_assert_eq(urt_loop_stats_get(NULL, &b), 0);
	cr_expect_gt(b.switches, a.switches, "switches did not move");
	cr_expect_gt(b.enters, a.enters, "enters did not move");
	cr_expect_gt(b.ticks, a.ticks);
	cr_expect_eq(b.alive, a.alive);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_expect_eq(urt_write(p[1], "q", 1, URT_POS_CURRENT), 1);
	cr_assert_eq(urt_loop_stats_get(NULL, &a), 0);
	cr_expect_gt(a.sqes, b.sqes, "sqes did not move");
	cr_expect_gt(a.cqes, b.cqes, "cqes did not move");
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(run, stats, .timeout = 10)
{
	urt_loop_stats s;
	cr_expect_eq(urt_loop_stats_get(NULL, &s), -EINVAL, "no loop outside urt_run");
	urt_test_run(stats_main, NULL);
}

/* ---- errors and version ------------------------------------------------- */

Test(run, strerror_and_version)
{
	const int errs[] = {0, -EPERM, -EINVAL, -ECANCELED, -ETIME, -EDEADLK, -EBUSY,
			    -ESHUTDOWN, -EPIPE, -EAGAIN, -ENOMEM, -12345, 12345};
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		const char *s = urt_strerror(errs[i]);
		cr_expect_not_null(s, "urt_strerror(%d)", errs[i]);
		if (s)
			cr_expect_gt(strlen(s), 0);
	}
	cr_expect_str_neq(urt_strerror(-ETIME), urt_strerror(-ECANCELED));
	cr_expect_str_eq(urt_version(), URT_VERSION_STRING);
}

/* ---- calls outside any loop ---------------------------------------------- */

Test(run, outside_a_loop)
{
	cr_expect_null(urt_self());
	cr_expect_eq(urt_yield(), -EPERM);
	cr_expect_eq(urt_sleep(1), -EPERM);
	urt_task *t = (urt_task *)1;
	cr_expect_eq(urt_spawn(&t, nothing, NULL, NULL), -EPERM);
	cr_expect_eq(urt_task_id(NULL), 0);
	cr_expect_null(urt_task_name(NULL));
	cr_expect_eq(urt_join(NULL, NULL), -EINVAL);
	cr_expect_eq(urt_detach(NULL), -EINVAL);
}
