/* Zero-copy send (IORING_OP_SEND_ZC). The kernel posts two CQEs: the
 * result (with IORING_CQE_F_MORE when a notification follows) and, once
 * the network stack no longer references the pages, the notification
 * (IORING_CQE_F_NOTIF). The task stays parked until both have arrived, so
 * returning means the caller may reuse or free its buffer. */
#include "net_internal.h"

#include <errno.h>

struct zc_op {
	urt_op op;      /* first: the CQEs point here */
	int res;        /* the send's result */
	bool done;      /* every CQE has arrived */
};

static void zc_complete(urt_op *op, int res, unsigned flags)
{
	struct zc_op *z = (struct zc_op *)op;
	if (flags & IORING_CQE_F_NOTIF) {
		z->done = true;
	} else {
		z->res = res;
		if (op->interrupted && res == -ECANCELED)
			z->res = op->interrupted;
		z->done = !(flags & IORING_CQE_F_MORE);
	}
	if (z->done) {
		op->task->loop->inflight--;
		urt__wake(op->task, z->res);
	}
}

static void zc_interrupt(urt_task *t, int err)
{
	urt_op *op = t->wait_obj;
	op->interrupted = err;
	urt__backend_cancel(t->loop, op); /* both CQEs still arrive */
}

ssize_t urt_send_zc(int fd, const void *buf, size_t len, int flags)
{
	if (!buf && len)
		return -EFAULT;
	urt_loop *l;
	urt_task *t;
	struct io_uring_sqe *sqe;
	int r = urt__io_begin(&l, &t, &sqe);
	if (r < 0)
		return r;
	io_uring_prep_send_zc(sqe, fd, buf, urt__len32(len), flags, 0);
	struct zc_op z = {.op = {.complete = zc_complete, .task = t}};
	io_uring_sqe_set_data(sqe, &z.op);
	l->inflight++;
	t->wait_fd = fd;
	t->wait_since = urt__now(l);
	return urt__park(l, t, zc_interrupt, &z.op, "send_zc", URT_NO_DEADLINE);
}
