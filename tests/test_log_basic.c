/* log: the default logger from plain threads: bad input, text and JSON
 * formats, escaping, levels, rotation, block/drop accounting, failing
 * sinks, crash flush and fork. URT_TEST_THREADS */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include "check.h"
#include "urt_log.h"

/* ---- helpers ------------------------------------------------------------ */

static char dir[64];

static void setup(void)
{
	urt_test_tmpdir(dir, sizeof dir);
}

static void teardown(void)
{
	urt_log_close();
	urt_test_rmtree(dir);
}

static char *path_in(const char *name)
{
	static char p[4][128];
	static int i;
	char *s = p[i++ & 3];
	snprintf(s, 128, "%s/%s", dir, name);
	return s;
}

/* The file's contents (NUL-terminated, caller frees) and its line count. */
static char *slurp(const char *path, size_t *lines)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = 0;
	fclose(f);
	if (lines) {
		*lines = 0;
		for (long i = 0; i < n; i++)
			*lines += s[i] == '\n';
	}
	return s;
}

static urt_log_config file_cfg(const char *path)
{
	urt_log_config c = {0};
	c.sink = URT_LOG_SINK_FILE;
	c.path = path;
	c.no_crash_flush = 1;
	return c;
}

/* A tiny JSON validator: returns the end of one value, or NULL. */
static const char *jv(const char *p);
static const char *ws(const char *p) { while (*p == ' ' || *p == '\t' || *p == '\r') p++; return p; }
static const char *jstr(const char *p)
{
	if (*p++ != '"') return NULL;
	for (;;) {
		unsigned char c = (unsigned char)*p;
		if (c == '"') return p + 1;
		if (c < 0x20) return NULL;
		if (c == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i]) return NULL;
				p += 5;
				continue;
			}
			if (!*p || !strchr("\"\\/bfnrt", *p)) return NULL;
		}
		p++;
	}
}
static const char *jnum(const char *p)
{
	if (*p == '-') p++;
	if (*p == '0') p++;
	else if (*p >= '1' && *p <= '9') while (*p >= '0' && *p <= '9') p++;
	else return NULL;
	if (*p == '.') { p++; if (!(*p >= '0' && *p <= '9')) return NULL; while (*p >= '0' && *p <= '9') p++; }
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-') p++;
		if (!(*p >= '0' && *p <= '9')) return NULL;
		while (*p >= '0' && *p <= '9') p++;
	}
	return p;
}
static const char *jv(const char *p)
{
	p = ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		bool obj = *p == '{';
		p = ws(p + 1);
		if (*p == close) return p + 1;
		for (;;) {
			if (obj) {
				p = jstr(ws(p));
				if (!p) return NULL;
				p = ws(p);
				if (*p++ != ':') return NULL;
			}
			p = jv(p);
			if (!p) return NULL;
			p = ws(p);
			if (*p == close) return p + 1;
			if (*p++ != ',') return NULL;
		}
	}
	if (*p == '"') return jstr(p);
	if (!strncmp(p, "true", 4)) return p + 4;
	if (!strncmp(p, "false", 5)) return p + 5;
	if (!strncmp(p, "null", 4)) return p + 4;
	return jnum(p);
}
static bool json_line_ok(const char *line, size_t n)
{
	char *s = strndup(line, n);
	const char *e = jv(s);
	bool ok = e && *ws(e) == 0 && line[0] == '{';
	free(s);
	return ok;
}

/* ---- bad input ------------------------------------------------------------ */

