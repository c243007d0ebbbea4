/* One fixture for "every kind of blocking call": set up an object a task
 * can block on forever, make the call, and afterwards check that the
 * interrupted call neither acquired nor transferred anything. Shared by the
 * cancellation and deadline tests so both cover exactly the same kinds.
 * Header-only (static functions): tests/CMakeLists.txt links check.c only. */
#ifndef URT_TEST_BLOCKERS_H
#define URT_TEST_BLOCKERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"

enum blk_kind {
	BLK_SLEEP,     /* urt_sleep(60 s) */
	BLK_EVENT,     /* urt_event_wait on an event nobody sets */
	BLK_MUTEX,     /* urt_mutex_lock on a mutex the fixture's owner holds */
	BLK_SEM,       /* urt_sem_acquire with count 0 */
	BLK_CHAN_SEND, /* urt_chan_send into a full channel */
	BLK_CHAN_RECV, /* urt_chan_recv from an empty channel */
	BLK_JOIN,      /* urt_join of a task that waits forever */
	BLK_WAIT_ALL,  /* urt_wait_all on that task */
	BLK_WAIT_ANY,  /* urt_wait_any on that task */
	BLK_READ,      /* urt_read on a pipe nobody writes (buffer on the caller's stack) */
	BLK_RECV,      /* urt_recv on a socket nobody writes (buffer on the caller's stack) */
	BLK_ACCEPT,    /* urt_accept on a listener nobody connects to */
	BLK_POLL,      /* urt_poll(POLLIN) on a pipe nobody writes */
};

typedef struct blk_env {
	enum blk_kind kind;
	urt_event never;    /* set only at teardown */
	urt_mutex mu;       /* held by the task that ran blk_setup */
	urt_sem sem;        /* count 0 */
	urt_chan full;      /* capacity 1, holds the int 42 */
	urt_chan empty;     /* capacity 1, empty */
	urt_task *waiter;   /* a task parked on `never`, target of join/wait */
	int pipefd[2];      /* read end is blocked on */
	int sv[2];          /* sv[0] is blocked on */
	int lfd;            /* TCP listener */
} blk_env;

static void *blk_waiter_fn(void *arg)
{
	blk_env *e = arg;
	int r = urt_event_wait(&e->never);
	return (void *)(intptr_t)(r == 0 ? 7 : r);
}

/* Run inside a task: the calling task becomes the mutex owner. */
static void blk_setup(blk_env *e, enum blk_kind kind)
{
	memset(e, 0, sizeof *e);
	e->kind = kind;
	urt_event_init(&e->never);
	urt_mutex_init(&e->mu);
	urt_sem_init(&e->sem, 0);
	cr_assert_eq(urt_mutex_lock(&e->mu), 0);
	cr_assert_eq(urt_chan_init(&e->full, sizeof(int), 1), 0);
	cr_assert_eq(urt_chan_init(&e->empty, sizeof(int), 1), 0);
	int v = 42;
	cr_assert_eq(urt_chan_try_send(&e->full, &v), 0);
	cr_assert_eq(urt_spawn(&e->waiter, blk_waiter_fn, e, NULL), 0);
	cr_assert_eq(pipe(e->pipefd), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, e->sv), 0);
	e->lfd = urt_tcp_listen("127.0.0.1", 0, 8, 0);
	cr_assert_geq(e->lfd, 0, "urt_tcp_listen: %s", urt_strerror(e->lfd));
}

/* The blocking call itself; I/O buffers live on this frame on purpose. */
static int blk_call(blk_env *e)
{
	char buf[256];
	int item = -1;
	urt_task *set[1] = {e->waiter};
	switch (e->kind) {
	case BLK_SLEEP: return urt_sleep(60 * URT_NS_PER_SEC);
	case BLK_EVENT: return urt_event_wait(&e->never);
	case BLK_MUTEX: return urt_mutex_lock(&e->mu);
	case BLK_SEM: return urt_sem_acquire(&e->sem);
	case BLK_CHAN_SEND: item = 99; return urt_chan_send(&e->full, &item);
	case BLK_CHAN_RECV: return urt_chan_recv(&e->empty, &item);
	case BLK_JOIN: return urt_join(e->waiter, NULL);
	case BLK_WAIT_ALL: return urt_wait_all(set, 1);
	case BLK_WAIT_ANY: return urt_wait_any(set, 1);
	case BLK_READ: return (int)urt_read(e->pipefd[0], buf, sizeof buf, URT_POS_CURRENT);
	case BLK_RECV: return (int)urt_recv(e->sv[0], buf, sizeof buf, 0);
	case BLK_ACCEPT: return urt_accept(e->lfd, NULL, NULL, SOCK_CLOEXEC);
	case BLK_POLL: return urt_poll(e->pipefd[0], POLLIN);
	}
	return -999;
}

/* After the call was interrupted: nothing acquired, nothing transferred,
 * and no kernel operation still waiting on the caller's (dead) buffer. */
static void blk_check_untouched(blk_env *e)
{
	int item = 0;
	char c = 0;
	switch (e->kind) {
	case BLK_MUTEX:
		cr_expect_eq(e->mu.owner, urt_self(), "mutex changed owner");
		break;
	case BLK_SEM:
		cr_expect_eq(urt_sem_tryacquire(&e->sem), -EAGAIN, "semaphore count moved");
		break;
	case BLK_CHAN_SEND:
		cr_expect_eq(urt_chan_len(&e->full), 1);
		cr_expect_eq(urt_chan_try_recv(&e->full, &item), 0);
		cr_expect_eq(item, 42, "a cancelled send replaced the item");
		cr_expect_eq(urt_chan_try_recv(&e->full, &item), -EAGAIN, "a cancelled send was delivered");
		break;
	case BLK_CHAN_RECV:
		item = 5;
		cr_expect_eq(urt_chan_try_send(&e->empty, &item), 0);
		cr_expect_eq(urt_chan_len(&e->empty), 1, "a cancelled receiver took the item");
		break;
	case BLK_READ:
	case BLK_POLL:
		/* a read still pending in the kernel would swallow this byte */
		cr_expect_eq(write(e->pipefd[1], "x", 1), 1);
		cr_expect_eq(urt_test_readable(e->pipefd[0]), 1, "an interrupted read still consumes data");
		cr_expect_eq(read(e->pipefd[0], &c, 1), 1);
		cr_expect_eq(c, 'x');
		break;
	case BLK_RECV:
		cr_expect_eq(send(e->sv[1], "y", 1, 0), 1);
		cr_expect_eq(urt_test_readable(e->sv[0]), 1, "an interrupted recv still consumes data");
		cr_expect_eq(recv(e->sv[0], &c, 1, MSG_DONTWAIT), 1);
		cr_expect_eq(c, 'y');
		break;
	default:
		break;
	}
}

/* Release everything; the waiter must still be joinable (an interrupted
 * join/wait did not claim it). */
static void blk_teardown(blk_env *e)
{
	cr_expect_eq(urt_event_set(&e->never), 0);
	void *res = NULL;
	cr_expect_eq(urt_join(e->waiter, &res), 0, "the waiter was claimed by an interrupted join");
	cr_expect_eq((intptr_t)res, 7);
	if (e->mu.owner == urt_self())
		cr_expect_eq(urt_mutex_unlock(&e->mu), 0);
	cr_expect_eq(urt_chan_destroy(&e->full), 0);
	cr_expect_eq(urt_chan_destroy(&e->empty), 0);
	close(e->pipefd[0]);
	close(e->pipefd[1]);
	close(e->sv[0]);
	close(e->sv[1]);
	close(e->lfd);
}

#endif
