/* I/O under cancellation and deadlines: the kernel is done with a buffer
 * before the call returns, a race between completion and cancel loses no
 * data, and many interrupted operations at once are all accounted for. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

#define MS URT_NS_PER_MS

TestSuite(io_cancel, .timeout = 10);

/* A reader whose buffer lives on its own stack. */
typedef struct reader {
	int fd;
	int r;
	char got[16];
} reader;

static void *stack_reader(void *arg)
{
	reader *rd = arg;
	char buf[16] = {0};
	rd->r = (int)urt_read(rd->fd, buf, 5, URT_POS_CURRENT);
	if (rd->r > 0)
		memcpy(rd->got, buf, (size_t)rd->r);
	return NULL;
}

/* Completion and cancel race: data written just before the cancel is
 * either returned by the read, or still in the pipe; never lost. */
static void *race(void *arg)
{
	int mode = (int)(intptr_t)arg;
	int n_data = 0, n_cancel = 0;
	for (int i = 0; i < 200; i++) {
		int p[2];
		cr_assert_eq(pipe(p), 0);
		reader rd = {.fd = p[0], .r = 1};
		urt_task *t;
		cr_assert_eq(urt_spawn(&t, stack_reader, &rd, NULL), 0);
		if (mode == 0 || i % 2)
			urt_yield();
		else
			urt_sleep(10000);
		cr_assert_eq(write(p[1], "abcde", 5), 5);
		if (i % 3 == 0)
			urt_yield(); /* sometimes let the completion be reaped first */
		cr_expect_eq(urt_cancel(t), 0);
		int j = urt_join(t, NULL);
		cr_expect(j == -ECANCELED, "join: %d", j);
		if (rd.r == 5) {
			n_data++;
			cr_expect_eq(memcmp(rd.got, "abcde", 5), 0);
			cr_expect_eq(urt_test_readable(p[0]), 0);
		} else {
			n_cancel++;
			cr_expect_eq(rd.r, -ECANCELED, "read returned %d", rd.r);
			cr_expect_eq(urt_test_readable(p[0]), 5, "data lost to a cancelled read");
		}
		close(p[0]);
		close(p[1]);
	}
	cr_expect_eq(n_data + n_cancel, 200);
	return NULL;
}

Test(io_cancel, completion_races_cancel)
{
	urt_test_run(race, (void *)0);
	urt_test_run(race, (void *)1);
}

/* Many reads in flight, all cancelled; their stacks are reused by new
 * tasks at once; data written afterwards stays in the pipes. */
enum { NREAD = 128 };

static void *scribbler(void *arg)
{
	(void)arg;
	volatile char junk[4096];
	memset((char *)junk, 0x5a, sizeof junk);
	urt_yield();
	for (size_t i = 0; i < sizeof junk; i++)
		if (junk[i] != 0x5a)
			return (void *)1; /* the kernel wrote into a recycled stack */
	return NULL;
}

static void *many(void *arg)
{
	(void)arg;
	static int p[NREAD][2];
	static reader rd[NREAD];
	urt_task *ts[NREAD];
	for (int i = 0; i < NREAD; i++) {
		cr_assert_eq(pipe(p[i]), 0);
		rd[i] = (reader){.fd = p[i][0], .r = 1};
		cr_assert_eq(urt_spawn(&ts[i], stack_reader, &rd[i], NULL), 0);
	}
	cr_assert_eq(urt_sleep(MS), 0);
	for (int i = 0; i < NREAD; i++)
		cr_expect_eq(urt_cancel(ts[i]), 0);
	for (int i = 0; i < NREAD; i++) {
		cr_expect_eq(urt_join(ts[i], NULL), -ECANCELED);
		cr_expect_eq(rd[i].r, -ECANCELED);
	}
	urt_task *sc[NREAD];
	for (int i = 0; i < NREAD; i++)
		cr_assert_eq(urt_spawn(&sc[i], scribbler, NULL, NULL), 0);
	urt_yield();
	for (int i = 0; i < NREAD; i++)
		cr_assert_eq(write(p[i][1], "12345", 5), 5);
	for (int i = 0; i < NREAD; i++) {
		void *bad = (void *)2;
		cr_expect_eq(urt_join(sc[i], &bad), 0);
		cr_expect_null(bad, "a recycled stack was written to");
		cr_expect_eq(urt_test_readable(p[i][0]), 5, "pipe %d lost its data", i);
		close(p[i][0]);
		close(p[i][1]);
	}
	return NULL;
}

