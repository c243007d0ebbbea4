/* A sender's send shares the tick's io_uring_enter with the wait for
 * other work: the first try of a send completes within that enter and must
 * not end the wait (uring/poll.c counts it as a quiet SQE), so a task that
 * sends and then waits for data costs one enter, not two.
 * URT_TEST_THREADS: a plain thread writes the data the task waits for once
 * the loop sleeps in io_uring_enter. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"

TestSuite(net_sender_enter, .timeout = 60);

typedef struct helper {
	int tid;                    /* the loop's thread */
	int fd;                     /* write here once it sleeps */
} helper;

static void *write_when_asleep(void *arg)
{
	helper *h = arg;
	if (urt_test_wait_in_syscall(h->tid, SYS_io_uring_enter, -1, 10000) < 0)
		usleep(20000); /* the kernel cannot tell: a guess is all there is */
	cr_assert_eq(write(h->fd, "y", 1), 1);
	return NULL;
}

/* Send, then wait for data a thread writes while the loop sleeps: how
 * many enters did that take? */
static uint64_t enters_for_send_then_wait(void)
{
	int a[2], b[2]; /* a: the sender's socket; b: where the thread writes */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
	urt_sender *s;
	cr_assert_eq(urt_sender_open(&s, a[0], MSG_NOSIGNAL), 0);
	helper h = {.tid = urt_test_tid(), .fd = b[1]};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, write_when_asleep, &h), 0);
	urt_loop_stats s0, s1;
	urt_loop_stats_get(NULL, &s0);
	cr_assert_eq(urt_sender_send(s, "x", 1, NULL, NULL), 0);
	char c;
	cr_assert_eq(urt_recv(b[0], &c, 1, 0), 1);
	urt_loop_stats_get(NULL, &s1);
	pthread_join(th, NULL);
	cr_expect_eq(urt_sender_close(s), 0);
	cr_assert_eq(read(a[1], &c, 1), 1);
	cr_expect_eq(c, 'x');
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	return s1.enters - s0.enters;
}

static void *one_enter(void *arg)
{
	(void)arg;
	/* a very slow helper (over the 100 ms cap on such waits) costs a
	 * second enter: try a few times */
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 3 && best > 1; i++) {
		uint64_t n = enters_for_send_then_wait();
		best = n < best ? n : best;
	}
	cr_expect_eq(best, 1, "send + wait took %llu enters", (unsigned long long)best);
	return NULL;
}

Test(net_sender_enter, send_and_wait_share_one_enter) { urt_test_run(one_enter, NULL); }