Test(log, bad_input, .init = setup, .fini = teardown)
{
	urt_log_stats st;
	cr_expect_eq(urt_log_open(NULL), -EINVAL);
	urt_log_config c = {0};
	c.sink = URT_LOG_SINK_FILE;
	cr_expect_eq(urt_log_open(&c), -EINVAL, "FILE without a path");
	c.sink = URT_LOG_SINK_FD;
	c.fd = -1;
	cr_expect_eq(urt_log_open(&c), -EINVAL, "FD sink with fd -1");
	c.fd = 999;
	cr_expect_eq(urt_log_open(&c), -EBADF, "FD sink with a closed fd");
	c = file_cfg("/nonexistent-dir/x.log");
	cr_expect_eq(urt_log_open(&c), -ENOENT);
	c = file_cfg(dir); /* a directory */
	cr_expect_eq(urt_log_open(&c), -EISDIR);
	c = file_cfg(path_in("a.log"));
	c.level = 42;
	cr_expect_eq(urt_log_open(&c), -EINVAL);
	c.level = 0;
	c.format = 7;
	cr_expect_eq(urt_log_open(&c), -EINVAL);
	c.format = 0;
	c.buffer_size = (1u << 30) + 1;
	cr_expect_eq(urt_log_open(&c), -EINVAL, "buffer_size above 1 GiB");
	c.buffer_size = 0;
	c.rotate_count = 1001;
	cr_expect_eq(urt_log_open(&c), -EINVAL, "rotate_count above 1000");
	c.rotate_count = 0;
	cr_expect_eq(urt_log_close(), -ENOENT);
	cr_expect_eq(urt_log_flush(), -ENOENT);
	cr_expect_eq(urt_log_stats_get(&st), -ENOENT);
	cr_expect_eq(urt_log_stats_get(NULL), -EINVAL);
	cr_expect_eq(urt_log_set_level(0), -EINVAL);
	cr_expect_eq(urt_log_set_level(URT_LOG_LVL_OFF + 1), -EINVAL);
	cr_expect_eq(urt_log_get_level(), URT_LOG_LVL_OFF, "nothing logs without a logger");
	URT_LOG_ERROR("nobody hears %d", 1); /* must be harmless */
	c = file_cfg(path_in("a.log"));
	cr_assert_eq(urt_log_open(&c), 0);
	cr_expect_eq(urt_log_open(&c), -EALREADY);
	struct stat sb;
	cr_assert_eq(stat(path_in("a.log"), &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0640 & ~(mode_t)0, "mode 0640 (umask permitting)");
	cr_expect_eq(urt_log_close(), 0);
	cr_expect_eq(urt_log_close(), -ENOENT);
}

/* ---- text format, levels, conversions ------------------------------------- */

static const char *volatile null_str;

Test(log, text_format_and_levels, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("t.log"));
	cr_assert_eq(urt_log_open(&c), 0);
	cr_expect_eq(urt_log_get_level(), URT_LOG_LVL_INFO);
	URT_LOG_DEBUG("hidden %d", 1);
	URT_LOG_INFO("request %d took %.3f ms", 7, 1.5);
	URT_LOG_WARN_KV(URT_FIELDS(URT_KV("user", "bob smith"), URT_KV("n", 42), URT_KV("ms", 2.5)),
			"login");
	cr_expect_eq(urt_log_set_level(URT_LOG_LVL_DEBUG), URT_LOG_LVL_INFO);
	URT_LOG_DEBUG("shown %d", 2);
	cr_expect_eq(urt_log_set_level(URT_LOG_LVL_ERROR), URT_LOG_LVL_DEBUG);
	URT_LOG_WARN("hidden %d", 3);
	errno = ENOENT;
	URT_LOG_ERROR("conv [%5d|%-3s|%x|%lu|%lld|%.2f|%c|%%|%*d|%s|%hhd|%zu|%Lg|%m]", 42, "ab", 255,
		      123456789012ul, -5ll, 3.14159, 'z', 4, 7, null_str, 300, (size_t)9, 2.5L);
	cr_assert_eq(urt_log_flush(), 0);
	size_t lines;
	char *s = slurp(path_in("t.log"), &lines);
	cr_expect_eq(lines, 4, "got:\n%s", s);
	char *l1 = strtok(s, "\n"), *l2 = strtok(NULL, "\n"), *l3 = strtok(NULL, "\n"), *l4 = strtok(NULL, "\n");
	cr_assert(l1 && l2 && l3 && l4);
	int y, mo, d, h, mi, se, us;
	char tail[256];
	cr_expect_eq(sscanf(l1, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ %255[^\n]", &y, &mo, &d, &h, &mi, &se, &us, tail), 8, "%s", l1);
	cr_expect(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31);
	char expect[64];
	snprintf(expect, sizeof expect, "INFO -/- tid:%d request 7 took 1.500 ms", (int)gettid());
	cr_expect_str_eq(tail, expect);
	cr_expect_not_null(strstr(l2, " WARN -/- tid:"), "%s", l2);
	cr_expect_not_null(strstr(l2, " user=\"bob smith\" n=42 ms=2.5 login"), "%s", l2);
	cr_expect_not_null(strstr(l3, " DEBUG -/- tid:"), "%s", l3);
	cr_expect_not_null(strstr(l3, "shown 2"), "%s", l3);
	char want[256];
	snprintf(want, sizeof want, "conv [%5d|%-3s|%x|%lu|%lld|%.2f|%c|%%|%*d|%s|%hhd|%zu|%Lg|%s]", 42, "ab", 255,
		 123456789012ul, -5ll, 3.14159, 'z', 4, 7, "(null)", (signed char)300, (size_t)9, 2.5L, strerror(ENOENT));
	cr_expect_not_null(strstr(l4, want), "%s\nwant %s", l4, want);
	free(s);
	cr_expect_eq(urt_log_close(), 0);
}

/* Integer conversions with only a length modifier are printed without
 * snprintf: each must truncate, sign-extend and print as printf does. */
Test(log, plain_integer_conversions_match_printf, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("i.log"));
	cr_assert_eq(urt_log_open(&c), 0);
#define INT_CASES(X) \
	X("[%d|%i|%u|%x|%X]", INT_MIN, -1, -1, -1, 0xabcdef) \
	X("[%d|%u|%x]", INT_MAX, 4294967295u, 0u) \
	X("[%hd|%hu|%hx|%hi]", 70000, -1, 70000, -32768) \
	X("[%hhd|%hhu|%hhx|%hhi]", 200, 300, -1, 127) \
	X("[%ld|%lu|%lx|%lX]", LONG_MIN, ULONG_MAX, -1l, 0x1234abcdl) \
	X("[%lld|%llu|%llx]", LLONG_MIN, ULLONG_MAX, 0ll) \
	X("[%zu|%zd|%jd|%ju|%td]", SIZE_MAX, (ssize_t)-7, INTMAX_MIN, UINTMAX_MAX, (ptrdiff_t)-3)
#define LOG_CASE(f, ...) URT_LOG_INFO(f, __VA_ARGS__);
	INT_CASES(LOG_CASE)
	URT_LOG_INFO_KV(URT_FIELDS(URT_KV("a", -5), URT_KV("b", (long long)INT64_MIN),
				   URT_KV("c", 0), URT_KV("d", (long long)INT64_MAX)), "fields");
	cr_assert_eq(urt_log_flush(), 0);
	size_t lines;
	char *s = slurp(path_in("i.log"), &lines);
	cr_assert_eq(lines, 8, "got:\n%s", s);
	cr_expect(strstr(s, " a=-5 b=-9223372036854775808 c=0 d=9223372036854775807 fields\n"),
		  "%s", s);
	char *line = strtok(s, "\n");
	char want[256];
#define CHECK_CASE(f, ...) \
	snprintf(want, sizeof want, f, __VA_ARGS__); \
	cr_expect(line && strstr(line, want), "%s\nwant %s", line, want); \
	line = strtok(NULL, "\n");
	INT_CASES(CHECK_CASE)
	free(s);
	cr_expect_eq(urt_log_close(), 0);
}

/* ---- escaping and JSON --------------------------------------------------- */

Test(log, text_escaping, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("e.log"));
	cr_assert_eq(urt_log_open(&c), 0);
	URT_LOG_INFO_KV(URT_FIELDS(URT_KV("k", "a\"b\nc")), "x%sy", "1\n2\t3\r4\\5\0016\x7f");
	cr_assert_eq(urt_log_close(), 0);
	size_t lines;
	char *s = slurp(path_in("e.log"), &lines);
	cr_expect_eq(lines, 1, "one record is one line:\n%s", s);
	cr_expect_not_null(strstr(s, "k=\"a\\\"b\\nc\" x1\\n2\\t3\\r4\\\\5\\x016\\x7fy\n"), "%s", s);
	free(s);
}

