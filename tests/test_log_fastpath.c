/* log: the fast path of a log call (cached site, 8-byte scalar arguments,
 * no fields) and the general path give the same records, in order, across
 * ring wraps; a log call leaves errno as it was on either path (the fast
 * path never saves it; the rare paths that may change it restore it); the
 * writer thread runs on the CPUs of cfg.writer_cpus. URT_TEST_THREADS */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"
#include "urt_log.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	urt_test_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/out.log", dir);
}

static void teardown(void)
{
	urt_log_close();
	urt_test_rmtree(dir);
}

static urt_log_config cfg(size_t ring, enum urt_log_policy policy)
{
	urt_log_config c = {0};
	c.sink = URT_LOG_SINK_FILE;
	c.path = path;
	c.buffer_size = ring;
	c.policy = policy;
	c.no_crash_flush = 1;
	return c;
}

/* Each record line's message (the text after "tid:N "). */
static char **messages(size_t *n)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	size_t cap = 1024, k = 0;
	char **v = malloc(cap * sizeof *v);
	char line[512];
	while (fgets(line, sizeof line, f)) {
		if (strstr(line, " records dropped (tid:"))
			continue; /* the drop policy's report lines */
		char *m = strstr(line, " tid:");
		cr_assert_not_null(m, "line without tid: %s", line);
		m = strchr(m + 1, ' ');
		cr_assert_not_null(m);
		m[strcspn(m, "\n")] = 0;
		if (k == cap)
			v = realloc(v, (cap *= 2) * sizeof *v);
		v[k++] = strdup(m + 1);
	}
	fclose(f);
	*n = k;
	return v;
}

/* Record i's expected message; fast and general sites alternate. */
static void expect_msg(char *buf, size_t len, int i)
{
	long long big = (long long)i * 1000003LL - 5000000000LL;
	switch (i % 4) {
	case 0: snprintf(buf, len, "fast %d %ld %lld %u %x %.3f %c", -i, (long)i * 7, big, (unsigned)i, i, i * 0.5, 'a' + i % 26); break;
	case 1: snprintf(buf, len, "str %s %d", i % 3 ? "abc" : "", i); break;
	case 2: snprintf(buf, len, "fast2 %d %g", i, -i * 0.25); break;
	default: snprintf(buf, len, "ld %.1Lf %d", (long double)i, i); break;
	}
}

static void log_one(int i)
{
	long long big = (long long)i * 1000003LL - 5000000000LL;
	switch (i % 4) {
	case 0: URT_LOG_INFO("fast %d %ld %lld %u %x %.3f %c", -i, (long)i * 7, big, (unsigned)i, i, i * 0.5, 'a' + i % 26); break;
	case 1: URT_LOG_INFO("str %s %d", i % 3 ? "abc" : "", i); break;
	case 2: URT_LOG_INFO("fast2 %d %g", i, -i * 0.25); break;
	default: URT_LOG_INFO("ld %.1Lf %d", (long double)i, i); break;
	}
}

TestSuite(log_fastpath, .init = setup, .fini = teardown, .timeout = 120);

/* Fast and general records interleaved through a 16 KiB ring (many wraps,
 * the producer waiting for room): every record exactly once, in order,
 * formatted as printf would. */
