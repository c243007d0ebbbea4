/* log: from urt tasks: no loss with 4 threads and 1,000 tasks in block
 * mode, a task waiting for room does not stop its loop (nor touch the
 * logger once another task of its loop has closed it), and each task logs
 * its own context fields. URT_TEST_THREADS */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "urt_ctx.h"
#include "urt_log.h"

static char dir[64], path[128];

static void setup(void)
{
	urt_test_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/t.log", dir);
}

static void teardown(void)
{
	urt_log_close();
	urt_test_rmtree(dir);
}

static char *slurp(const char *p, size_t *lines)
{
	FILE *f = fopen(p, "r");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = 0;
	fclose(f);
	*lines = 0;
	for (long i = 0; i < n; i++)
		*lines += s[i] == '\n';
	return s;
}

/* ---- no loss: 4 threads + 1,000 tasks, block mode, small buffer ---------- */

enum { THREADS = 4, TASKS = 1000 };
static int per_thread, per_task; /* records per producer */

struct prod { int id, n; };

static void *thread_producer(void *arg)
{
	struct prod *p = arg;
	for (int i = 0; i < p->n; i++)
		URT_LOG_INFO("p=%d s=%d", p->id, i);
	return NULL;
}

static void *task_producer(void *arg)
{
	struct prod *p = arg;
	for (int i = 0; i < p->n; i++) {
		URT_LOG_INFO("p=%d s=%d", p->id, i);
		if (i % 64 == 63)
			urt_yield(); /* interleave the tasks */
	}
	return NULL;
}

static void *tasks_main(void *arg)
{
	struct prod *p = arg;
	urt_task *t[TASKS];
	for (int i = 0; i < TASKS; i++)
		cr_assert_eq(urt_spawn(&t[i], task_producer, &p[i], NULL), 0);
	for (int i = 0; i < TASKS; i++)
		cr_assert_eq(urt_join(t[i], NULL), 0);
	return NULL;
}

static void *loop_thread(void *arg)
{
	void *res;
	intptr_t r = urt_run(tasks_main, arg, NULL, &res);
	return (void *)r;
}

