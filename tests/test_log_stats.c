/* log: the "log" section of urt_stats_dump_json (registered while a logger
 * is open) carries the same counters as urt_log_stats_get. URT_TEST_THREADS:
 * the section is read on the test thread while the writer updates them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "stats_provider.h"
#include "urt_log.h"
#include "urt_stats.h"

static char dir[128], log_path[256], json_path[256];

static void setup(void)
{
	urt_test_tmpdir(dir, sizeof dir);
	snprintf(log_path, sizeof log_path, "%s/s.log", dir);
	snprintf(json_path, sizeof json_path, "%s/s.json", dir);
}

static void teardown(void)
{
	urt_log_close();
	urt_test_rmtree(dir);
}

static void *dump_body(void *arg)
{
	(void)arg;
	int fd = open(json_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_expect_gt(urt_stats_dump_json(NULL, fd), 0);
	close(fd);
	return NULL;
}

/* Dump the stats line; the "log" section's five counters into v (returns
 * true) or false when there is no such section. */
static bool dump_log_section(unsigned long long v[5])
{
	urt_test_run(dump_body, NULL);
	FILE *f = fopen(json_path, "r");
	cr_assert_not_null(f);
	char line[8192];
	cr_assert_not_null(fgets(line, sizeof line, f));
	fclose(f);
	const char *s = strstr(line, "\"log\":");
	if (!s)
		return false;
	int n = sscanf(s, "\"log\":{\"produced\":%llu,\"written\":%llu,\"dropped\":%llu,"
			  "\"bytes\":%llu,\"sink_errors\":%llu}",
		       &v[0], &v[1], &v[2], &v[3], &v[4]);
	cr_assert_eq(n, 5, "log section malformed: %s", s);
	return true;
}

static urt_log_config file_cfg(void)
{
	urt_log_config c = {0};
	c.sink = URT_LOG_SINK_FILE;
	c.path = log_path;
	c.no_crash_flush = 1;
	return c;
}

Test(log_stats, section_counts_records, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg();
	cr_assert_eq(urt_log_open(&c), 0);
	for (int i = 0; i < 100; i++)
		URT_LOG_INFO("record %d", i);
	URT_LOG_DEBUG("below the level: not produced");
	cr_assert_eq(urt_log_flush(), 0);
	unsigned long long v[5];
	cr_assert(dump_log_section(v), "no log section while the logger is open");
	cr_expect_eq(v[0], 100);
	cr_expect_eq(v[1], 100);
	cr_expect_eq(v[2], 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_expect_eq(v[3], st.bytes);
	cr_expect_gt(v[3], 100 * strlen("record 0"));
	cr_expect_eq(v[4], 0);
	cr_assert_eq(urt_log_close(), 0);
	cr_expect_not(dump_log_section(v), "log section left after close");
	/* a second logger registers again */
	cr_assert_eq(urt_log_open(&c), 0);
	URT_LOG_WARN("one");
	cr_assert_eq(urt_log_flush(), 0);
	cr_assert(dump_log_section(v));
	cr_expect_eq(v[0], 1);
	cr_expect_eq(v[1], 1);
}

Test(log_stats, section_counts_drops, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg();
	c.policy = URT_LOG_DROP;
	c.buffer_size = 16 << 10;
	cr_assert_eq(urt_log_open(&c), 0);
	enum { N = 20000 };
	for (int i = 0; i < N; i++)
		URT_LOG_INFO("record %d of a burst that overruns a small ring", i);
	cr_assert_eq(urt_log_flush(), 0);
	unsigned long long v[5];
	cr_assert(dump_log_section(v));
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_expect_eq(v[0], N);
	cr_expect_eq(v[1] + v[2], N, "written %llu dropped %llu", v[1], v[2]);
	cr_expect_eq(v[2], st.dropped);
	cr_expect_eq(v[1], st.written);
}

Test(log_stats, section_counts_sink_errors, .init = setup, .fini = teardown)
{
	int fd = open("/dev/full", O_WRONLY);
	cr_assert_geq(fd, 0);
	urt_log_config c = {0};
	c.sink = URT_LOG_SINK_FD;
	c.fd = fd;
	c.no_crash_flush = 1;
	cr_assert_eq(urt_log_open(&c), 0);
	close(fd);
	URT_LOG_ERROR("cannot be written");
	cr_assert_eq(urt_log_flush(), 0);
	unsigned long long v[5];
	cr_assert(dump_log_section(v));
	cr_expect_eq(v[0], 1);
	cr_expect_eq(v[1], 0, "nothing can be written to /dev/full");
	cr_expect_eq(v[3], 0);
	cr_expect_gt(v[4], 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_expect_eq(v[4], st.sink_errors);
}

static int other_section(FILE *f, void *arg)
{
	(void)arg;
	fputs("{\"other\":1}", f);
	return 0;
}

Test(log_stats, name_taken_open_still_works, .init = setup, .fini = teardown)
{
	cr_assert_eq(urt__stats_provider_register("log", other_section, NULL), 0);
	urt_log_config c = file_cfg();
	cr_expect_eq(urt_log_open(&c), 0, "stats are optional");
	URT_LOG_INFO("x");
	cr_expect_eq(urt_log_flush(), 0);
	cr_expect_eq(urt_log_close(), 0);
	/* the logger did not own the name: close left the other section */
	cr_expect_eq(urt__stats_provider_unregister("log"), 0);
}

Test(log_stats, no_section_without_logger, .init = setup, .fini = teardown)
{
	unsigned long long v[5];
	cr_expect_eq(urt_log_close(), -ENOENT);
	cr_expect_not(dump_log_section(v));
}

/* Many 256 KiB batches in one pass (a 4 MiB ring filled before the writer
 * catches up): each batch is written while the next is formatted; every
 * line arrives once, in order, and bytes equals the file size. */
Test(log_stats, overlapped_batches_exact, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg();
	c.buffer_size = 4 << 20;
	cr_assert_eq(urt_log_open(&c), 0);
	enum { N = 60000 };
	for (int i = 0; i < N; i++)
		URT_LOG_INFO("line %d padding padding padding padding", i);
	cr_assert_eq(urt_log_flush(), 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_expect_eq(st.written, N);
	FILE *f = fopen(log_path, "r");
	cr_assert_not_null(f);
	char line[512];
	int next = 0;
	long size = 0;
	while (fgets(line, sizeof line, f)) {
		size += (long)strlen(line);
		int k;
		const char *m = strstr(line, "line ");
		cr_assert(m && sscanf(m, "line %d", &k) == 1, "bad line: %s", line);
		cr_assert_eq(k, next, "line %d where %d was due", k, next);
		next++;
	}
	fclose(f);
	cr_expect_eq(next, N);
	cr_expect_eq((uint64_t)size, st.bytes);
}
