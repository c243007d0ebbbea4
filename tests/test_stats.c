/* Per-loop counters move exactly as a scripted workload dictates; the JSON
 * dump (loop section + registered provider sections) parses; URT_STATS
 * appends one line per loop. URT_TEST_THREADS: a helper thread posts
 * messages to the loop (the "remote" counter). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "core_internal.h"
#include "stats_provider.h"

static urt_loop_stats stats_now(void)
{
	urt_loop_stats s;
	cr_assert_eq(urt_loop_stats_get(NULL, &s), 0);
	return s;
}

static uint64_t hist_sum(const urt_loop_stats *s)
{
	uint64_t n = 0;
	for (int i = 0; i < 8; i++)
		n += s->cqe_hist[i];
	return n;
}

/* ---- tasks and switches (embedded loop, so the counts are exact) ------- */

static void *yield5(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++)
		urt_yield();
	return NULL;
}

Test(stats, switches_spawned_alive_are_exact)
{
	urt_test_baseline b = urt_test_baseline_take();
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, NULL), 0);
	urt_loop_stats s;
	cr_assert_eq(urt_loop_stats_get(l, &s), 0);
	cr_expect_eq(s.switches, 0);
	cr_expect_eq(s.spawned, 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(urt_spawn(NULL, yield5, NULL, NULL), 0);
	urt_loop_stats_get(l, &s);
	cr_expect_eq(s.spawned, 2);
	cr_expect_eq(s.alive, 2);
	while (urt_loop_step(l, 0) > 0)
		;
	urt_loop_stats_get(l, &s);
	/* 1 switch in, 10 yields (each hands over to the other task), 2 exits */
	cr_expect_eq(s.switches, 13, "switches %llu", (unsigned long long)s.switches);
	cr_expect_eq(s.spawned, 2);
	cr_expect_eq(s.alive, 0);
	cr_expect_eq(s.stalls, 0);
	cr_expect_eq(s.enobufs, 0);
	cr_expect_eq(hist_sum(&s), s.ticks, "one histogram entry per tick");
	cr_assert_eq(urt_loop_destroy(l), 0);
	urt_test_baseline_check(b);
}

/* ---- I/O: one write per tick ---------------------------------------------- */

