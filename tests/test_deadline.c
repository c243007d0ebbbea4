/* Deadlines: every kind of blocking call fails with -ETIME once the
 * innermost scope expires; scopes nest; misuse is a clear error. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include "blockers.h"
#include "check.h"

#define MS URT_NS_PER_MS

/* ---- every kind of blocking call --------------------------------------- */

typedef struct victim {
	blk_env *env;
	int r1, r2, r_enter, r_exit;
	uint64_t waited;
} victim;

static void *victim_fn(void *arg)
{
	victim *v = arg;
	urt_deadline d;
	uint64_t t0 = urt_now();
	v->r_enter = urt_deadline_enter(&d, 5 * MS);
	v->r1 = blk_call(v->env);
	v->waited = urt_now() - t0;
	if (v->r1 == -ETIME)
		v->r2 = blk_call(v->env); /* still inside the expired scope */
	v->r_exit = urt_deadline_exit(&d);
	return NULL;
}

static void *deadline_main(void *arg)
{
	blk_env e;
	blk_setup(&e, (enum blk_kind)(intptr_t)arg);
	victim v = {.env = &e, .r1 = 1, .r2 = 1};
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, victim_fn, &v, NULL), 0);
	cr_expect_eq(urt_join(t, NULL), 0);
	cr_expect_eq(v.r_enter, 0);
	cr_expect_eq(v.r1, -ETIME, "call under an expired deadline: %d", v.r1);
	cr_expect_geq(v.waited, 5 * MS, "returned before the deadline (%llu ns)",
		      (unsigned long long)v.waited);
	/* loose (a loaded machine may run the task late): without the deadline
	 * the calls block for 60 s or forever */
	cr_expect_lt(v.waited, 5 * URT_NS_PER_SEC, "the deadline fired late");
	cr_expect_eq(v.r2, -ETIME, "a later call in the expired scope: %d", v.r2);
	cr_expect_eq(v.r_exit, 0);
	blk_check_untouched(&e);
	blk_teardown(&e);
	return NULL;
}

#define DEADLINE_TEST(kind)                                                      \
	Test(deadline, kind, .timeout = 10)                                      \
	{                                                                        \
		urt_test_run(deadline_main, (void *)(intptr_t)kind);             \
	}

DEADLINE_TEST(BLK_SLEEP)
DEADLINE_TEST(BLK_EVENT)
DEADLINE_TEST(BLK_MUTEX)
DEADLINE_TEST(BLK_SEM)
DEADLINE_TEST(BLK_CHAN_SEND)
DEADLINE_TEST(BLK_CHAN_RECV)
DEADLINE_TEST(BLK_JOIN)
DEADLINE_TEST(BLK_WAIT_ALL)
DEADLINE_TEST(BLK_WAIT_ANY)
DEADLINE_TEST(BLK_READ)
DEADLINE_TEST(BLK_RECV)
DEADLINE_TEST(BLK_ACCEPT)
DEADLINE_TEST(BLK_POLL)

/* ---- nesting ------------------------------------------------------------ */

static void *inner_shorter(void *arg)
{
	(void)arg;
	urt_deadline outer, inner;
	cr_assert_eq(urt_deadline_enter(&outer, 30 * URT_NS_PER_SEC), 0);
	uint64_t outer_at = urt_deadline_get();
	cr_assert_eq(urt_deadline_enter(&inner, 5 * MS), 0);
	cr_expect_lt(urt_deadline_get(), outer_at, "inner, shorter scope must win");
	uint64_t t0 = urt_now();
	cr_expect_eq(urt_sleep(10 * URT_NS_PER_SEC), -ETIME);
	/* loose (a loaded machine): the sleep alone would take 10 s */
	cr_expect_lt(urt_now() - t0, 5 * URT_NS_PER_SEC);
	cr_expect_eq(urt_deadline_exit(&inner), 0);
	cr_expect_eq(urt_deadline_get(), outer_at, "leaving restores the outer deadline");
	/* the outer scope has not expired: calls work again */
	cr_expect_eq(urt_sleep(1 * MS), 0);
	cr_expect_eq(urt_deadline_exit(&outer), 0);
	cr_expect_eq(urt_deadline_get(), UINT64_MAX);
	return NULL;
}

Test(deadline, nested_inner_shorter_wins, .timeout = 10)
{
	urt_test_run(inner_shorter, NULL);
}

