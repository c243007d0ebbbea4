/* urt + Criterion: run a test body with urt_harness_run and turn an
 * unclean report into test failures. Header-only, so liburt itself never
 * depends on Criterion: include it after <criterion/criterion.h>.
 *
 *   static void *body(void *arg) { ...; return NULL; }
 *   Test(suite, name) { URT_CR_RUN(body, NULL, 5 * URT_NS_PER_SEC); }
 *
 * Inside the body use cr_expect*, not cr_assert*: an assert jumps out of
 * the test function, which must not happen from a task's stack. */
#ifndef URT_CRITERION_H
#define URT_CRITERION_H

#include "urt_harness.h"

/* Fail the test (cr_assert) unless rep (a urt_harness_report value) is
 * clean, with the report's description as message. */
#define URT_CR_ASSERT_CLEAN(rep)                                              \
	do {                                                                  \
		char urt_cr_msg_[1024];                                       \
		urt_harness_format(&(rep), urt_cr_msg_, sizeof urt_cr_msg_);  \
		cr_assert(urt_harness_clean(&(rep)) == 1, "urt harness: %s", urt_cr_msg_); \
	} while (0)

/* Run body(arg) under the harness with timeout_ns (default config) and
 * assert a clean report. Evaluates to the body's return value. */
#define URT_CR_RUN(body, arg, timeout_ns)                                     \
	__extension__({                                                       \
		urt_harness_report urt_cr_rep_;                               \
		int urt_cr_r_ = urt_harness_run((body), (arg), (timeout_ns), NULL, &urt_cr_rep_); \
		cr_assert_eq(urt_cr_r_, 0, "urt_harness_run: %s", urt_strerror(urt_cr_r_)); \
		URT_CR_ASSERT_CLEAN(urt_cr_rep_);                             \
		urt_cr_rep_.result;                                           \
	})

#endif