static void *sequential_writes(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(pipe(p), 0);
	char c = 'x';
	cr_assert_eq(urt_write(p[1], &c, 1, 0), 1); /* warm-up: the wake read is submitted too */
	urt_loop_stats a = stats_now();
	for (int i = 0; i < 10; i++)
		cr_assert_eq(urt_write(p[1], &c, 1, 0), 1);
	urt_loop_stats b = stats_now();
	cr_expect_eq(b.sqes - a.sqes, 10, "sqes %llu", (unsigned long long)(b.sqes - a.sqes));
	cr_expect_eq(b.cqes - a.cqes, 10, "cqes %llu", (unsigned long long)(b.cqes - a.cqes));
	cr_expect_eq(b.enters - a.enters, 10);
	cr_expect_eq(b.ticks - a.ticks, 10);
	cr_expect_eq(b.cqe_hist[1] - a.cqe_hist[1], 10, "each tick reaped exactly one CQE");
	cr_expect_eq(b.sq_full, a.sq_full);
	cr_expect_eq(b.cq_overflow, 0);
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(stats, io_counters_one_op_per_tick)
{
	urt_test_run(sequential_writes, NULL);
}

/* ---- I/O: many ops in one tick (histogram, SQ-full flushes) ----------- */

static int pipe_w = -1;

static void *one_write(void *arg)
{
	(void)arg;
	char c = 'y';
	return (void *)(intptr_t)urt_write(pipe_w, &c, 1, 0);
}

static void concurrent_writes(int n)
{
	urt_task *t[16];
	for (int i = 0; i < n; i++)
		cr_assert_eq(urt_spawn(&t[i], one_write, NULL, NULL), 0);
	for (int i = 0; i < n; i++) {
		void *r;
		cr_assert_eq(urt_join(t[i], &r), 0);
		cr_assert_eq((intptr_t)r, 1);
	}
}

static void *batch_body(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pipe_w = p[1];
	concurrent_writes(1); /* warm-up */
	urt_loop_stats a = stats_now();
	concurrent_writes(4); /* one tick submits 4 writes (a full SQ), reaps 4 CQEs */
	urt_loop_stats b = stats_now();
	cr_expect_eq(b.sqes - a.sqes, 4);
	cr_expect_eq(b.cqes - a.cqes, 4);
	cr_expect_eq(b.cqe_hist[3] - a.cqe_hist[3], 1, "one tick in the 4-7 bucket: %llu %llu %llu %llu",
		     (unsigned long long)(b.cqe_hist[0] - a.cqe_hist[0]), (unsigned long long)(b.cqe_hist[1] - a.cqe_hist[1]),
		     (unsigned long long)(b.cqe_hist[2] - a.cqe_hist[2]), (unsigned long long)(b.cqe_hist[3] - a.cqe_hist[3]));
	cr_expect_eq(hist_sum(&b), b.ticks);
	a = b;
	concurrent_writes(10); /* SQ of 4: the 5th and 9th SQE force a flush */
	b = stats_now();
	cr_expect_eq(b.sq_full - a.sq_full, 2, "sq_full %llu", (unsigned long long)(b.sq_full - a.sq_full));
	cr_expect_eq(b.sqes - a.sqes, 10);
	cr_expect_eq(b.cqes - a.cqes, 10);
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(stats, histogram_and_sq_full)
{
	urt_config cfg = {.ring_entries = 4};
	urt_test_run_cfg(batch_body, NULL, &cfg);
}

/* ---- cross-thread messages ------------------------------------------------ */

static _Atomic int remote_runs;

static void remote_run(urt_loop *l, struct urt_remote *m)
{
	(void)l, (void)m;
	atomic_fetch_add(&remote_runs, 1);
}

static struct urt_remote msgs[3];

static void *poster(void *arg)
{
	for (int i = 0; i < 3; i++) {
		msgs[i].run = remote_run;
		cr_assert_eq(urt__loop_post(arg, &msgs[i]), 0);
	}
	return NULL;
}

static void *remote_body(void *arg)
{
	(void)arg;
	urt_loop_stats a = stats_now();
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, poster, urt_loop_current()), 0);
	/* up to 10 s: the poster thread may start late on a loaded machine */
	for (uint64_t end = urt_now() + 10 * URT_NS_PER_SEC;
	     atomic_load(&remote_runs) < 3 && urt_now() < end;)
		urt_sleep(URT_NS_PER_MS);
	pthread_join(th, NULL);
	urt_loop_stats b = stats_now();
	cr_expect_eq(atomic_load(&remote_runs), 3);
	cr_expect_eq(b.remote - a.remote, 3);
	return NULL;
}

Test(stats, remote_messages_counted)
{
	urt_test_run(remote_body, NULL);
}

/* ---- bad input ------------------------------------------------------------ */

Test(stats, get_and_dump_need_a_loop)
{
	urt_loop_stats s;
	cr_expect_eq(urt_loop_stats_get(NULL, &s), -EINVAL);
	cr_expect_eq(urt_stats_dump_json(NULL, 1), -EINVAL);
}

static void *bad_fd_body(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_stats_dump_json(NULL, -1), -EINVAL);
	cr_expect_eq(urt_loop_stats_get(NULL, NULL), -EINVAL);
	cr_expect_eq(urt_stats_dump_json(NULL, 1000000), -EBADF);
	return NULL;
}

Test(stats, dump_bad_fd)
{
	/* no mapping baseline: ASan's allocator maps size classes lazily */
	cr_assert_eq(urt_run(bad_fd_body, NULL, NULL, NULL), 0);
}

static void *other_thread_dump(void *arg)
{
	return (void *)(intptr_t)urt_stats_dump_json(arg, 1);
}

static void *foreign_body(void *arg)
{
	(void)arg;
	pthread_t th;
	void *r;
	pthread_create(&th, NULL, other_thread_dump, urt_loop_current());
	pthread_join(th, &r);
	cr_expect_eq((intptr_t)r, -EINVAL, "another thread's loop is refused");
	return NULL;
}

Test(stats, dump_from_another_thread_refused)
{
	urt_test_run(foreign_body, NULL);
}

/* ---- JSON --------------------------------------------------------------- */