static void *outer_shorter(void *arg)
{
	(void)arg;
	urt_deadline outer, inner;
	cr_assert_eq(urt_deadline_enter(&outer, 5 * MS), 0);
	uint64_t outer_at = urt_deadline_get();
	cr_expect_neq(outer_at, UINT64_MAX);
	cr_assert_eq(urt_deadline_enter(&inner, 10 * URT_NS_PER_SEC), 0);
	cr_expect_eq(urt_deadline_get(), outer_at, "a longer inner scope cannot extend the outer one");
	uint64_t t0 = urt_now();
	cr_expect_eq(urt_sleep(10 * URT_NS_PER_SEC), -ETIME);
	/* loose (a loaded machine): the inner scope would take 10 s */
	cr_expect_lt(urt_now() - t0, 5 * URT_NS_PER_SEC);
	cr_expect_eq(urt_deadline_exit(&inner), 0);
	/* the outer one has expired as well */
	cr_expect_eq(urt_sleep(0), -ETIME);
	cr_expect_eq(urt_deadline_exit(&outer), 0);
	cr_expect_eq(urt_sleep(0), 0, "after leaving every scope calls work again");
	return NULL;
}

Test(deadline, nested_outer_shorter_wins, .timeout = 10)
{
	urt_test_run(outer_shorter, NULL);
}

static void *out_of_order(void *arg)
{
	(void)arg;
	urt_deadline a, b, never_entered;
	cr_expect_eq(urt_deadline_exit(&never_entered), -EINVAL, "exit without any scope");
	cr_assert_eq(urt_deadline_enter(&a, URT_NS_PER_SEC), 0);
	cr_assert_eq(urt_deadline_enter(&b, URT_NS_PER_SEC), 0);
	cr_expect_eq(urt_deadline_exit(&a), -EINVAL, "exit of the outer scope first");
	cr_expect_eq(urt_deadline_exit(&never_entered), -EINVAL);
	cr_expect_eq(urt_deadline_exit(NULL), -EINVAL);
	cr_expect_eq(urt_deadline_exit(&b), 0);
	cr_expect_eq(urt_deadline_exit(&b), -EINVAL, "exit twice");
	cr_expect_eq(urt_deadline_exit(&a), 0);
	cr_expect_eq(urt_deadline_get(), UINT64_MAX);
	cr_expect_eq(urt_deadline_enter(NULL, MS), -EINVAL);
	return NULL;
}

Test(deadline, exit_out_of_order_einval, .timeout = 10)
{
	urt_test_run(out_of_order, NULL);
}

Test(deadline, outside_a_task_eperm)
{
	urt_deadline d;
	cr_expect_eq(urt_deadline_enter(&d, MS), -EPERM);
	cr_expect_eq(urt_deadline_exit(&d), -EPERM);
	cr_expect_eq(urt_deadline_get(), UINT64_MAX);
}

/* Scopes belong to the task: another task's deadline does not leak in. */
static void *no_deadline_child(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_deadline_get(), UINT64_MAX, "a deadline leaked into another task");
	return (void *)(intptr_t)urt_sleep(20 * MS);
}

static void *per_task(void *arg)
{
	(void)arg;
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, 5 * MS), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, no_deadline_child, NULL, NULL), 0);
	cr_expect_eq(urt_sleep(URT_NS_PER_SEC), -ETIME);
	cr_expect_eq(urt_deadline_exit(&d), 0);
	void *res = (void *)1;
	cr_expect_eq(urt_join(t, &res), 0);
	cr_expect_eq((intptr_t)res, 0, "the child's sleep was cut by the parent's deadline");
	return NULL;
}

Test(deadline, per_task, .timeout = 10)
{
	urt_test_run(per_task, NULL);
}

/* ---- already expired, and completing in time ---------------------------- */

static void spin_ns(uint64_t ns)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((uint64_t)(b.tv_sec - a.tv_sec) * URT_NS_PER_SEC + (uint64_t)b.tv_nsec -
		       (uint64_t)a.tv_nsec < ns);
}

static void *already_passed(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "abc", 3), 3);
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, 1000), 0);
	spin_ns(2 * MS); /* no yield: the deadline passes while we run */
	urt_loop_stats s0, s1;
	cr_assert_eq(urt_loop_stats_get(NULL, &s0), 0);
	char buf[8];
	cr_expect_eq(urt_read(p[0], buf, sizeof buf, URT_POS_CURRENT), -ETIME);
	cr_assert_eq(urt_loop_stats_get(NULL, &s1), 0);
	cr_expect_eq(s1.sqes, s0.sqes, "an expired deadline still submitted an SQE");
	cr_expect_eq(urt_test_readable(p[0]), 3, "data consumed by a call that failed");
	cr_expect_eq(urt_deadline_exit(&d), 0);

	/* a zero timeout is already expired */
	cr_assert_eq(urt_deadline_enter(&d, 0), 0);
	cr_expect_eq(urt_read(p[0], buf, sizeof buf, URT_POS_CURRENT), -ETIME);
	cr_expect_eq(urt_sleep(0), -ETIME);
	cr_expect_eq(urt_deadline_exit(&d), 0);
	cr_expect_eq(urt_read(p[0], buf, sizeof buf, URT_POS_CURRENT), 3);
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(deadline, already_passed_fails_without_submitting, .timeout = 10)
{
	urt_test_run(already_passed, NULL);
}