Test(log, json_always_valid, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("j.log"));
	c.format = URT_LOG_FMT_JSON;
	cr_assert_eq(urt_log_open(&c), 0);
	const char *nasty[] = {"plain", "quote\" back\\slash", "ctl\x01\x02\x1f\n\r\t", "bad utf8 \xff\xfe \xc3",
			       "overlong \xc0\xaf surrogate \xed\xa0\x80", "ok utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
			       "", "trunc \xe2\x82"};
	for (unsigned i = 0; i < sizeof nasty / sizeof nasty[0]; i++)
		URT_LOG_WARN_KV(URT_FIELDS(URT_KV(nasty[i], nasty[i]), URT_KV("nan", NAN), URT_KV("inf", INFINITY),
					   URT_KV("i", -3), URT_KV("d", 1e300)),
				"msg %s %d %g", nasty[i], (int)i, 0.5);
	URT_LOG_INFO("%s", "no fields");
	cr_assert_eq(urt_log_close(), 0);
	size_t lines;
	char *s = slurp(path_in("j.log"), &lines);
	cr_expect_eq(lines, sizeof nasty / sizeof nasty[0] + 1);
	for (char *l = s, *e; (e = strchr(l, '\n')); l = e + 1)
		cr_expect(json_line_ok(l, (size_t)(e - l)), "invalid JSON: %.*s", (int)(e - l), l);
	cr_expect_not_null(strstr(s, "\"msg\":\"msg quote\\\" back\\\\slash 1 0.5\""), "%s", s);
	cr_expect_not_null(strstr(s, "\"nan\":null"));
	cr_expect_not_null(strstr(s, "\"level\":\"WARN\""));
	cr_expect_not_null(strstr(s, "\"src\":\""));
	cr_expect_not_null(strstr(s, "ok utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "valid UTF-8 kept");
	free(s);
	/* the validator itself rejects broken lines */
	cr_expect_not(json_line_ok("{\"a\":\"\x01\"}", 8));
	cr_expect_not(json_line_ok("{\"a\":1,}", 8));
	cr_expect_not(json_line_ok("{\"a\":nan}", 9));
}

/* ---- rotation --------------------------------------------------------------- */

#define ROTATE_SIZE 4096

/* 1,000 lines into r.log rotated at ROTATE_SIZE bytes, keeping count
 * files; the logger's counters once everything is written (it is closed). */
static urt_log_stats log_rotating(unsigned count)
{
	urt_log_config c = file_cfg(path_in("r.log"));
	c.rotate_size = ROTATE_SIZE;
	c.rotate_count = count;
	cr_assert_eq(urt_log_open(&c), 0);
	for (int i = 0; i < 1000; i++)
		URT_LOG_INFO("rotation line %d padding padding padding", i);
	cr_assert_eq(urt_log_flush(), 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_assert_eq(urt_log_close(), 0);
	return st;
}

Test(log, rotation_keeps_n_files, .init = setup, .fini = teardown)
{
	urt_log_stats st = log_rotating(3);
	cr_expect_geq(st.rotations, 10);
	cr_expect_eq(st.written, 1000);
	struct stat sb;
	const char *names[] = {"r.log", "r.log.1", "r.log.2", "r.log.3"};
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(stat(path_in(names[i]), &sb), 0, "%s", names[i]);
		cr_expect_leq(sb.st_size, ROTATE_SIZE, "%s is %ld bytes", names[i], (long)sb.st_size);
		cr_expect_gt(sb.st_size, 0);
	}
	cr_expect_neq(stat(path_in("r.log.4"), &sb), 0, "only 3 rotated files kept");
	/* the newest lines are in r.log, each file holds whole lines in order */
	size_t n;
	char *s = slurp(path_in("r.log"), &n);
	cr_expect_not_null(strstr(s, "rotation line 999 "));
	free(s);
	s = slurp(path_in("r.log.1"), &n);
	cr_expect_eq(s[strlen(s) - 1], '\n');
	free(s);
}

/* ---- block and drop accounting from plain threads ------------------------ */

struct prod { int id, n; };

static void *producer(void *arg)
{
	struct prod *p = arg;
	for (int i = 0; i < p->n; i++)
		URT_LOG_INFO("p=%d s=%d", p->id, i);
	return NULL;
}

static void run_producers(int nthreads, int per)
{
	pthread_t t[8];
	struct prod p[8];
	for (int i = 0; i < nthreads; i++) {
		p[i] = (struct prod){i, per};
		cr_assert_eq(pthread_create(&t[i], NULL, producer, &p[i]), 0);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
}

Test(log, block_plain_threads_lose_nothing, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("b.log"));
	c.buffer_size = 16 << 10;
	cr_assert_eq(urt_log_open(&c), 0);
	enum { T = 4, N = 50000 };
	run_producers(T, N);
	cr_assert_eq(urt_log_flush(), 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_expect_eq(st.produced, T * N);
	cr_expect_eq(st.written, T * N);
	cr_expect_eq(st.dropped, 0);
	cr_assert_eq(urt_log_close(), 0);
	size_t lines;
	char *s = slurp(path_in("b.log"), &lines);
	cr_expect_eq(lines, T * N);
	int next[T] = {0};
	for (char *l = s, *e; (e = strchr(l, '\n')); l = e + 1) {
		*e = 0; /* sscanf would strlen the rest of the file */
		char *m = strstr(l, "p=");
		int id, seq;
		cr_assert(m && sscanf(m, "p=%d s=%d", &id, &seq) == 2 && id >= 0 && id < T, "%.80s", l);
		cr_assert_eq(seq, next[id], "producer %d out of order", id);
		next[id]++;
	}
	free(s);
}

Test(log, drop_mode_counts_every_drop, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("d.log"));
	c.buffer_size = 16 << 10;
	c.policy = URT_LOG_DROP;
	cr_assert_eq(urt_log_open(&c), 0);
	enum { T = 4, N = 50000 };
	run_producers(T, N);
	cr_assert_eq(urt_log_flush(), 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_assert_eq(urt_log_close(), 0);
	cr_expect_eq(st.produced, T * N);
	cr_expect_eq(st.written + st.dropped, st.produced, "written %lu dropped %lu",
		     (unsigned long)st.written, (unsigned long)st.dropped);
	cr_expect_eq(st.failed, 0);
	size_t lines;
	char *s = slurp(path_in("d.log"), &lines);
	uint64_t recs = 0, reported = 0;
	for (char *l = s, *e; (e = strchr(l, '\n')); l = e + 1) {
		*e = 0; /* sscanf would strlen the rest of the file */
		unsigned long long n;
		char *m = strstr(l, " records dropped (tid:");
		if (m && m < e && sscanf(l, "%llu records dropped", &n) == 1)
			reported += n;
		else
			recs++;
	}
	cr_expect_eq(recs, st.written);
	cr_expect_eq(reported, st.dropped);
	free(s);
}

/* Threads that exit hand their rings back; counts survive them. */
Test(log, exited_threads_are_counted, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("x.log"));
	cr_assert_eq(urt_log_open(&c), 0);
	for (int k = 0; k < 5; k++)
		run_producers(2, 100);
	cr_assert_eq(urt_log_flush(), 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_expect_eq(st.produced, 1000);
	cr_expect_eq(st.written, 1000);
	cr_assert_eq(urt_log_close(), 0);
}

/* ---- close while a plain thread waits for room --------------------------- */

/* A plain thread parked for room (block mode) when close starts is let
 * finish: close frees its ring only after it published, and the writer
 * writes that record. A signal handler holds the thread inside its wait,
 * as a descheduled thread would be, until the writer has drained all else
 * (close used to let the writer stop then, and the record was published
 * into a ring nobody drained, and close could free). */

static atomic_int held, release_held;
static void hold_handler(int sig)
{
	(void)sig;
	atomic_store(&held, 1);
	struct timespec ms = {0, 1000000};
	while (!atomic_load(&release_held))
		nanosleep(&ms, NULL);
}

static atomic_int flood_logged, flood_stop, flood_tid;
static void *plain_flooder(void *arg)
{
	(void)arg;
	atomic_store(&flood_tid, urt_test_tid());
	for (int i = 0; !atomic_load(&flood_stop); i++) {
		URT_LOG_INFO("flood %d padding padding padding padding padding padding", i);
		atomic_store(&flood_logged, i + 1);
	}
	return NULL;
}

static atomic_long pipe_lines;
static void *count_pipe_lines(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				atomic_fetch_add(&pipe_lines, 1);
	return NULL;
}

static void *closer(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_log_close();
}

/* Poll cond() every ms for up to ms milliseconds. */
static bool wait_until(bool (*cond)(void), int ms)
{
	for (int i = 0; i < ms && !cond(); i++)
		usleep(1000);
	return cond();
}
static bool is_held(void) { return atomic_load(&held); }
static bool all_but_held_written(void)
{
	return atomic_load(&pipe_lines) == atomic_load(&flood_logged);
}

Test(log, close_lets_thread_waiting_for_room_finish, .init = setup, .fini = teardown,
     .timeout = 60)
{
	int rd = urt_test_log_open_pipe();
	struct sigaction sa = {0}, old;
	sa.sa_handler = hold_handler; /* no SA_RESTART: the futex wait ends */
	cr_assert_eq(sigaction(SIGUSR1, &sa, &old), 0);
	pthread_t fl, cnt, cl;
	cr_assert_eq(pthread_create(&fl, NULL, plain_flooder, NULL), 0);
	/* nobody reads the pipe: the writer stalls, the ring fills, the
	 * flooder sleeps on the room futex */
	while (!atomic_load(&flood_tid))
		usleep(1000);
	int in = urt_test_wait_in_syscall(atomic_load(&flood_tid), SYS_futex, -1, 20000);
	cr_assert_neq(in, 0, "the flooder should wait for room");
	if (in < 0)
		usleep(200000);
	cr_assert_eq(pthread_kill(fl, SIGUSR1), 0);
	cr_assert(wait_until(is_held, 10000), "the handler should hold the flooder");
	cr_assert_eq(pthread_create(&cnt, NULL, count_pipe_lines, (void *)(intptr_t)rd), 0);
	cr_assert_eq(pthread_create(&cl, NULL, closer, NULL), 0);
	cr_expect(wait_until(all_but_held_written, 10000), "%ld of %d lines",
		  atomic_load(&pipe_lines), atomic_load(&flood_logged));
	usleep(100000); /* time for a writer that would stop now to do so */
	atomic_store(&flood_stop, 1);
	atomic_store(&release_held, 1);
	void *rc;
	pthread_join(cl, &rc);
	cr_expect_eq((intptr_t)rc, 0);
	pthread_join(fl, NULL);
	pthread_join(cnt, NULL);
	close(rd);
	sigaction(SIGUSR1, &old, NULL);
	cr_expect_eq(atomic_load(&pipe_lines), atomic_load(&flood_logged),
		     "the call that waited for room during close was written: %ld of %d lines",
		     atomic_load(&pipe_lines), atomic_load(&flood_logged));
}

/* ---- failing sinks ------------------------------------------------------- */

Test(log, sink_enospc_counted_not_blocking, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg("/dev/full");
	cr_assert_eq(urt_log_open(&c), 0);
	for (int i = 0; i < 10; i++)
		URT_LOG_INFO("into the void %d", i);
	cr_assert_eq(urt_log_flush(), 0);
	URT_LOG_INFO("after the failure");
	cr_assert_eq(urt_log_flush(), 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_expect_geq(st.sink_errors, 1);
	cr_expect_eq(st.failed, 11);
	cr_expect_eq(st.written, 0);
	cr_expect_eq(urt_log_close(), 0);
}

Test(log, sink_epipe_counted_no_sigpipe, .init = setup, .fini = teardown)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	close(p[0]);
	urt_log_config c = {0};
	c.sink = URT_LOG_SINK_FD;
	c.fd = p[1];
	c.no_crash_flush = 1;
	cr_assert_eq(urt_log_open(&c), 0);
	close(p[1]); /* the logger has its own copy */
	for (int i = 0; i < 10; i++)
		URT_LOG_INFO("nobody reads %d", i);
	cr_assert_eq(urt_log_flush(), 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_expect_geq(st.sink_errors, 1);
	cr_expect_eq(st.failed, 10);
	cr_expect_eq(urt_log_close(), 0);
}

/* ---- crash flush and fork -------------------------------------------------- */

static int child_status(pid_t pid)
{
	int st = 0;
	for (int i = 0; i < 1000; i++) { /* 10 s: a hang fails the test */
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_assert_fail("child hung");
	return st;
}

Test(log, crash_flush_writes_queued_records, .init = setup, .fini = teardown)
{
	const char *path = path_in("c.log");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		urt_log_config c = file_cfg(path);
		c.no_crash_flush = 0;
		if (urt_log_open(&c) != 0)
			_exit(3);
		for (int i = 0; i < 2000; i++)
			URT_LOG_ERROR("before the crash %d", i);
		abort();
	}
	int st = child_status(pid);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "default action ran: status %#x", st);
	size_t lines;
	char *s = slurp(path, &lines);
	cr_expect_eq(lines, 2000, "queued records flushed on SIGABRT");
	cr_expect_not_null(strstr(s, "before the crash 1999\n"));
	free(s);
}

static void app_handler(int sig) { (void)sig; }

Test(log, crash_flush_keeps_application_handler, .init = setup, .fini = teardown)
{
	struct sigaction sa = {0}, old, cur, ill0;
	sa.sa_handler = app_handler;
	sigaction(SIGBUS, &sa, &old);
	sigaction(SIGILL, NULL, &ill0); /* SIGILL: sanitizers leave it alone */
	cr_assert_eq((void *)ill0.sa_handler, (void *)SIG_DFL);
	urt_log_config c = file_cfg(path_in("h.log"));
	c.no_crash_flush = 0;
	cr_assert_eq(urt_log_open(&c), 0);
	sigaction(SIGBUS, NULL, &cur);
	cr_expect_eq((void *)cur.sa_handler, (void *)app_handler, "the application's handler stays");
	sigaction(SIGILL, NULL, &cur);
	cr_expect((cur.sa_flags & SA_SIGINFO) && (void *)cur.sa_sigaction != (void *)SIG_DFL,
		  "ours on SIGILL");
	cr_assert_eq(urt_log_close(), 0);
	sigaction(SIGILL, NULL, &cur);
	cr_expect_eq((void *)cur.sa_handler, (void *)SIG_DFL, "restored at close");
	sigaction(SIGBUS, &old, NULL);
	/* and off means off */
	c.no_crash_flush = 1;
	cr_assert_eq(urt_log_open(&c), 0);
	sigaction(SIGILL, NULL, &cur);
	cr_expect_eq((void *)cur.sa_handler, (void *)SIG_DFL);
}

Test(log, fork_child_gets_clear_error, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("f.log"));
	cr_assert_eq(urt_log_open(&c), 0);
	URT_LOG_INFO("parent before fork");
	const char *child_path = path_in("child.log");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		URT_LOG_INFO("child through the inherited logger"); /* ignored */
		if (urt_log_get_level() != URT_LOG_LVL_OFF) _exit(10);
		if (urt_log_flush() != -ECHILD) _exit(11);
		if (urt_log_close() != -ECHILD) _exit(12);
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
		/* TSan cannot start threads after a multi-threaded fork, and
		 * GCC 12's ASan allocator keeps its locks over fork: the child's
		 * new writer thread blocked (1 run in 30 under load) on a lock a
		 * parent thread held at the fork. The release build checks the
		 * child's own logger. */
		int fd = open(child_path, O_WRONLY | O_CREAT, 0640);
		if (fd < 0 || write(fd, "child's own logger\n", 19) != 19) _exit(15);
		_exit(0);
#endif
		urt_log_config cc = file_cfg(child_path);
		if (urt_log_open(&cc) != 0) _exit(13);
		URT_LOG_INFO("child's own logger");
		if (urt_log_close() != 0) _exit(14);
		_exit(0);
	}
	int st = child_status(pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	URT_LOG_INFO("parent after fork");
	cr_assert_eq(urt_log_close(), 0);
	size_t lines;
	char *s = slurp(path_in("f.log"), &lines);
	cr_expect_eq(lines, 2, "%s", s);
	cr_expect_null(strstr(s, "child"));
	free(s);
	s = slurp(child_path, &lines);
	cr_expect_eq(lines, 1);
	cr_expect_not_null(strstr(s, "child's own logger"));
	free(s);
}

/* A forked child's close releases the inherited logger and, as any close,
 * the crash flush's handlers: each fatal signal's disposition is back to
 * what it was before the parent's open. */
Test(log, fork_child_close_restores_signal_handlers, .init = setup, .fini = teardown)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
	enum { NS = sizeof sigs / sizeof sigs[0] };
	struct sigaction before[NS], cur;
	for (int i = 0; i < NS; i++)
		sigaction(sigs[i], NULL, &before[i]);
	cr_assert_eq((void *)before[NS - 1].sa_handler, (void *)SIG_DFL); /* sanitizers leave SIGILL */
	urt_log_config c = file_cfg(path_in("k.log"));
	c.no_crash_flush = 0;
	cr_assert_eq(urt_log_open(&c), 0);
	sigaction(SIGILL, NULL, &cur);
	cr_assert((cur.sa_flags & SA_SIGINFO) && (void *)cur.sa_sigaction != (void *)SIG_DFL,
		  "the crash flush is installed on SIGILL");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (urt_log_close() != -ECHILD)
			_exit(1);
		int fail = 0;
		for (int i = 0; i < NS; i++) {
			sigaction(sigs[i], NULL, &cur);
			if ((cur.sa_flags & SA_SIGINFO) != (before[i].sa_flags & SA_SIGINFO) ||
			    (void *)cur.sa_handler != (void *)before[i].sa_handler)
				fail |= 2 << i;
		}
		_exit(fail);
	}
	int st = child_status(pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "child status %#x (bit 1 << (i + 1): signal i not restored)", st);
	cr_assert_eq(urt_log_close(), 0);
	sigaction(SIGILL, NULL, &cur);
	cr_expect_eq((void *)cur.sa_handler, (void *)SIG_DFL, "restored in the parent too");
}

