/* Paused time (URT_CFG_PAUSED_TIME): long timeouts take no real time,
 * events come in the same order on every run, real I/O (a pipe, a child
 * process) still works, and a deadline in the past fails at once. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "urt_harness.h"
#include "urt_process.h"

TestSuite(paused_time, .timeout = 20);

static const urt_config paused = {.flags = URT_CFG_PAUSED_TIME};

static uint64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * URT_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* ---- a 30 s timeout in well under a second -------------------------------- */

static void *sleeper(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_sleep(30 * URT_NS_PER_SEC);
}

static void *thirty_seconds(void *arg)
{
	(void)arg;
	uint64_t v0 = urt_now();
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, sleeper, NULL, NULL), 0);
	/* a 30 s deadline on something that never happens */
	urt_event never = URT_EVENT_INIT;
	urt_deadline d;
	urt_deadline_enter(&d, 30 * URT_NS_PER_SEC);
	cr_expect_eq(urt_event_wait(&never), -ETIME);
	urt_deadline_exit(&d);
	void *r;
	cr_expect_eq(urt_join(t, &r), 0);
	cr_expect_eq((intptr_t)r, 0);
	cr_expect_geq(urt_now() - v0, 30 * URT_NS_PER_SEC, "virtual clock advanced");
	return NULL;
}

Test(paused_time, thirty_second_timeout_is_instant)
{
	uint64_t t0 = real_ns();
	urt_test_run_cfg(thirty_seconds, NULL, &paused);
	uint64_t took = real_ns() - t0;
	/* loose (a loaded machine): the point is "not 30 s" */
	cr_expect_lt(took, 10 * URT_NS_PER_SEC, "took %llu ms of real time",
		     (unsigned long long)(took / URT_NS_PER_MS));
}

/* ---- same order of events on every run ------------------------------------- */

#define NEV 64
static char g_log[NEV][48];
static int g_nlog;

static void note(const char *what)
{
	if (g_nlog < NEV)
		snprintf(g_log[g_nlog++], sizeof g_log[0], "%llu:%s",
			 (unsigned long long)(urt_now() / URT_NS_PER_MS), what);
}

static void *actor(void *arg)
{
	int k = (int)(intptr_t)arg;
	char name[16];
	for (int i = 0; i < 3; i++) {
		/* sleeps of different lengths, some ending at the same instant */
		urt_sleep((uint64_t)(k % 3 + 1) * 700 * URT_NS_PER_MS);
		snprintf(name, sizeof name, "a%d.%d", k, i);
		note(name);
		urt_yield();
	}
	/* and a deadline that expires */
	urt_deadline d;
	urt_deadline_enter(&d, (uint64_t)(k + 1) * URT_NS_PER_SEC);
	urt_event never = URT_EVENT_INIT;
	snprintf(name, sizeof name, "a%d:%d", k, urt_event_wait(&never));
	urt_deadline_exit(&d);
	note(name);
	return NULL;
}

static void *ordering(void *arg)
{
	(void)arg;
	urt_task *t[6];
	for (int k = 0; k < 6; k++)
		cr_assert_eq(urt_spawn(&t[k], actor, (void *)(intptr_t)k, NULL), 0);
	cr_expect_eq(urt_wait_all(t, 6), 0);
	for (int k = 0; k < 6; k++)
		urt_join(t[k], NULL);
	note("end");
	return NULL;
}

Test(paused_time, same_order_every_run)
{
	static char first[NEV][48];
	int nfirst = 0;
	for (int run = 0; run < 3; run++) {
		g_nlog = 0;
		memset(g_log, 0, sizeof g_log);
		urt_test_run_cfg(ordering, NULL, &paused);
		cr_assert_eq(g_nlog, 6 * 4 + 1);
		if (run == 0) {
			memcpy(first, g_log, sizeof first);
			nfirst = g_nlog;
			continue;
		}
		cr_assert_eq(g_nlog, nfirst);
		for (int i = 0; i < g_nlog; i++)
			cr_expect_str_eq(g_log[i], first[i], "run %d, event %d", run, i);
	}
	/* the virtual timeline: 700 ms steps; the last actor ends at 3 * 2.1 s + 6 s */
	cr_expect_str_eq(first[0], "700:a0.0");
	cr_expect_str_eq(first[nfirst - 1], "12300:end");
}

/* ---- real I/O still works ----------------------------------------------------- */

static int g_pipe[2];

static void *late_writer_thread(void *arg)
{
	(void)arg;
	usleep(20000);
	ssize_t n = write(g_pipe[1], "ping", 4);
	(void)n;
	return NULL;
}

static void *real_io(void *arg)
{
	(void)arg;
	cr_assert_eq(pipe(g_pipe), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, sleeper, NULL, NULL), 0);
	pthread_t th;
	pthread_create(&th, NULL, late_writer_thread, NULL);
	char buf[8] = {0};
	cr_expect_eq(urt_read(g_pipe[0], buf, sizeof buf, URT_POS_CURRENT), 4);
	cr_expect_str_eq(buf, "ping");
	pthread_join(th, NULL);
	close(g_pipe[0]);
	close(g_pipe[1]);
	/* a child process and its output, under a 30 s virtual deadline */
	const char *argv[] = {"/bin/sh", "-c", "echo hello-from-child", NULL};
	urt_process_opts o = {.argv = argv};
	o.stdio[1].mode = URT_STDIO_PIPE;
	urt_process *p;
	cr_assert_eq(urt_process_spawn(&p, &o), 0);
	urt_line_reader *r;
	cr_assert_eq(urt_line_reader_new(&r, urt_process_fd(p, 1), 0), 0);
	cr_expect_eq(urt_wait_line(r, "hello", 30 * URT_NS_PER_SEC, NULL, 0), 16);
	urt_process_status st;
	cr_expect_eq(urt_process_wait(p, 30 * URT_NS_PER_SEC, &st), 0);
	cr_expect_eq(st.code, 0);
	urt_line_reader_free(r);
	urt_process_release(p);
	cr_expect_eq(urt_join(t, NULL), 0);
	return NULL;
}

Test(paused_time, real_io_still_works)
{
	uint64_t t0 = real_ns();
	urt_test_run_cfg(real_io, NULL, &paused);
	/* loose (a loaded machine): the point is that the loop never waits out
	 * the 30 s sleeper in real time */
	cr_expect_lt(real_ns() - t0, 10 * URT_NS_PER_SEC);
}

/* ---- a deadline in the past ------------------------------------------------------ */

static void *past(void *arg)
{
	(void)arg;
	const char *argv[] = {"sleep", "10", NULL};
	urt_process *p;
	cr_assert_eq(urt_process_spawn(&p, &(urt_process_opts){.argv = argv}), 0);
	uint64_t v0 = urt_now(), t0 = real_ns();
	cr_expect_eq(urt_process_wait(p, 0, NULL), -ETIME);
	cr_expect_eq(urt_wait_port("127.0.0.1", 1, 0), -ETIME);
	urt_deadline d;
	urt_deadline_enter(&d, 0);
	cr_expect_eq(urt_sleep(1), -ETIME);
	urt_deadline_exit(&d);
	cr_expect_eq(urt_now(), v0, "no virtual time passed");
	/* loose (a loaded machine): waiting for the child would take 10 s */
	cr_expect_lt(real_ns() - t0, 5 * URT_NS_PER_SEC);
	cr_expect_eq(urt_process_release(p), 1);
	return NULL;
}

Test(paused_time, deadline_in_the_past)
{
	urt_test_run_cfg(past, NULL, &paused);
}
