/* Forced fallbacks: the same I/O + sleep + cancel + deadline workload under
 * every URT_CFG_NO_* flag and all of them together must behave the same;
 * a tiny ring with many concurrent operations flushes a full SQ and loses
 * no completion. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

#define MS URT_NS_PER_MS

TestSuite(fallback, .timeout = 15);

static char g_dir[64];

static void *blocked_reader(void *arg)
{
	char buf[8];
	return (void *)(intptr_t)urt_read((int)(intptr_t)arg, buf, sizeof buf, URT_POS_CURRENT);
}

static void *acceptor(void *arg)
{
	int c = urt_accept((int)(intptr_t)arg, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return (void *)(intptr_t)c;
	char buf[8] = {0};
	ssize_t n = urt_recv(c, buf, sizeof buf, 0);
	urt_close(c);
	return (void *)(intptr_t)(n == 4 && memcmp(buf, "ping", 4) == 0 ? 1 : -1000 + n);
}

/* Returns 0 when every step behaved, else the number of the failed step. */
static void *workload(void *arg)
{
	(void)arg;
	/* files */
	int dfd = urt_openat(AT_FDCWD, g_dir, O_RDONLY | O_DIRECTORY, 0);
	cr_assert_geq(dfd, 0, "openat dir: %d", dfd);
	int f = urt_openat(dfd, "w", O_CREAT | O_RDWR | O_TRUNC, 0600);
	cr_assert_geq(f, 0);
	cr_expect_eq(urt_write(f, "fallback", 8, 0), 8);
	char buf[16] = {0};
	cr_expect_eq(urt_read(f, buf, sizeof buf, 0), 8);
	cr_expect_str_eq(buf, "fallback");
	struct statx st;
	cr_expect_eq(urt_statx(f, "", AT_EMPTY_PATH, STATX_SIZE, &st), 0);
	cr_expect_eq(st.stx_size, 8);
	cr_expect_eq(urt_close(f), 0);
	cr_expect_eq(urt_unlinkat(dfd, "w", 0), 0);
	cr_expect_eq(urt_close(dfd), 0);

	/* sleep: never early; not late in the best of three tries (a loaded
	 * machine may run any one try late, a broken timer path every one) */
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = urt_now();
		cr_expect_eq(urt_sleep(2 * MS), 0);
		uint64_t dt = urt_now() - t0;
		cr_expect_geq(dt, 2 * MS);
		best = dt < best ? dt : best;
	}
	cr_expect_lt(best, 500 * MS, "a 2 ms sleep took %llu ns", (unsigned long long)best);

	/* sockets: urt_socket (IORING_OP_SOCKET or its fallback), accept, connect */
	int lfd = urt_tcp_listen("127.0.0.1", 0, 8, 0);
	cr_assert_geq(lfd, 0);
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	urt_task *srv;
	cr_assert_eq(urt_spawn(&srv, acceptor, (void *)(intptr_t)lfd, NULL), 0);
	int c = urt_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(c, 0, "urt_socket: %d", c);
	cr_expect_eq(urt_connect(c, (struct sockaddr *)&a, sizeof a), 0);
	cr_expect_eq(urt_send(c, "ping", 4, 0), 4);
	void *res;
	cr_expect_eq(urt_join(srv, &res), 0);
	cr_expect_eq((intptr_t)res, 1);
	urt_close(c);
	urt_close(lfd);

	/* cancel a blocked read; a deadline on another */
	int p[2];
	cr_assert_eq(pipe(p), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, blocked_reader, (void *)(intptr_t)p[0], NULL), 0);
	cr_expect_eq(urt_sleep(MS), 0);
	cr_expect_eq(urt_cancel(t), 0);
	cr_expect_eq(urt_join(t, &res), -ECANCELED);
	cr_expect_eq((intptr_t)res, -ECANCELED);
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, MS), 0);
	cr_expect_eq(urt_read(p[0], buf, sizeof buf, URT_POS_CURRENT), -ETIME);
	cr_expect_eq(urt_deadline_exit(&d), 0);
	cr_expect_eq(urt_write(p[1], "ok", 2, URT_POS_CURRENT), 2);
	cr_expect_eq(urt_test_readable(p[0]), 2, "an interrupted read took the data");
	int r = urt_poll(p[0], POLLIN);
	cr_expect(r > 0 && (r & POLLIN));
	cr_expect_eq(urt_read(p[0], buf, sizeof buf, URT_POS_CURRENT), 2);
	close(p[0]);
	close(p[1]);
	return (void *)(intptr_t)42;
}