/* A string larger than the ring is cut, not overflowing anything. */
Test(log, huge_string_truncated, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("big.log"));
	c.buffer_size = 16 << 10;
	cr_assert_eq(urt_log_open(&c), 0);
	size_t n = 100000;
	char *big = malloc(n + 1);
	memset(big, 'a', n);
	big[n] = 0;
	URT_LOG_INFO("big [%s] end %d", big, 5);
	URT_LOG_INFO_KV(URT_FIELDS(URT_KV("f", big)), "field %s", big);
	free(big);
	cr_assert_eq(urt_log_close(), 0);
	size_t lines;
	char *s = slurp(path_in("big.log"), &lines);
	cr_expect_eq(lines, 2);
	cr_expect_not_null(strstr(s, "] end 5\n"));
	cr_expect_lt(strlen(s), 16 << 10);
	free(s);
}

/* The writer's own "%f" path prints exactly what printf prints. */
Test(log, float_conversion_matches_printf, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("f6.log"));
	cr_assert_eq(urt_log_open(&c), 0);
	enum { N = 3000 };
	static double v[N];
	srand(7);
	for (int i = 0; i < N; i++) {
		double scale = (i % 3 == 0) ? 1e-7 : (i % 3 == 1) ? 1.0 : 1e5;
		v[i] = ((double)rand() / RAND_MAX - 0.5) * scale * (1 + i % 17);
	}
	v[0] = 0.0; v[1] = -0.0; v[2] = 0.0000005; v[3] = 2.5e-7; v[4] = 999999.9999995; v[5] = -1e-9;
	v[6] = 1e7; v[7] = 0.125; v[8] = 1.0000005;
	for (int i = 0; i < N; i++)
		URT_LOG_INFO("v=%f", v[i]);
	cr_assert_eq(urt_log_close(), 0);
	size_t lines;
	char *s = slurp(path_in("f6.log"), &lines);
	cr_assert_eq(lines, N);
	int i = 0;
	for (char *l = s, *e; (e = strchr(l, '\n')); l = e + 1, i++) {
		*e = 0;
		char want[64];
		snprintf(want, sizeof want, " v=%f", v[i]);
		char *m = strstr(l, " v=");
		cr_expect(m && strcmp(m, want) == 0, "%s vs%s", m ? m : l, want);
	}
	free(s);
}

