/* A small stand-in for Criterion's API, used only for the ThreadSanitizer
 * build: Criterion itself cannot start under TSan (its inheritable arena
 * needs a fixed mapping that TSan's shadow memory takes; Criterion issue
 * #274). It covers what urt's thread-sharing tests use: Test, TestSuite
 * with .timeout/.init/.fini/.disabled, cr_assert* and cr_expect*. Each
 * test runs in a forked child, as in Criterion. */
#ifndef URT_CRITERION_LITE_H
#define URT_CRITERION_LITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* cr_assert(x) passes an empty format: that is fine here */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

struct criterion_test_extra_data {
	double timeout;          /* seconds; 0 = the suite's, else 60 */
	void (*init)(void);
	void (*fini)(void);
	int disabled;
	const char *description;
};

void crl_register(const char *suite, const char *name, void (*fn)(void),
		  const struct criterion_test_extra_data *opts);
void crl_register_suite(const char *suite, const struct criterion_test_extra_data *opts);
void crl_fail(const char *file, int line, int fatal, const char *expr, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define CRL_ID(a, b) crl_##a##_##b

#define Test(suite, name, ...)                                                              \
	static void CRL_ID(suite, name)(void);                                              \
	static const struct criterion_test_extra_data CRL_ID(suite, name##_opts) = {__VA_ARGS__}; \
	__attribute__((constructor)) static void CRL_ID(suite, name##_reg)(void)            \
	{                                                                                   \
		crl_register(#suite, #name, CRL_ID(suite, name), &CRL_ID(suite, name##_opts)); \
	}                                                                                   \
	static void CRL_ID(suite, name)(void)

#define TestSuite(suite, ...)                                                           \
	static const struct criterion_test_extra_data CRL_ID(suite, suite_opts) = {__VA_ARGS__}; \
	__attribute__((constructor)) static void CRL_ID(suite, suite_reg)(void)         \
	{                                                                               \
		crl_register_suite(#suite, &CRL_ID(suite, suite_opts));                 \
	}

#define CRL_CHECK(fatal, cond, expr, ...)                                          \
	do {                                                                       \
		if (!(cond))                                                       \
			crl_fail(__FILE__, __LINE__, fatal, expr, "" __VA_ARGS__); \
	} while (0)

#define CRL_CMP(fatal, a, op, b, ...) CRL_CHECK(fatal, (a) op (b), #a " " #op " " #b, __VA_ARGS__)
#define CRL_STR(fatal, a, op, b, ...) \
	CRL_CHECK(fatal, strcmp((a), (b)) op 0, "strcmp(" #a ", " #b ") " #op " 0", __VA_ARGS__)

#define cr_assert(c, ...) CRL_CHECK(1, c, #c, __VA_ARGS__)
#define cr_expect(c, ...) CRL_CHECK(0, c, #c, __VA_ARGS__)
#define cr_assert_not(c, ...) CRL_CHECK(1, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_expect_not(c, ...) CRL_CHECK(0, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_fail(...) CRL_CHECK(1, 0, "cr_assert_fail", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) CRL_CMP(1, a, ==, b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) CRL_CMP(0, a, ==, b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) CRL_CMP(1, a, !=, b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) CRL_CMP(0, a, !=, b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) CRL_CMP(1, a, <, b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) CRL_CMP(0, a, <, b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) CRL_CMP(1, a, <=, b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) CRL_CMP(0, a, <=, b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) CRL_CMP(1, a, >, b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) CRL_CMP(0, a, >, b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) CRL_CMP(1, a, >=, b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) CRL_CMP(0, a, >=, b, __VA_ARGS__)
#define cr_assert_null(p, ...) CRL_CHECK(1, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_expect_null(p, ...) CRL_CHECK(0, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) CRL_CHECK(1, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...) CRL_CHECK(0, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) CRL_STR(1, a, ==, b, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) CRL_STR(0, a, ==, b, __VA_ARGS__)
#define cr_expect_str_neq(a, b, ...) CRL_STR(0, a, !=, b, __VA_ARGS__)
#define cr_expect_str_empty(a, ...) CRL_CHECK(0, (a)[0] == 0, #a " is empty", __VA_ARGS__)
#define cr_log_warn(...) (fprintf(stderr, "[WARN] " __VA_ARGS__), fputc('\n', stderr))
#define cr_log_info(...) (fprintf(stderr, "[INFO] " __VA_ARGS__), fputc('\n', stderr))
#define cr_skip_test(...) crl_skip("" __VA_ARGS__)
void crl_skip(const char *fmt, ...) __attribute__((noreturn));

#endif
