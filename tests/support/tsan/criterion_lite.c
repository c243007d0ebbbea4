/* Runner for the Criterion stand-in (see criterion/criterion.h): forks a
 * child per test, enforces the timeout, prints Criterion-style results and
 * exits non-zero if any test failed. */
#include "criterion/criterion.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define CRL_MAX 512

static struct crl_test {
	const char *suite, *name;
	void (*fn)(void);
	const struct criterion_test_extra_data *opts;
} tests[CRL_MAX];
static int ntests;

static struct crl_suite {
	const char *name;
	const struct criterion_test_extra_data *opts;
} suites[64];
static int nsuites;

static int failed_expect; /* in the child */

void crl_register(const char *suite, const char *name, void (*fn)(void),
		  const struct criterion_test_extra_data *opts)
{
	if (ntests == CRL_MAX)
		abort();
	tests[ntests++] = (struct crl_test){suite, name, fn, opts};
}

void crl_register_suite(const char *suite, const struct criterion_test_extra_data *opts)
{
	if (nsuites < 64)
		suites[nsuites++] = (struct crl_suite){suite, opts};
}

void crl_fail(const char *file, int line, int fatal, const char *expr, const char *fmt, ...)
{
	fprintf(stderr, "[----] %s:%d: failed: %s", file, line, expr);
	if (fmt[0]) {
		va_list ap;
		va_start(ap, fmt);
		fputs(": ", stderr);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
	}
	fputc('\n', stderr);
	failed_expect = 1;
	if (fatal)
		_exit(1);
}

void crl_skip(const char *fmt, ...)
{
	fprintf(stderr, "[SKIP] %s\n", fmt);
	_exit(77);
}

static const struct criterion_test_extra_data *suite_opts(const char *suite)
{
	for (int i = 0; i < nsuites; i++)
		if (strcmp(suites[i].name, suite) == 0)
			return suites[i].opts;
	return NULL;
}

static void *nothing(void *arg) { return arg; }

static int run_one(const struct crl_test *t)
{
	const struct criterion_test_extra_data *s = suite_opts(t->suite);
	void (*init)(void) = t->opts->init ? t->opts->init : s ? s->init : NULL;
	void (*fini)(void) = t->opts->fini ? t->opts->fini : s ? s->fini : NULL;
	double timeout = t->opts->timeout ? t->opts->timeout : s && s->timeout ? s->timeout : 60;
	timeout *= 10; /* TSan runs code 5-15x slower */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		/* TSan starts a background thread at the first pthread_create:
		 * start it now, so tests that count threads see a steady base */
		pthread_t warm;
		if (pthread_create(&warm, NULL, nothing, NULL) == 0)
			pthread_join(warm, NULL);
		alarm((unsigned)timeout + 1);
		if (init)
			init();
		t->fn();
		if (fini)
			fini();
		fflush(NULL);
		_exit(failed_expect);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		return 2;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		fprintf(stderr, "[----] %s::%s: %s\n", t->suite, t->name,
			WTERMSIG(st) == SIGALRM ? "timed out" : strsignal(WTERMSIG(st)));
	return 1;
}

int main(void)
{
	int pass = 0, fail = 0, skip = 0;
	for (int i = 0; i < ntests; i++) {
		const struct crl_test *t = &tests[i];
		const struct criterion_test_extra_data *s = suite_opts(t->suite);
		if (t->opts->disabled || (s && s->disabled)) {
			skip++;
			continue;
		}
		int r = run_one(t);
		fprintf(stderr, "[%s] %s::%s\n", r == 0 ? "PASS" : r == 2 ? "SKIP" : "FAIL", t->suite, t->name);
		pass += r == 0, fail += r == 1, skip += r == 2;
	}
	fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0 \n",
		pass + fail, pass, fail);
	return fail ? 1 : 0;
}
