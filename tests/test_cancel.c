/* Cancellation: urt_cancel interrupts every kind of blocking call with
 * -ECANCELED, later calls fail the same way, and nothing is half-done. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include "blockers.h"
#include "check.h"

/* ---- every kind of blocking call --------------------------------------- */

typedef struct victim {
	blk_env *env;
	int started;
	int r1, r2;   /* the interrupted call, and one more call afterwards */
} victim;

static void *victim_fn(void *arg)
{
	victim *v = arg;
	v->started = 1;
	v->r1 = blk_call(v->env);
	if (v->r1 == -ECANCELED)
		v->r2 = blk_call(v->env); /* must fail at once, not block */
	return (void *)(intptr_t)0x5eed;
}

typedef struct scenario {
	enum blk_kind kind;
	int submitted; /* 1: let the loop submit before cancelling; 0: cancel right after parking */
} scenario;

static void *cancel_main(void *arg)
{
	scenario *s = arg;
	blk_env e;
	blk_setup(&e, s->kind);
	victim v = {.env = &e, .r1 = 1, .r2 = 1};
	urt_task *t = NULL;
	cr_assert_eq(urt_spawn(&t, victim_fn, &v, NULL), 0);
	if (s->submitted)
		cr_assert_eq(urt_sleep(2 * URT_NS_PER_MS), 0);
	else
		cr_assert_eq(urt_yield(), 0); /* the victim runs up to its park */
	cr_expect(v.started, "victim did not run");
	cr_expect_eq(v.r1, 1, "the call returned %d before the cancel", v.r1);
	cr_expect_eq(urt_cancel(t), 0);
	cr_expect_eq(urt_cancel(t), 0, "cancel is idempotent");
	void *res = NULL;
	cr_expect_eq(urt_join(t, &res), -ECANCELED);
	cr_expect_eq((intptr_t)res, 0x5eed, "join of a cancelled task still hands back its result");
	cr_expect_eq(v.r1, -ECANCELED, "interrupted call: %d", v.r1);
	cr_expect_eq(v.r2, -ECANCELED, "call after the cancel: %d", v.r2);
	blk_check_untouched(&e);
	blk_teardown(&e);
	return NULL;
}

#define CANCEL_TEST(kind, sub)                                                   \
	Test(cancel, kind##_##sub, .timeout = 10)                                \
	{                                                                        \
		scenario s = {kind, sub};                                        \
		urt_test_run(cancel_main, &s);                                   \
	}

CANCEL_TEST(BLK_SLEEP, 0)
CANCEL_TEST(BLK_SLEEP, 1)
CANCEL_TEST(BLK_EVENT, 1)
CANCEL_TEST(BLK_MUTEX, 1)
CANCEL_TEST(BLK_SEM, 1)
CANCEL_TEST(BLK_CHAN_SEND, 1)
CANCEL_TEST(BLK_CHAN_RECV, 1)
CANCEL_TEST(BLK_JOIN, 1)
CANCEL_TEST(BLK_WAIT_ALL, 1)
CANCEL_TEST(BLK_WAIT_ANY, 1)
CANCEL_TEST(BLK_READ, 0)
CANCEL_TEST(BLK_READ, 1)
CANCEL_TEST(BLK_RECV, 0)
CANCEL_TEST(BLK_RECV, 1)
CANCEL_TEST(BLK_ACCEPT, 0)
CANCEL_TEST(BLK_ACCEPT, 1)
CANCEL_TEST(BLK_POLL, 0)
CANCEL_TEST(BLK_POLL, 1)

/* ---- task-level semantics ---------------------------------------------- */

static int g_r[4];
static int g_ran;

static void *sleep_long(void *arg)
{
	(void)arg;
	g_ran = 1;
	g_r[0] = urt_sleep(60 * URT_NS_PER_SEC);
	g_r[1] = urt_yield();
	g_r[2] = urt_sleep(0);
	return (void *)(intptr_t)3;
}

static void *before_start_main(void *arg)
{
	(void)arg;
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, sleep_long, NULL, NULL), 0);
	cr_expect_eq(urt_cancel(t), 0); /* it has not started yet */
	uint64_t t0 = urt_now();
	void *res = NULL;
	cr_expect_eq(urt_join(t, &res), -ECANCELED);
	/* loose (a loaded machine): the sleep is 60 s */
	cr_expect_lt(urt_now() - t0, 5 * URT_NS_PER_SEC, "the sleep was not interrupted");
	cr_expect_eq((intptr_t)res, 3);
	cr_expect(g_ran, "a task cancelled before it started still runs its body");
	cr_expect_eq(g_r[0], -ECANCELED);
	cr_expect_eq(g_r[1], -ECANCELED, "yield in a cancelled task");
	cr_expect_eq(g_r[2], -ECANCELED, "sleep(0) in a cancelled task");
	return NULL;
}