/* ---- conversions the two sides must agree on ------------------------------ */

/* The call site classifies each conversion's arguments and the writer
 * expands them again: a spec longer than the writer's spec buffer, %C and
 * %S used to make the writer skip (or take) a different number of
 * arguments than the call copied, and the %s after them then read an int
 * as a string's length. */
Test(log, odd_conversions_keep_arguments_in_step, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("o.log"));
	cr_assert_eq(urt_log_open(&c), 0);
	URT_LOG_INFO("[%.000000000000000000000000000000000000000000000001d] then %s", 1 << 30, "x");
	URT_LOG_INFO("[%12.00000000000000000000000000000000000000000000003f] then %s", 2.5, "y");
	URT_LOG_INFO("[%C] then %s", (wint_t)L'x', "n");
	URT_LOG_INFO("[%S] then %s", L"wide", "s");
	URT_LOG_INFO("[%*C] then %d", 3, (wint_t)L'q', 9);
	cr_assert_eq(urt_log_flush(), 0);
	size_t lines;
	char *s = slurp(path_in("o.log"), &lines);
	cr_expect_eq(lines, 5, "got:\n%s", s);
	char want[256];
	snprintf(want, sizeof want, "[%.000000000000000000000000000000000000000000000001d] then %s\n",
		 1 << 30, "x");
	cr_expect_not_null(strstr(s, want), "%s\nwant %s", s, want);
	snprintf(want, sizeof want, "[%12.00000000000000000000000000000000000000000000003f] then %s\n",
		 2.5, "y");
	cr_expect_not_null(strstr(s, want), "%s\nwant %s", s, want);
	snprintf(want, sizeof want, "[%C] then %s\n", (wint_t)L'x', "n");
	cr_expect_not_null(strstr(s, want), "%s\nwant %s", s, want);
	/* %S (= %ls) is not supported: the pointer is skipped, the spec printed */
	cr_expect_not_null(strstr(s, "[%S] then s\n"), "%s", s);
	snprintf(want, sizeof want, "[%*C] then %d\n", 3, (wint_t)L'q', 9);
	cr_expect_not_null(strstr(s, want), "%s\nwant %s", s, want);
	free(s);
}