/* python3 parses the file and runs the check expression on d (each line). */
static void json_check(const char *path, const char *expr)
{
	if (system("python3 -c '' 2>/dev/null") != 0) {
		cr_log_warn("python3 missing: JSON not validated");
		return;
	}
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
		 "python3 -c 'import json,sys\n"
		 "lines=open(sys.argv[1]).read().splitlines()\n"
		 "assert lines\n"
		 "for l in lines:\n"
		 "  d=json.loads(l)\n"
		 "  assert %s, d\n' %s",
		 expr, path);
	cr_expect_eq(system(cmd), 0, "JSON check failed: %s", expr);
}

static int good_section(FILE *f, void *arg)
{
	fprintf(f, "{\"x\":%d}", *(int *)arg);
	return 0;
}

static int bad_section(FILE *f, void *arg)
{
	(void)arg;
	fputs("{\"half", f); /* fails halfway: must not break the line */
	return -EIO;
}

static char json_path[256];

static void *json_body(void *arg)
{
	(void)arg;
	int fd = open(json_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	int r = urt_stats_dump_json(NULL, fd);
	cr_expect_gt(r, 0);
	close(fd);
	return NULL;
}

Test(stats, json_dump_parses_with_providers)
{
	char dir[128];
	urt_test_tmpdir(dir, sizeof dir);
	snprintf(json_path, sizeof json_path, "%s/s.json", dir);
	static int x = 42;
	cr_assert_eq(urt__stats_provider_register("good", good_section, &x), 0);
	cr_assert_eq(urt__stats_provider_register("bad", bad_section, NULL), 0);
	urt_test_run(json_body, NULL);
	json_check(json_path, "d[\"loop\"][\"id\"] > 0 and d[\"loop\"][\"switches\"] >= 1 and "
			      "len(d[\"loop\"][\"cqe_hist\"]) == 8 and d[\"good\"] == {\"x\": 42} "
			      "and d[\"bad\"] is None");
	cr_expect_eq(urt__stats_provider_unregister("good"), 0);
	cr_expect_eq(urt__stats_provider_unregister("bad"), 0);
	urt_test_run(json_body, NULL);
	json_check(json_path, "\"good\" not in d and \"bad\" not in d");
	urt_test_rmtree(dir);
}

static int noop_section(FILE *f, void *arg)
{
	(void)arg;
	fputs("{}", f);
	return 0;
}

Test(stats, provider_registry_errors)
{
	cr_expect_eq(urt__stats_provider_register(NULL, noop_section, NULL), -EINVAL);
	cr_expect_eq(urt__stats_provider_register("n", NULL, NULL), -EINVAL);
	cr_expect_eq(urt__stats_provider_unregister("nothing"), -ENOENT);
	cr_expect_eq(urt__stats_provider_unregister(NULL), -ENOENT);
	static char names[16][8];
	for (int i = 0; i < 16; i++) {
		snprintf(names[i], sizeof names[i], "p%d", i);
		cr_assert_eq(urt__stats_provider_register(names[i], noop_section, NULL), 0);
	}
	cr_expect_eq(urt__stats_provider_register("p0", noop_section, NULL), -EEXIST);
	cr_expect_eq(urt__stats_provider_register("more", noop_section, NULL), -ENOSPC);
	for (int i = 0; i < 16; i++)
		cr_expect_eq(urt__stats_provider_unregister(names[i]), 0);
}

static void *spawn_three(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++)
		urt_spawn(NULL, yield5, NULL, NULL);
	return NULL;
}

Test(stats, env_appends_one_line_per_loop)
{
	char dir[128], path[256];
	urt_test_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/env.json", dir);
	setenv("URT_STATS", path, 1);
	urt_test_run(spawn_three, NULL);
	urt_test_run(spawn_three, NULL);
	unsetenv("URT_STATS");
	urt_test_run(spawn_three, NULL); /* unset: nothing appended */
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	int lines = 0, c;
	while ((c = fgetc(f)) != EOF)
		lines += c == '\n';
	fclose(f);
	cr_expect_eq(lines, 2);
	json_check(path, "d[\"loop\"][\"spawned\"] == 4 and d[\"loop\"][\"alive\"] == 0");
	urt_test_rmtree(dir);
}
