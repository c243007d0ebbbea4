/* The floating-point environment across task switches: a task spawned
 * with URT_TASK_OWN_FPENV keeps the rounding mode it set (x87 control word
 * and MXCSR), starting from its spawner's; its changes do not reach the
 * tasks that share the loop's environment, nor theirs it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fenv.h>
#include "check.h"

/* 1/3 in long double (x87 control word) and double (MXCSR): both differ
 * with the rounding mode in effect */
struct third {
	long double x87;
	double sse;
};

static struct third third(void)
{
	volatile long double l1 = 1.0L, l3 = 3.0L;
	volatile double d1 = 1.0, d3 = 3.0;
	return (struct third){l1 / l3, d1 / d3};
}

static const urt_task_opts own = {.flags = URT_TASK_OWN_FPENV};
static int g_shared_saw = -1;

static void *shared_task(void *arg)
{
	(void)arg;
	g_shared_saw = fegetround(); /* the loop's, not the owner's */
	for (int i = 0; i < 3; i++) {
		fesetround(FE_DOWNWARD);
		urt_yield();
	}
	fesetround(FE_TONEAREST);
	return NULL;
}

static void *owner_task(void *arg)
{
	(void)arg;
	fesetround(FE_UPWARD);
	struct third before = third();
	for (int i = 0; i < 3; i++) {
		urt_yield();
		cr_expect_eq(fegetround(), FE_UPWARD, "the owner lost its rounding mode");
		struct third now = third();
		cr_expect(now.x87 == before.x87, "x87 control word not restored");
		cr_expect(now.sse == before.sse, "MXCSR not restored");
	}
	fesetround(FE_DOWNWARD);
	struct third down = third();
	cr_expect(before.x87 > down.x87 && before.sse > down.sse, "rounding mode not in effect");
	return NULL;
}

static void *owner_main(void *arg)
{
	(void)arg;
	urt_task *a, *b;
	cr_assert_eq(urt_spawn(&a, owner_task, NULL, &own), 0);
	cr_assert_eq(urt_spawn(&b, shared_task, NULL, NULL), 0);
	cr_expect_eq(urt_join(a, NULL), 0);
	cr_expect_eq(urt_join(b, NULL), 0);
	/* the owner ended in FE_DOWNWARD: that stayed with it */
	cr_expect_eq(fegetround(), FE_TONEAREST, "an owner's rounding mode leaked out");
	return NULL;
}

Test(fpenv, an_owner_keeps_its_rounding_mode_and_keeps_it_to_itself, .timeout = 10)
{
	cr_assert_eq(fegetround(), FE_TONEAREST);
	urt_test_run(owner_main, NULL);
	cr_expect_eq(g_shared_saw, FE_TONEAREST, "a sharing task saw the owner's rounding mode");
	cr_expect_eq(fegetround(), FE_TONEAREST);
}

static int g_child_saw = -1;

static void *child_task(void *arg)
{
	(void)arg;
	g_child_saw = fegetround();
	return NULL;
}

static void *parent_task(void *arg)
{
	(void)arg;
	fesetround(FE_TOWARDZERO);
	urt_task *c;
	cr_assert_eq(urt_spawn(&c, child_task, NULL, &own), 0);
	cr_expect_eq(urt_join(c, NULL), 0);
	cr_expect_eq(fegetround(), FE_TOWARDZERO);
	return NULL;
}

static void *parent_main(void *arg)
{
	(void)arg;
	urt_task *p;
	cr_assert_eq(urt_spawn(&p, parent_task, NULL, &own), 0);
	cr_expect_eq(urt_join(p, NULL), 0);
	return NULL;
}

Test(fpenv, an_owner_starts_with_its_spawners_mode, .timeout = 10)
{
	urt_test_run(parent_main, NULL);
	cr_expect_eq(g_child_saw, FE_TOWARDZERO, "a new owner did not inherit its spawner's rounding mode");
}

static void *bad_flags_main(void *arg)
{
	(void)arg;
	urt_task *t = NULL;
	urt_task_opts bad = {.flags = URT_TASK_OWN_FPENV << 1};
	cr_expect_eq(urt_spawn(&t, child_task, NULL, &bad), -EINVAL);
	cr_expect_null(t);
	return NULL;
}

Test(fpenv, unknown_spawn_flags_are_einval, .timeout = 10)
{
	urt_test_run(bad_flags_main, NULL);
}