/* A width or precision above 4096 is taken as 4096 (urt_log.h): padded as
 * printf would, one argument made a line of megabytes, and the writer's
 * buffers stayed that size until close. The precision of %s only cuts: it
 * is kept. */
Test(log, huge_width_and_precision_capped, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("w.log"));
	cr_assert_eq(urt_log_open(&c), 0);
	URT_LOG_INFO("[%*d]", 10000000, 1);
	URT_LOG_INFO("[%*d]", -10000000, 2);
	URT_LOG_INFO("[%.*d]", 10000000, 3);
	URT_LOG_INFO("[%10000000d]", 4);
	URT_LOG_INFO("[%*.*f]", 10000000, 10000000, 0.5);
	URT_LOG_INFO("[%.*s] [%.*s]", 10000000, "kept whole", 4, "cut here");
	cr_assert_eq(urt_log_flush(), 0);
	size_t lines;
	char *s = slurp(path_in("w.log"), &lines);
	cr_expect_eq(lines, 6);
	cr_expect_lt(strlen(s), 6 * (4096 + 200) + 4096, "%zu bytes", strlen(s));
	static char want[3 * 4096];
	snprintf(want, sizeof want, "[%*d]\n", 4096, 1);
	cr_expect_not_null(strstr(s, want), "width 10000000 as 4096");
	snprintf(want, sizeof want, "[%*d]\n", -4096, 2);
	cr_expect_not_null(strstr(s, want), "width -10000000 as -4096");
	snprintf(want, sizeof want, "[%.*d]\n", 4096, 3);
	cr_expect_not_null(strstr(s, want), "precision 10000000 as 4096");
	snprintf(want, sizeof want, "[%4096d]\n", 4);
	cr_expect_not_null(strstr(s, want), "written width 10000000 as 4096");
	snprintf(want, sizeof want, "[%*.*f]\n", 4096, 4096, 0.5);
	cr_expect_not_null(strstr(s, want), "both");
	cr_expect_not_null(strstr(s, "[kept whole] [cut ]\n"));
	free(s);
}

