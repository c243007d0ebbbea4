/* The generic I/O step: an operation record on the caller's stack, the
 * task parked until its CQE. Cancel and deadline send an async cancel but
 * still wait for the original CQE: the kernel may be writing into the
 * caller's buffer until then. */
#include "uring_internal.h"
#include "probes.h"

#include <errno.h>
#include <time.h>

/* When an I/O wait began, only for dumps ("fd 7 for 1200 ms"): a coarse
 * clock is plenty and costs a memory read instead of a TSC read, which a
 * profile showed at about 1 % of an echo server's CPU (one per send).
 * CLOCK_MONOTONIC_COARSE never runs ahead of CLOCK_MONOTONIC, so a dump's
 * now - wait_since stays >= 0. Paused time keeps the loop's clock. */
static uint64_t wait_start(urt_loop *l)
{
	if (l->cfg.flags & URT_CFG_PAUSED_TIME)
		return urt__now(l);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * URT_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void io_complete(urt_op *op, int res, unsigned flags)
{
	(void)flags;
	URT_PROBE3(complete, op->task->id, op, res);
	op->task->loop->inflight--;
	if (op->interrupted && res == -ECANCELED)
		res = op->interrupted; /* -ETIME or -ECANCELED, as the caller asked */
	urt__wake(op->task, res);
}

static void io_interrupt(urt_task *t, int err)
{
	urt_op *op = t->wait_obj;
	op->interrupted = err;
	urt__backend_cancel(t->loop, op);
}

int urt__io_begin(urt_loop **l, urt_task **t, struct io_uring_sqe **sqe)
{
	int r = urt__may_block(l, t);
	if (r < 0)
		return r;
	*sqe = urt__sqe(*l);
	return 0;
}

int urt__io_wait(urt_loop *l, urt_task *t, struct io_uring_sqe *sqe, const char *what)
{
	urt_op op = {.complete = io_complete, .task = t};
	io_uring_sqe_set_data(sqe, &op);
	l->inflight++;
	t->wait_fd = sqe->fd; /* for dumps: an I/O op costs far more than this */
	t->wait_since = wait_start(l);
	URT_PROBE3(submit, t->id, &op, sqe->opcode);
	return urt__park(l, t, io_interrupt, &op, what, URT_NO_DEADLINE);
}
