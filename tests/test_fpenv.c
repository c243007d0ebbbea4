/* The floating-point environment across task switches: each task keeps
 * the rounding mode (x87 control word and MXCSR) it set, as the ABI makes
 * it callee-saved, and a new task inherits its spawner's (as a new thread
 * inherits its creator's). */
#include <criterion/criterion.h>
#include <fenv.h>
#include "check.h"

static int g_seen_by_b = -1;

static void *b_task(void *arg)
{
	(void)arg;
	g_seen_by_b = fegetround(); /* inherited from A */
	fesetround(FE_DOWNWARD);
	urt_yield();
	cr_expect_eq(fegetround(), FE_DOWNWARD, "task b lost its rounding mode");
	fesetround(FE_TONEAREST);
	return NULL;
}

static void *a_task(void *arg)
{
	(void)arg;
	urt_task *b;
	fesetround(FE_UPWARD);
	cr_assert_eq(urt_spawn(&b, b_task, NULL, NULL), 0);
	for (int i = 0; i < 3; i++) {
		urt_yield();
		cr_expect_eq(fegetround(), FE_UPWARD, "task a lost its rounding mode");
	}
	/* long double arithmetic goes through the x87 control word */
	volatile long double one = 1.0L, three = 3.0L;
	long double up = one / three;
	fesetround(FE_DOWNWARD);
	long double down = one / three;
	cr_expect(up > down, "x87 rounding mode not in effect");
	fesetround(FE_TONEAREST);
	cr_expect_eq(urt_join(b, NULL), 0);
	return NULL;
}

Test(fpenv, each_task_keeps_its_rounding_mode, .timeout = 10)
{
	urt_test_run(a_task, NULL);
	cr_expect_eq(g_seen_by_b, FE_UPWARD, "a new task did not inherit its spawner's rounding mode");
}