/* %p takes width and flags as printf does; %lc prints the wide character;
 * %ls is not supported (only a pointer would be queued): its spec is
 * printed and its argument skipped. */
Test(log, pointer_and_wide_conversions, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("p.log"));
	cr_assert_eq(urt_log_open(&c), 0);
	URT_LOG_INFO("[%20p] [%-20p]|", (void *)0x1234, (void *)0x5678);
	URT_LOG_INFO("[%*p]", 12, (void *)0x9abc);
	URT_LOG_INFO("[%ls|%lc|%3lc] %d", L"wide", (wint_t)L'y', (wint_t)L'z', 7);
	cr_assert_eq(urt_log_flush(), 0);
	size_t lines;
	char *s = slurp(path_in("p.log"), &lines);
	cr_expect_eq(lines, 3, "got:\n%s", s);
	char want[256];
	snprintf(want, sizeof want, "[%20p] [%-20p]|\n", (void *)0x1234, (void *)0x5678);
	cr_expect_not_null(strstr(s, want), "%s\nwant %s", s, want);
	snprintf(want, sizeof want, "[%*p]\n", 12, (void *)0x9abc);
	cr_expect_not_null(strstr(s, want), "%s\nwant %s", s, want);
	snprintf(want, sizeof want, "[%%ls|%lc|%3lc] %d\n", (wint_t)L'y', (wint_t)L'z', 7);
	cr_expect_not_null(strstr(s, want), "%s\nwant %s", s, want);
	free(s);
}

/* URT_KV picks long double (printed as a double) and unsigned types
 * (printed unsigned, also above INT64_MAX). */
Test(log, kv_long_double_and_unsigned, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("kv.log"));
	cr_assert_eq(urt_log_open(&c), 0);
	long double ld = 1.5L;
	unsigned long big = ULONG_MAX;
	URT_LOG_INFO_KV(URT_FIELDS(URT_KV("ld", ld), URT_KV("big", big), URT_KV("u", 7u),
				   URT_KV("ull", 9223372036854775808ull), URT_KV("neg", -3)), "text");
	cr_assert_eq(urt_log_close(), 0);
	c.format = URT_LOG_FMT_JSON;
	c.path = path_in("kv.json");
	cr_assert_eq(urt_log_open(&c), 0);
	URT_LOG_INFO_KV(URT_FIELDS(URT_KV("ld", ld), URT_KV("big", big), URT_KV("neg", -3)), "json");
	cr_assert_eq(urt_log_close(), 0);
	char *s = slurp(path_in("kv.log"), NULL);
	cr_expect_not_null(strstr(s, " ld=1.5 big=18446744073709551615 u=7 ull=9223372036854775808 neg=-3 text\n"),
			   "%s", s);
	free(s);
	s = slurp(path_in("kv.json"), NULL);
	cr_expect_not_null(strstr(s, "\"fields\":{\"ld\":1.5,\"big\":18446744073709551615,\"neg\":-3}"),
			   "%s", s);
	free(s);
}

/* ---- the clock -------------------------------------------------------------- */

/* CLOCK_REALTIME as the logger sees it: once clock_step_at (CLOCK_MONOTONIC
 * ns) has passed, one hour ahead, as if NTP or settimeofday stepped the
 * wall clock. The test binary links urt statically, so clock.c calls this
 * definition; it is a plain pass-through in every other test. */
static _Atomic int64_t clock_step_at;

static int64_t mono_ns(void)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int r = (int)syscall(SYS_clock_gettime, id, ts);
	int64_t at = atomic_load_explicit(&clock_step_at, memory_order_relaxed);
	if (r == 0 && id == CLOCK_REALTIME && at && mono_ns() >= at)
		ts->tv_sec += 3600;
	return r;
}

/* A wall-clock step changes the time of the records after it (by the step,
 * once) but not the TSC rate: records 10 ms apart stay ~10 ms apart and
 * never go backwards. The rate used to be measured against CLOCK_REALTIME,
 * so after a +1 h step records 10 ms apart came out ~70 s apart. */
Test(log, wall_clock_step_keeps_tsc_rate, .init = setup, .fini = teardown)
{
	urt_log_config c = file_cfg(path_in("clk.log"));
	atomic_store(&clock_step_at, mono_ns() + 300000000);
	cr_assert_eq(urt_log_open(&c), 0);
	enum { N = 70 };
	for (int i = 0; i < N; i++) {
		URT_LOG_INFO("tick %d", i);
		struct timespec d = {0, 10000000};
		nanosleep(&d, NULL);
	}
	cr_assert_eq(urt_log_close(), 0);
	atomic_store(&clock_step_at, 0);
	size_t lines;
	char *s = slurp(path_in("clk.log"), &lines);
	cr_assert_eq(lines, N, "%s", s);
	int64_t prev = 0;
	int steps = 0;
	char *l = s;
	for (int i = 0; i < N; i++) {
		struct tm tm = {0};
		int us;
		cr_assert_eq(sscanf(l, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
				    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us), 7, "%s", l);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		int64_t t = (int64_t)timegm(&tm) * 1000000 + us;
		if (i) {
			int64_t d = t - prev;
			cr_expect_geq(d, 0, "record %d is %lld us before the one before it", i, (long long)d);
			if (d > 1000000) {
				steps++;
				cr_expect(d > 3599000000ll && d < 3601000000ll, "record %d: a jump of %lld us", i,
					  (long long)d);
			}
		}
		prev = t;
		l = strchr(l, '\n') + 1;
	}
	cr_expect_leq(steps, 1, "the wall-clock step shows once");
	free(s);
}

/* ---- sinks that push back --------------------------------------------------- */