Test(io_cancel, many_reads_cancelled)
{
	urt_test_run(many, NULL);
}

/* A recv that timed out leaves the stream intact for the next recv. */
static void *timeout_then_data(void *arg)
{
	(void)arg;
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	char buf[32];
	urt_deadline d;
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(urt_deadline_enter(&d, 200000), 0);
		cr_expect_eq(urt_recv(sv[0], buf, sizeof buf, 0), -ETIME);
		cr_expect_eq(urt_deadline_exit(&d), 0);
		char msg[8];
		int len = snprintf(msg, sizeof msg, "m%d", i);
		cr_assert_eq(send(sv[1], msg, (size_t)len, 0), len);
		memset(buf, 0, sizeof buf);
		cr_expect_eq(urt_recv(sv[0], buf, sizeof buf, 0), len);
		cr_expect_str_eq(buf, msg);
	}
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

Test(io_cancel, timed_out_recv_loses_nothing)
{
	urt_test_run(timeout_then_data, NULL);
}

/* A cancelled accept does not swallow a later connection or leak its fd. */
static void *acceptor(void *arg)
{
	return (void *)(intptr_t)urt_accept((int)(intptr_t)arg, NULL, NULL, SOCK_CLOEXEC);
}

static void *accept_cancel(void *arg)
{
	(void)arg;
	int lfd = urt_tcp_listen("127.0.0.1", 0, 8, 0);
	cr_assert_geq(lfd, 0);
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, acceptor, (void *)(intptr_t)lfd, NULL), 0);
	urt_sleep(MS);
	cr_expect_eq(urt_cancel(t), 0);
	void *r;
	cr_expect_eq(urt_join(t, &r), -ECANCELED);
	cr_expect_eq((intptr_t)r, -ECANCELED);
	int c = urt_tcp_connect("127.0.0.1", ntohs(a.sin_port));
	cr_assert_geq(c, 0);
	int s = urt_accept(lfd, NULL, NULL, 0);
	cr_expect_geq(s, 0, "the connection went to the cancelled accept");
	close(s);
	close(c);
	close(lfd);
	return NULL;
}

Test(io_cancel, cancelled_accept)
{
	urt_test_run(accept_cancel, NULL);
}

/* write_all parked on a full pipe: cancel returns its first error. */
static int g_wp[2];

static void *full_writer(void *arg)
{
	(void)arg;
	static char big[1 << 20];
	return (void *)(intptr_t)urt_write_all(g_wp[1], big, sizeof big);
}

static void *write_all_cancel(void *arg)
{
	(void)arg;
	cr_assert_eq(pipe(g_wp), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, full_writer, NULL, NULL), 0);
	urt_sleep(2 * MS);
	cr_expect_eq(urt_cancel(t), 0);
	void *r;
	cr_expect_eq(urt_join(t, &r), -ECANCELED);
	cr_expect_eq((intptr_t)r, -ECANCELED);
	close(g_wp[0]);
	close(g_wp[1]);
	return NULL;
}

Test(io_cancel, write_all_cancelled)
{
	urt_test_run(write_all_cancel, NULL);
}

/* A deadline on poll, then the same poll completes once data arrives. */
static void *poll_deadline(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(pipe(p), 0);
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, MS), 0);
	cr_expect_eq(urt_poll(p[0], POLLIN), -ETIME);
	cr_expect_eq(urt_deadline_exit(&d), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(urt_deadline_enter(&d, URT_NS_PER_SEC), 0);
	int r = urt_poll(p[0], POLLIN);
	cr_expect(r > 0 && (r & POLLIN), "poll: %d", r);
	cr_expect_eq(urt_deadline_exit(&d), 0);
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(io_cancel, poll_deadline_then_ready)
{
	urt_test_run(poll_deadline, NULL);
}
