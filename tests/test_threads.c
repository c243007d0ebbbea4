/* Loops on several threads at once: each thread has its own loop, and a
 * task of one loop cannot be joined, cancelled or waited on from another.
 * URT_TEST_THREADS: threads share data here, so this also runs under TSan. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "check.h"

#define MS URT_NS_PER_MS

typedef struct thread_run {
	int rc;                /* urt_run's return */
	intptr_t result;       /* main task's result */
	uint64_t loop_id;
	int outside_null;      /* urt_loop_current() was NULL before the run */
} thread_run;

static void *echo_worker(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[64];
	ssize_t n;
	while ((n = urt_read(fd, buf, sizeof buf, URT_POS_CURRENT)) > 0)
		if (urt_write_all(fd, buf, (size_t)n) != n)
			return (void *)-1;
	return NULL;
}

/* Each loop: tasks, sleeps and I/O over its own socketpair. */
static void *busy_main(void *arg)
{
	(void)arg;
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, echo_worker, (void *)(intptr_t)sv[1], NULL), 0);
	intptr_t sum = 0;
	for (int i = 0; i < 200; i++) {
		char out[8], in[8];
		int len = snprintf(out, sizeof out, "%d", i);
		if (urt_write_all(sv[0], out, (size_t)len) != len)
			return (void *)-1;
		ssize_t got = 0;
		while (got < len) {
			ssize_t n = urt_read(sv[0], in + got, sizeof in - (size_t)got, URT_POS_CURRENT);
			if (n <= 0)
				return (void *)-2;
			got += n;
		}
		sum += i;
		if (i % 50 == 0)
			urt_sleep(MS);
	}
	shutdown(sv[0], SHUT_WR);
	urt_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return (void *)sum;
}

static void *loop_thread(void *arg)
{
	thread_run *r = arg;
	r->outside_null = urt_loop_current() == NULL;
	void *res = NULL;
	r->rc = urt_run(busy_main, NULL, NULL, &res);
	r->result = (intptr_t)res;
	return NULL;
}

Test(threads, two_loops_at_once, .timeout = 20)
{
	pthread_t th[2];
	thread_run runs[2] = {{0}};
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, loop_thread, &runs[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(runs[i].rc, 0, "loop %d: %s", i, urt_strerror(runs[i].rc));
		cr_expect_eq(runs[i].result, 199 * 200 / 2, "loop %d got %ld", i, (long)runs[i].result);
		cr_expect(runs[i].outside_null);
	}
	cr_expect_null(urt_loop_current());
}

/* A thread without a loop sees none, even while others run one. */
static atomic_int g_phase;
static atomic_uintptr_t g_loop_seen;

static void *observer(void *arg)
{
	(void)arg;
	while (atomic_load(&g_phase) == 0)
		usleep(100);
	atomic_store(&g_loop_seen, (uintptr_t)urt_loop_current());
	atomic_store(&g_phase, 2);
	return NULL;
}

static void *wait_observer(void *arg)
{
	(void)arg;
	atomic_store(&g_phase, 1);
	while (atomic_load(&g_phase) != 2)
		urt_sleep(100000);
	return NULL;
}

Test(threads, no_implicit_loop_on_other_threads, .timeout = 10)
{
	pthread_t th;
	atomic_store(&g_phase, 0);
	atomic_store(&g_loop_seen, 1);
	cr_assert_eq(pthread_create(&th, NULL, observer, NULL), 0);
	urt_test_run(wait_observer, NULL);
	pthread_join(th, NULL);
	cr_expect_eq(atomic_load(&g_loop_seen), 0, "another thread saw this thread's loop");
}

/* Cross-loop misuse: thread A's task handle used in thread B's loop. */
static _Atomic(urt_task *) g_foreign;
static atomic_int g_b_done;
static int g_b_res[5];

static urt_event g_a_ev; /* only thread A touches it */

static void *a_child(void *arg)
{
	(void)arg;
	urt_event_wait(&g_a_ev);
	return (void *)(intptr_t)11;
}

static void *a_main(void *arg)
{
	(void)arg;
	urt_event_init(&g_a_ev);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, a_child, NULL, NULL), 0);
	atomic_store(&g_foreign, t);
	while (!atomic_load(&g_b_done))
		urt_sleep(200000);
	urt_event_set(&g_a_ev);
	void *res = NULL;
	int r = urt_join(t, &res);
	return (void *)(intptr_t)(r == 0 ? (intptr_t)res : r);
}

static void *b_main(void *arg)
{
	(void)arg;
	urt_task *t;
	while ((t = atomic_load(&g_foreign)) == NULL)
		urt_sleep(200000);
	g_b_res[0] = urt_join(t, NULL);
	g_b_res[1] = urt_cancel(t);
	g_b_res[2] = urt_wait_all(&t, 1);
	g_b_res[3] = urt_wait_any(&t, 1);
	g_b_res[4] = urt_detach(t);
	atomic_store(&g_b_done, 1);
	return NULL;
}

static void *run_a(void *arg)
{
	thread_run *r = arg;
	void *res = NULL;
	r->rc = urt_run(a_main, NULL, NULL, &res);
	r->result = (intptr_t)res;
	return NULL;
}

Test(threads, other_loops_task_einval, .timeout = 10)
{
	thread_run ra = {0};
	pthread_t th;
	atomic_store(&g_foreign, NULL);
	atomic_store(&g_b_done, 0);
	cr_assert_eq(pthread_create(&th, NULL, run_a, &ra), 0);
	cr_expect_eq(urt_run(b_main, NULL, NULL, NULL), 0);
	pthread_join(th, NULL);
	cr_expect_eq(ra.rc, 0);
	cr_expect_eq(ra.result, 11, "the owner could not join its own task: %ld", (long)ra.result);
	const char *what[5] = {"join", "cancel", "wait_all", "wait_any", "detach"};
	for (int i = 0; i < 5; i++)
		cr_expect_eq(g_b_res[i], -EINVAL, "%s of another loop's task: %d", what[i], g_b_res[i]);
}

/* Many threads each running short loops repeatedly: ids stay unique and
 * nothing is left behind. */
static void *id_main(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)urt_loop_id(urt_loop_current());
}

static void *id_thread(void *arg)
{
	uint64_t *ids = arg;
	for (int i = 0; i < 10; i++) {
		void *res = NULL;
		if (urt_run(id_main, NULL, NULL, &res) != 0)
			ids[i] = 0;
		else
			ids[i] = (uintptr_t)res;
	}
	return NULL;
}

Test(threads, loop_ids_unique_across_threads, .timeout = 20)
{
	enum { T = 4 };
	static uint64_t ids[T][10];
	pthread_t th[T];
	urt_test_baseline b = {0};
	/* the first round warms up glibc's thread-stack cache and malloc
	 * arenas (mappings that stay by design); the second must add nothing */
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			b = urt_test_baseline_take();
		for (int i = 0; i < T; i++)
			cr_assert_eq(pthread_create(&th[i], NULL, id_thread, ids[i]), 0);
		for (int i = 0; i < T; i++)
			pthread_join(th[i], NULL);
	}
	uint64_t *all = &ids[0][0];
	for (int i = 0; i < T * 10; i++) {
		cr_expect_gt(all[i], 0);
		for (int j = 0; j < i; j++)
			cr_expect_neq(all[i], all[j], "loop id reused");
	}
	urt_test_baseline_check(b);
}