static int nb_rd;
static long nb_lines, nb_bad;

static void *slow_reader(void *arg)
{
	FILE *f = fdopen(nb_rd, "r");
	char l[512];
	while (fgets(l, sizeof l, f)) {
		size_t n = strlen(l);
		int k;
		char *m = strstr(l, " record ");
		if (n == 0 || l[n - 1] != '\n' || !m || sscanf(m, " record %d of a slow pipe", &k) != 1 ||
		    memcmp(l + 26, "Z INFO ", 7) != 0)
			nb_bad++;
		if (++nb_lines % 64 == 0)
			usleep(2000);
	}
	fclose(f);
	return arg;
}

/* A non-blocking pipe that is full is not a failing sink: the writer waits
 * until it can write again. Records used to be given up (and partial lines
 * left in the pipe) after three EAGAINs, in block mode too. */
Test(log, nonblocking_sink_waits_not_fails, .init = setup, .fini = teardown)
{
	/* valgrind runs one thread at a time and keeps its lock while the
	 * writer waits in io_uring_enter: the reader thread this test needs
	 * to drain the pipe may never run (tests/valgrind.sh hung here) */
	if (urt_test_under_valgrind())
		cr_skip_test("needs a second thread running beside the writer's ring wait");
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	nb_rd = p[0];
	urt_log_config c = {0};
	c.sink = URT_LOG_SINK_FD;
	c.fd = p[1];
	c.no_crash_flush = 1;
	cr_assert_eq(urt_log_open(&c), 0);
	close(p[1]);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, slow_reader, NULL), 0);
	enum { N = 5000 };
	for (int i = 0; i < N; i++)
		URT_LOG_INFO("record %d of a slow pipe", i);
	cr_assert_eq(urt_log_flush(), 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_assert_eq(urt_log_close(), 0); /* closes the write end: the reader sees EOF */
	pthread_join(t, NULL);
	cr_expect_eq(st.written, N);
	cr_expect_eq(st.failed, 0);
	cr_expect_eq(st.sink_errors, 0);
	cr_expect_eq(nb_lines, N);
	cr_expect_eq(nb_bad, 0);
}

/* A rotation that fails (here: path.1 and path.2 are non-empty
 * directories) is a sink error, and it is retried only after another
 * rotate_size bytes, not before every record. */
Test(log, failed_rotation_counted_and_backed_off, .init = setup, .fini = teardown)
{
	const char *d1 = path_in("r.log.1"), *d2 = path_in("r.log.2");
	char f[160];
	cr_assert_eq(mkdir(d1, 0755), 0);
	cr_assert_eq(mkdir(d2, 0755), 0);
	snprintf(f, sizeof f, "%s/x", d1);
	fclose(fopen(f, "w"));
	snprintf(f, sizeof f, "%s/x", d2);
	fclose(fopen(f, "w"));
	urt_log_stats st = log_rotating(2);
	cr_expect_eq(st.written, 1000);
	cr_expect_eq(st.failed, 0);
	cr_expect_eq(st.rotations, 0);
	cr_expect_geq(st.sink_errors, 1, "the failed rotation is counted");
	cr_expect_leq(st.sink_errors, st.bytes / ROTATE_SIZE + 1,
		      "retried once per rotate_size bytes: %llu errors for %llu bytes",
		      (unsigned long long)st.sink_errors, (unsigned long long)st.bytes);
	size_t lines;
	char *s = slurp(path_in("r.log"), &lines);
	cr_expect_eq(lines, 1000);
	free(s);
}

/* ---- a fault on the writer thread ---------------------------------------- */

/* The threads of this process, sorted, into tids (at most max). */
static int list_tasks(pid_t *tids, int max)
{
	char dpath[64];
	snprintf(dpath, sizeof dpath, "/proc/%d/task", (int)getpid());
	DIR *d = opendir(dpath);
	if (!d)
		return 0;
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) && n < max;)
		if (e->d_name[0] != '.')
			tids[n++] = (pid_t)atoi(e->d_name);
	closedir(d);
	return n;
}

/* A fault signal on the writer thread runs the crash flush there (the
 * writer used to block every signal, so a fault in it killed the process
 * without one, and a signal sent to it stayed pending). SIGILL: the
 * sanitizers leave its disposition alone. The child finds the writer as the
 * thread urt_log_open started. */
Test(log, fault_signal_on_writer_runs_crash_flush, .init = setup, .fini = teardown)
{
#ifdef __SANITIZE_THREAD__
	/* the crash path reads the ring list without the lock (it may be held
	 * by the interrupted thread), which TSan reports as a race when the
	 * handler runs on another thread than the one that registered a ring */
	cr_skip_test("the crash path is lock-free by design");
#endif
	/* valgrind delivers the thread-directed signal its own way (the
	 * writer sits in io_uring_enter, which valgrind does not interrupt) */
	if (urt_test_under_valgrind())
		cr_skip_test("a signal to a thread in io_uring_enter under valgrind");
	const char *path = path_in("w.log");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		pid_t before[64], after[64];
		int nb = list_tasks(before, 64);
		urt_log_config c = file_cfg(path);
		c.no_crash_flush = 0;
		if (urt_log_open(&c) != 0)
			_exit(3);
		int na = list_tasks(after, 64);
		pid_t writer = 0;
		for (int i = 0; i < na; i++) {
			bool old = false;
			for (int j = 0; j < nb; j++)
				old |= after[i] == before[j];
			if (!old)
				writer = after[i];
		}
		if (!writer)
			_exit(4);
		for (int i = 0; i < 500; i++)
			URT_LOG_ERROR("before the writer's fault %d", i);
		syscall(SYS_tgkill, getpid(), writer, SIGILL);
		sleep(3);
		_exit(0); /* the signal never ran */
	}
	int st = child_status(pid);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGILL, "default action ran: status %#x", st);
	size_t lines;
	char *s = slurp(path, &lines);
	cr_expect_eq(lines, 500, "queued records flushed on the writer's SIGILL: %zu lines:\n%s", lines, s);
	cr_expect_not_null(strstr(s, "before the writer's fault 499\n"));
	free(s);
}