Test(cancel, before_the_task_starts, .timeout = 10)
{
	urt_test_run(before_start_main, NULL);
}

static void *returns_9(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)9;
}

static void *finished_main(void *arg)
{
	(void)arg;
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, returns_9, NULL, NULL), 0);
	for (int i = 0; i < 5; i++)
		urt_yield(); /* it runs to completion */
	cr_expect_eq(urt_cancel(t), 0, "cancel of a finished task");
	cr_expect_eq(urt_cancel(t), 0);
	void *res = NULL;
	int r = urt_join(t, &res);
	cr_expect(r == 0 || r == -ECANCELED, "join: %d", r);
	cr_expect_eq((intptr_t)res, 9);
	/* the canceller itself is unaffected */
	cr_expect_eq(urt_sleep(1000), 0);
	return NULL;
}

Test(cancel, finished_task_is_harmless, .timeout = 10)
{
	urt_test_run(finished_main, NULL);
}

static void *self_cancel(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_cancel(urt_self()), 0);
	/* not a blocking call: no effect until the next one */
	int x = 1;
	cr_expect_eq(x, 1);
	cr_expect_eq(urt_sleep(URT_NS_PER_SEC), -ECANCELED);
	urt_event ev = URT_EVENT_INIT;
	cr_expect_eq(urt_event_wait(&ev), -ECANCELED);
	return (void *)(intptr_t)1;
}

static void *self_main(void *arg)
{
	(void)arg;
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, self_cancel, NULL, NULL), 0);
	void *res = NULL;
	cr_expect_eq(urt_join(t, &res), -ECANCELED);
	cr_expect_eq((intptr_t)res, 1);
	return NULL;
}

Test(cancel, self, .timeout = 10)
{
	urt_test_run(self_main, NULL);
}

static void *bad_args_main(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_cancel(NULL), -EINVAL);
	return NULL;
}

Test(cancel, null_is_einval)
{
	urt_test_run(bad_args_main, NULL);
}

/* The main task can be cancelled too: its calls fail, urt_run still ends. */
static void *cancel_main_fn(void *arg)
{
	urt_cancel(arg);
	return NULL;
}

static void *cancelled_main(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_spawn(NULL, cancel_main_fn, urt_self(), NULL), 0);
	int r = urt_sleep(60 * URT_NS_PER_SEC);
	return (void *)(intptr_t)r;
}

Test(cancel, main_task, .timeout = 10)
{
	void *res = urt_test_run(cancelled_main, NULL);
	cr_expect_eq((intptr_t)res, -ECANCELED);
}

/* A queued mutex waiter that is cancelled must not get the lock; the next
 * waiter in line does. */
static urt_mutex g_mu;
static int g_got[2];

static void *locker(void *arg)
{
	intptr_t i = (intptr_t)arg;
	int r = urt_mutex_lock(&g_mu);
	g_got[i] = r == 0 ? 1 : r;
	if (r == 0)
		urt_mutex_unlock(&g_mu);
	return NULL;
}

static void *mutex_handoff_main(void *arg)
{
	(void)arg;
	urt_mutex_init(&g_mu);
	cr_assert_eq(urt_mutex_lock(&g_mu), 0);
	urt_task *a, *b;
	cr_assert_eq(urt_spawn(&a, locker, (void *)0, NULL), 0);
	cr_assert_eq(urt_spawn(&b, locker, (void *)1, NULL), 0);
	urt_yield();
	cr_expect_eq(urt_cancel(a), 0);
	cr_expect_eq(urt_mutex_unlock(&g_mu), 0);
	cr_expect_eq(urt_join(a, NULL), -ECANCELED);
	cr_expect_eq(urt_join(b, NULL), 0);
	cr_expect_eq(g_got[0], -ECANCELED);
	cr_expect_eq(g_got[1], 1, "the next waiter did not get the mutex");
	cr_expect_null(g_mu.owner);
	return NULL;
}

Test(cancel, mutex_waiter_skipped, .timeout = 10)
{
	urt_test_run(mutex_handoff_main, NULL);
}

/* Cancelling many parked tasks at once: all wake, none is lost. */
static void *many_sleeper(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_sleep(60 * URT_NS_PER_SEC);
}

static void *many_main(void *arg)
{
	(void)arg;
	enum { N = 500 };
	static urt_task *ts[N];
	for (int i = 0; i < N; i++)
		cr_assert_eq(urt_spawn(&ts[i], many_sleeper, NULL, NULL), 0);
	urt_yield();
	for (int i = N - 1; i >= 0; i--)
		cr_expect_eq(urt_cancel(ts[i]), 0);
	for (int i = 0; i < N; i++) {
		void *res = NULL;
		cr_expect_eq(urt_join(ts[i], &res), -ECANCELED);
		cr_expect_eq((intptr_t)res, -ECANCELED);
	}
	return NULL;
}

Test(cancel, many_parked, .timeout = 10)
{
	urt_test_run(many_main, NULL);
}