Test(log_fastpath, mixed_sites_in_order_across_wraps)
{
	urt_log_config c = cfg(16 << 10, URT_LOG_BLOCK);
	cr_assert_eq(urt_log_open(&c), 0);
	enum { N = 20000 };
	for (int i = 0; i < N; i++)
		log_one(i);
	cr_assert_eq(urt_log_flush(), 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_assert_eq(st.produced, N);
	cr_assert_eq(st.written, N);
	cr_assert_eq(urt_log_close(), 0);
	size_t n;
	char **m = messages(&n);
	cr_assert_eq(n, N);
	char want[256];
	for (int i = 0; i < N; i++) {
		expect_msg(want, sizeof want, i);
		cr_assert_str_eq(m[i], want, "record %d", i);
		free(m[i]);
	}
	free(m);
}

struct errno_run { int bad; int first_bad; };

/* errno before and after every call, on a thread of its own (its first
 * record registers a ring), through both paths, half-full wake-ups of the
 * writer and drops of a full ring. */
static void *errno_thread(void *arg)
{
	struct errno_run *run = arg;
	for (int i = 0; i < 5000; i++) {
		int e = 1 + i % 120;
		errno = e;
		log_one(i);
		if (errno != e && run->bad++ == 0)
			run->first_bad = i;
	}
	urt_log_flush(); /* room for the next record, also with the drop policy */
	errno = ENOENT;
	URT_LOG_INFO("m %m");
	if (errno != ENOENT)
		run->bad++;
	return NULL;
}

static void errno_kept(enum urt_log_policy policy)
{
	urt_log_config c = cfg(16 << 10, policy);
	cr_assert_eq(urt_log_open(&c), 0);
	struct errno_run run = {0, -1};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, errno_thread, &run), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(run.bad, 0, "errno changed by %d calls, first at %d", run.bad, run.first_bad);
	cr_assert_eq(urt_log_close(), 0);
	size_t n;
	char **m = messages(&n);
	char want[128];
	snprintf(want, sizeof want, "m %s", strerror(ENOENT));
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		found |= strcmp(m[i], want) == 0;
		free(m[i]);
	}
	free(m);
	cr_assert(found, "%%m line missing");
}

/* drop: a full ring drops; block: the thread sleeps on a futex for room */
Test(log_fastpath, errno_is_kept_drop) { errno_kept(URT_LOG_DROP); }
Test(log_fastpath, errno_is_kept_block) { errno_kept(URT_LOG_BLOCK); }

/* The writer is the logger's only thread: with writer_cpus it runs on
 * exactly those CPUs. */
Test(log_fastpath, writer_cpus_pin_the_writer)
{
	cpu_set_t mine;
	cr_assert_eq(sched_getaffinity(0, sizeof mine, &mine), 0);
	int cpu = -1;
	for (int i = 0; i < 64 && cpu < 0; i++)
		if (CPU_ISSET(i, &mine))
			cpu = i;
	cr_assert_geq(cpu, 0);
	if (CPU_COUNT(&mine) < 2) /* every thread would be on that CPU anyway */
		cr_skip_test("needs two usable CPUs");
	urt_log_config c = cfg(0, URT_LOG_BLOCK);
	c.writer_cpus = 1ull << cpu;
	cr_assert_eq(urt_log_open(&c), 0);
	pid_t me = (pid_t)syscall(SYS_gettid);
	DIR *d = opendir("/proc/self/task");
	cr_assert_not_null(d);
	int others = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		pid_t t = (pid_t)atoi(e->d_name);
		if (t <= 0 || t == me)
			continue;
		cpu_set_t s;
		if (sched_getaffinity(t, sizeof s, &s) != 0)
			continue; /* a thread (of criterion's) that exited meanwhile */
		if (CPU_COUNT(&s) == 1 && CPU_ISSET(cpu, &s))
			others++;
	}
	closedir(d);
	cr_assert_geq(others, 1, "no thread pinned to CPU %d", cpu);
	URT_LOG_INFO("pinned %d", cpu);
	cr_assert_eq(urt_log_close(), 0);
	size_t n;
	char **m = messages(&n);
	cr_assert_eq(n, 1);
	free(m[0]);
	free(m);
}

Test(log_fastpath, writer_cpus_without_a_usable_cpu)
{
	if (sysconf(_SC_NPROCESSORS_CONF) >= 64) /* CPU 63 would exist */
		cr_skip_test("needs a CPU number that does not exist");
	urt_log_config c = cfg(0, URT_LOG_BLOCK);
	c.writer_cpus = 1ull << 63;
	cr_assert_eq(urt_log_open(&c), -EINVAL);
	c.writer_cpus = 0;
	cr_assert_eq(urt_log_open(&c), 0); /* nothing was left open */
}