Test(log_tasks, no_loss_block_mode, .init = setup, .fini = teardown, .timeout = 120)
{
	/* 1,000,000 records; URT_LOG_TEST_SCALE=k divides that (sanitizer builds) */
	const char *sc = getenv("URT_LOG_TEST_SCALE");
	int scale = sc && atoi(sc) > 0 ? atoi(sc) : 1;
	per_thread = 125000 / scale; /* 4 x 125,000 = 500,000 from threads */
	per_task = 500 / scale;      /* 1,000 x 500 = 500,000 from tasks */
	long total = (long)THREADS * per_thread + (long)TASKS * per_task;

	urt_log_config c = {0};
	c.sink = URT_LOG_SINK_FILE;
	c.path = path;
	c.buffer_size = 16 << 10;
	c.no_crash_flush = 1;
	cr_assert_eq(urt_log_open(&c), 0);
	static struct prod tp[THREADS], kp[TASKS];
	pthread_t th[THREADS], lt;
	for (int i = 0; i < TASKS; i++)
		kp[i] = (struct prod){THREADS + i, per_task};
	cr_assert_eq(pthread_create(&lt, NULL, loop_thread, kp), 0);
	for (int i = 0; i < THREADS; i++) {
		tp[i] = (struct prod){i, per_thread};
		cr_assert_eq(pthread_create(&th[i], NULL, thread_producer, &tp[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	void *lr;
	pthread_join(lt, &lr);
	cr_assert_eq((intptr_t)lr, 0, "urt_run: %d", (int)(intptr_t)lr);
	cr_assert_eq(urt_log_flush(), 0);
	urt_log_stats st;
	cr_assert_eq(urt_log_stats_get(&st), 0);
	cr_expect_eq(st.produced, (uint64_t)total);
	cr_expect_eq(st.written, (uint64_t)total);
	cr_expect_eq(st.dropped, 0);
	cr_assert_eq(urt_log_close(), 0);

	size_t lines;
	char *s = slurp(path, &lines);
	cr_assert_eq(lines, (size_t)total);
	int *next = calloc(THREADS + TASKS, sizeof *next);
	for (char *l = s, *e; (e = strchr(l, '\n')); l = e + 1) {
		*e = 0; /* sscanf would strlen the rest of the file */
		char *m = strstr(l, "p=");
		int id, seq;
		cr_assert(m && m < e && sscanf(m, "p=%d s=%d", &id, &seq) == 2 &&
			  id >= 0 && id < THREADS + TASKS, "unparseable: %.100s", l);
		cr_assert_eq(seq, next[id], "producer %d: %d after %d", id, seq, next[id] - 1);
		next[id]++;
	}
	for (int i = 0; i < THREADS + TASKS; i++)
		cr_assert_eq(next[i], i < THREADS ? per_thread : per_task);
	free(next);
	free(s);
}

/* ---- a task blocked on a full buffer does not stop its loop -------------- */

static volatile int ticks, logged, stop_ticker;

static void *ticker(void *arg)
{
	(void)arg;
	while (!stop_ticker) {
		urt_sleep(1000000);
		ticks++;
	}
	return NULL;
}

static void *flooder(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		URT_LOG_INFO("flood %d padding padding padding padding padding padding", i);
		logged = i + 1;
	}
	return NULL;
}

static int pipe_rd;

static void *drain_pipe(void *arg)
{
	(void)arg;
	char buf[65536];
	while (read(pipe_rd, buf, sizeof buf) > 0)
		;
	return NULL;
}

static void *ticker_main(void *arg)
{
	(void)arg;
	urt_task *tk, *fl;
	cr_assert_eq(urt_spawn(&tk, ticker, NULL, NULL), 0);
	cr_assert_eq(urt_spawn(&fl, flooder, NULL, NULL), 0);
	/* the pipe nobody reads fills: the writer stalls, the flooder's ring
	 * fills and the flooder parks. Wait for that by events, not a fixed
	 * time a loaded machine may not honour: until the flooder made no
	 * progress over 10 of the ticker's ticks. (A flooder that blocked the
	 * thread would stop the ticker and us too: the test times out.) */
	int t0, l0;
	uint64_t end = urt_now() + 20 * URT_NS_PER_SEC;
	do {
		t0 = ticks, l0 = logged;
		while (ticks - t0 < 10 && urt_now() < end)
			urt_sleep(1000000);
	} while (logged != l0 && logged < 20000 && urt_now() < end);
	cr_expect_lt(logged, 20000, "the flooder should be blocked");
	cr_expect_eq(logged, l0, "and make no progress while the sink is stuck");
	cr_expect_geq(ticks - t0, 10, "the ticker kept running: %d ticks", ticks - t0);
	pthread_t dr;
	cr_assert_eq(pthread_create(&dr, NULL, drain_pipe, NULL), 0);
	cr_assert_eq(urt_join(fl, NULL), 0);
	cr_expect_eq(logged, 20000);
	stop_ticker = 1;
	cr_assert_eq(urt_join(tk, NULL), 0);
	cr_assert_eq(urt_log_close(), 0); /* closes the write end */
	pthread_join(dr, NULL);
	return NULL;
}

Test(log_tasks, blocked_task_keeps_loop_running, .init = setup, .fini = teardown, .timeout = 60)
{
	pipe_rd = urt_test_log_open_pipe();
	cr_assert_eq(urt_run(ticker_main, NULL, NULL, NULL), 0);
	close(pipe_rd);
}

/* ---- close from a task while another task of its loop waits for room ----- */

/* Close blocks its thread until the writer has drained, so it cannot wait
 * for a task of its own loop that is parked for room or for a flush: that
 * task resumes after close has freed the logger, and must not touch it. */

static volatile int closed;

static void *flush_task(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_log_flush(); /* parks: the writer is stuck */
}

static void *flood_until_closed(void *arg)
{
	(void)arg;
	for (int i = 0; !closed; i++) {
		URT_LOG_INFO("flood %d padding padding padding padding padding padding", i);
		logged = i + 1;
	}
	return NULL;
}

static void *close_main(void *arg)
{
	(void)arg;
	urt_task *fl;
	cr_assert_eq(urt_spawn(&fl, flood_until_closed, NULL, NULL), 0);
	/* the pipe nobody reads fills, then the flooder's ring: it parks.
	 * Parked = no progress over 5 sleeps in a row. */
	int still = 0;
	uint64_t end = urt_now() + 20 * URT_NS_PER_SEC;
	while (still < 5 && urt_now() < end) {
		int l0 = logged;
		urt_sleep(10 * URT_NS_PER_MS);
		still = logged == l0 ? still + 1 : 0;
	}
	cr_assert_eq(still, 5, "the flooder should be parked for room");
	urt_task *fu;
	cr_assert_eq(urt_spawn(&fu, flush_task, NULL, NULL), 0);
	urt_sleep(10 * URT_NS_PER_MS); /* it parks too */
	pthread_t dr;
	cr_assert_eq(pthread_create(&dr, NULL, drain_pipe, NULL), 0);
	cr_assert_eq(urt_log_close(), 0); /* both are parked on this loop */
	closed = 1;
	cr_expect_eq(urt_test_join_within(fl, 10 * URT_NS_PER_SEC, NULL), 0);
	void *fr = (void *)-1;
	cr_expect_eq(urt_test_join_within(fu, 10 * URT_NS_PER_SEC, &fr), 0);
	cr_expect_eq((intptr_t)fr, 0, "close wrote everything: the flush is done");
	pthread_join(dr, NULL);
	return NULL;
}

Test(log_tasks, close_while_tasks_of_its_loop_wait, .init = setup, .fini = teardown,
     .timeout = 60)
{
	pipe_rd = urt_test_log_open_pipe();
	logged = 0;
	cr_assert_eq(urt_run(close_main, NULL, NULL, NULL), 0);
	close(pipe_rd);
}

/* ---- context fields: interleaved tasks each log their own trace id ------- */

static urt_ctxvar *trace_var, *user_var;

static void *traced(void *arg)
{
	intptr_t i = (intptr_t)arg;
	char *id = malloc(16);
	snprintf(id, 16, "tr-%d", (int)i);
	cr_assert_eq(urt_ctxvar_set(trace_var, id, NULL), 0);
	cr_assert_eq(urt_ctxvar_set(user_var, (void *)(i * 100), NULL), 0);
	for (int k = 0; k < 20; k++) {
		URT_LOG_INFO_KV(URT_FIELDS(URT_KV("k", k)), "job %d rec %d", (int)i, k);
		urt_yield();
	}
	return NULL;
}

static void *ctx_main(void *arg)
{
	(void)arg;
	urt_task *t[10];
	for (intptr_t i = 0; i < 10; i++)
		cr_assert_eq(urt_spawn(&t[i], traced, (void *)i, NULL), 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(urt_join(t[i], NULL), 0);
	URT_LOG_INFO("main without trace");
	return NULL;
}

Test(log_tasks, context_fields_per_task, .init = setup, .fini = teardown)
{
	if (!trace_var) {
		cr_assert_eq(urt_ctxvar_create(&trace_var, "trace", NULL, free, URT_CTXVAR_LOG_STRING), 0);
		cr_assert_eq(urt_ctxvar_create(&user_var, "uid", NULL, NULL, URT_CTXVAR_LOG_INT), 0);
	}
	urt_log_config c = {0};
	c.sink = URT_LOG_SINK_FILE;
	c.path = path;
	c.no_crash_flush = 1;
	cr_assert_eq(urt_log_open(&c), 0);
	cr_assert_eq(urt_run(ctx_main, NULL, NULL, NULL), 0);
	cr_assert_eq(urt_log_close(), 0);
	size_t lines;
	char *s = slurp(path, &lines);
	cr_expect_eq(lines, 201);
	int n = 0;
	for (char *l = s, *e; (e = strchr(l, '\n')); l = e + 1) {
		*e = 0; /* sscanf would strlen the rest of the file */
		*e = 0;
		int i, k;
		char *m = strstr(l, "job ");
		if (!m) {
			cr_expect_null(strstr(l, "trace="), "%s", l);
			continue;
		}
		cr_assert_eq(sscanf(m, "job %d rec %d", &i, &k), 2);
		char want[64];
		snprintf(want, sizeof want, " trace=tr-%d uid=%d k=%d job", i, i * 100, k);
		cr_expect_not_null(strstr(l, want), "%s\nwant %s", l, want);
		cr_expect_not_null(strstr(l, " task trace="), "%s", l); /* task name shown */
		*e = '\n';
		n++;
	}
	cr_expect_eq(n, 200);
	free(s);
}