static void run_with(unsigned flags)
{
	urt_test_tmpdir(g_dir, sizeof g_dir);
	urt_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.flags = flags;
	void *res = urt_test_run_cfg(workload, NULL, &cfg);
	cr_expect_eq((intptr_t)res, 42);
	urt_test_rmtree(g_dir);
}

Test(fallback, defaults) { run_with(0); }
Test(fallback, no_single_issuer) { run_with(URT_CFG_NO_SINGLE_ISSUER); }
Test(fallback, no_defer_taskrun) { run_with(URT_CFG_NO_DEFER_TASKRUN); }
Test(fallback, no_coop_taskrun) { run_with(URT_CFG_NO_COOP_TASKRUN); }
Test(fallback, no_registered_fd) { run_with(URT_CFG_NO_REGISTERED_FD); }
Test(fallback, no_ext_arg) { run_with(URT_CFG_NO_EXT_ARG); }
Test(fallback, no_op_socket) { run_with(URT_CFG_NO_OP_SOCKET); }
Test(fallback, all_of_them)
{
	run_with(URT_CFG_NO_SINGLE_ISSUER | URT_CFG_NO_DEFER_TASKRUN | URT_CFG_NO_COOP_TASKRUN |
		 URT_CFG_NO_REGISTERED_FD | URT_CFG_NO_EXT_ARG | URT_CFG_NO_OP_SOCKET);
}

/* ---- a tiny ring under load ---------------------------------------------- */

enum { NTASKS = 100, OPS = 20 };
static int g_pipes[NTASKS][2];

static void *io_task(void *arg)
{
	intptr_t i = (intptr_t)arg;
	for (int k = 0; k < OPS; k++) {
		char out = (char)('a' + (i + k) % 26), in = 0;
		if (urt_write(g_pipes[i][1], &out, 1, URT_POS_CURRENT) != 1)
			return (void *)1;
		if (urt_read(g_pipes[i][0], &in, 1, URT_POS_CURRENT) != 1 || in != out)
			return (void *)2;
	}
	return NULL;
}

static void *tiny_ring(void *arg)
{
	(void)arg;
	urt_task *ts[NTASKS];
	for (intptr_t i = 0; i < NTASKS; i++) {
		cr_assert_eq(pipe(g_pipes[i]), 0);
		cr_assert_eq(urt_spawn(&ts[i], io_task, (void *)i, NULL), 0);
	}
	int bad = 0;
	for (int i = 0; i < NTASKS; i++) {
		void *r = (void *)3;
		cr_expect_eq(urt_join(ts[i], &r), 0);
		bad += r != NULL;
		close(g_pipes[i][0]);
		close(g_pipes[i][1]);
	}
	cr_expect_eq(bad, 0, "%d tasks saw an I/O error (a full SQ leaked out?)", bad);
	urt_loop_stats s;
	cr_assert_eq(urt_loop_stats_get(NULL, &s), 0);
	cr_expect_gt(s.sq_full, 0, "100 tasks on a 4-entry SQ never filled it?");
	cr_expect_geq(s.cqes, (uint64_t)NTASKS * OPS * 2);
	return NULL;
}

Test(fallback, tiny_ring_full_sq)
{
	urt_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.ring_entries = 4;
	urt_test_run_cfg(tiny_ring, NULL, &cfg);
	cfg.flags = URT_CFG_NO_DEFER_TASKRUN | URT_CFG_NO_SINGLE_ISSUER | URT_CFG_NO_EXT_ARG;
	urt_test_run_cfg(tiny_ring, NULL, &cfg);
}

/* A 4-entry SQ without EXT_ARG: the tick's TIMEOUT SQE finds the SQ full,
 * and the flush that frees it completes writes whose tasks are then ready:
 * they run at once, not when the timeout (a 10 s sleep) expires. */