static int g_pipe[2];

static void *late_writer(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_sleep(2 * MS), 0);
	cr_expect_eq(urt_write(g_pipe[1], "hello", 5, URT_POS_CURRENT), 5);
	return NULL;
}

static void *in_time(void *arg)
{
	(void)arg;
	cr_assert_eq(pipe(g_pipe), 0);
	urt_task *w;
	cr_assert_eq(urt_spawn(&w, late_writer, NULL, NULL), 0);
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, 5 * URT_NS_PER_SEC), 0);
	char buf[16] = {0};
	cr_expect_eq(urt_read(g_pipe[0], buf, sizeof buf, URT_POS_CURRENT), 5);
	cr_expect_str_eq(buf, "hello");
	cr_expect_eq(urt_sleep(1 * MS), 0, "sleep shorter than the deadline");
	cr_expect_eq(urt_deadline_exit(&d), 0);
	cr_expect_eq(urt_join(w, NULL), 0);
	close(g_pipe[0]);
	close(g_pipe[1]);
	return NULL;
}

Test(deadline, read_completes_before_deadline, .timeout = 10)
{
	urt_test_run(in_time, NULL);
}

/* A deadline and a cancel on the same call: either error, the task ends. */
static void *deadline_then_cancel(void *arg)
{
	(void)arg;
	urt_deadline d;
	urt_deadline_enter(&d, 5 * MS);
	int r = urt_sleep(60 * URT_NS_PER_SEC);
	urt_deadline_exit(&d);
	return (void *)(intptr_t)r;
}

static void *both_main(void *arg)
{
	(void)arg;
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, deadline_then_cancel, NULL, NULL), 0);
	cr_assert_eq(urt_sleep(5 * MS), 0);
	urt_cancel(t);
	void *res = NULL;
	urt_join(t, &res);
	int r = (int)(intptr_t)res;
	cr_expect(r == -ETIME || r == -ECANCELED, "got %d", r);
	return NULL;
}

Test(deadline, races_with_cancel, .timeout = 10)
{
	urt_test_run(both_main, NULL);
}

/* ---- a wake before the deadline takes the park's timer with it ---------- */

typedef struct early {
	urt_event first, second;
	int r_first, r_second, r_sleep;
} early;

static void *early_waiter(void *arg)
{
	early *e = arg;
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, 10 * MS), 0);
	e->r_first = urt_event_wait(&e->first); /* set before the deadline */
	cr_assert_eq(urt_deadline_exit(&d), 0);
	/* no deadline now: a timer left armed by the first park would end
	 * this wait with -ETIME when the old deadline passes */
	e->r_second = urt_event_wait(&e->second);
	return NULL;
}

static void *early_setter(void *arg)
{
	early *e = arg;
	urt_event_set(&e->first);
	e->r_sleep = urt_sleep(50 * MS); /* well past the old deadline */
	urt_event_set(&e->second);
	return NULL;
}

static void *early_main(void *arg)
{
	(void)arg;
	early e = {.first = URT_EVENT_INIT, .second = URT_EVENT_INIT, .r_first = 1, .r_second = 1};
	urt_task *w, *s;
	cr_assert_eq(urt_spawn(&w, early_waiter, &e, NULL), 0);
	cr_assert_eq(urt_spawn(&s, early_setter, &e, NULL), 0);
	cr_expect_eq(urt_join(w, NULL), 0);
	cr_expect_eq(urt_join(s, NULL), 0);
	cr_expect_eq(e.r_first, 0, "the first wait: %d", e.r_first);
	cr_expect_eq(e.r_sleep, 0);
	cr_expect_eq(e.r_second, 0, "a wait after the scope ended: %d", e.r_second);
	return NULL;
}

/* Paused time: the 50 ms sleep takes no real time and the order is fixed. */
Test(deadline, woken_early_the_timer_is_disarmed, .timeout = 10)
{
	static const urt_config paused = {.flags = URT_CFG_PAUSED_TIME};
	urt_test_run_cfg(early_main, NULL, &paused);
}