static int g_devnull;

static void *write_one(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_write(g_devnull, "x", 1, URT_POS_CURRENT);
}

static void *sleep_long(void *arg)
{
	(void)arg;
	urt_sleep(10 * URT_NS_PER_SEC);
	return NULL;
}

static void *full_sq_no_wait(void *arg)
{
	(void)arg;
	g_devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	cr_assert_geq(g_devnull, 0);
	urt_task *s, *w[4];
	cr_assert_eq(urt_spawn(&s, sleep_long, NULL, NULL), 0);
	urt_sleep(URT_NS_PER_MS);
	uint64_t t0 = urt_now();
	for (int i = 0; i < 4; i++)
		cr_assert_eq(urt_spawn(&w[i], write_one, NULL, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *r = NULL;
		cr_expect_eq(urt_join(w[i], &r), 0);
		cr_expect_eq((intptr_t)r, 1);
	}
	uint64_t took = urt_now() - t0;
	cr_expect_lt(took, 5 * URT_NS_PER_SEC, "the writes waited %llu ms for the timer",
		     (unsigned long long)(took / URT_NS_PER_MS));
	urt_cancel(s);
	urt_join(s, NULL);
	close(g_devnull);
	return NULL;
}

Test(fallback, full_sq_at_the_timeout_sqe)
{
	urt_config cfg = {.ring_entries = 4, .flags = URT_CFG_NO_EXT_ARG};
	urt_test_run_cfg(full_sq_no_wait, NULL, &cfg);
}

/* The SQ size: up to the kernel's 32,768 (its CQ, 4x, capped at 65,536),
 * -EINVAL beyond. */
static void *nothing(void *arg)
{
	return arg;
}

Test(fallback, ring_size_limits)
{
	unsigned ok[] = {1, 16384, 16385, 32768};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		cr_expect_eq(urt_run(nothing, NULL, &(urt_config){.ring_entries = ok[i]}, NULL), 0,
			     "ring_entries %u", ok[i]);
	cr_expect_eq(urt_run(nothing, NULL, &(urt_config){.ring_entries = 32769}, NULL), -EINVAL);
	cr_expect_eq(urt_run(nothing, NULL, &(urt_config){.ring_entries = 1u << 30}, NULL), -EINVAL);
}

/* socket(2) in place of IORING_OP_SOCKET still honours cancellation. */
static void *socket_cancelled(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_cancel(urt_self()), 0);
	cr_expect_eq(urt_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -ECANCELED);
	return NULL;
}

Test(fallback, socket_fallback_in_cancelled_task)
{
	urt_config cfg = {.flags = URT_CFG_NO_OP_SOCKET};
	cr_expect_eq(urt_run(socket_cancelled, NULL, &cfg, NULL), 0);
	cr_expect_eq(urt_run(socket_cancelled, NULL, NULL, NULL), 0);
}

/* Many completions at once: 300 polls on one ready fd complete together on a
 * CQ of 16 entries; every one must arrive. */
static int g_ready_fd;

static void *poller(void *arg)
{
	(void)arg;
	int r = urt_poll(g_ready_fd, POLLOUT);
	return (void *)(intptr_t)(r > 0 && (r & POLLOUT) ? 0 : -1);
}

static void *cq_pressure(void *arg)
{
	(void)arg;
	enum { N = 300 };
	int p[2];
	cr_assert_eq(pipe(p), 0);
	g_ready_fd = p[1];
	urt_task *ts[N];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++)
			cr_assert_eq(urt_spawn(&ts[i], poller, NULL, NULL), 0);
		int bad = 0;
		for (int i = 0; i < N; i++) {
			void *r = (void *)1;
			cr_expect_eq(urt_join(ts[i], &r), 0);
			bad += r != NULL;
		}
		cr_expect_eq(bad, 0);
	}
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(fallback, cq_overflow_loses_nothing)
{
	urt_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.ring_entries = 4;
	urt_test_run_cfg(cq_pressure, NULL, &cfg);
	cfg.flags = URT_CFG_NO_DEFER_TASKRUN | URT_CFG_NO_COOP_TASKRUN;
	urt_test_run_cfg(cq_pressure, NULL, &cfg);
}
