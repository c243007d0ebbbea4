/* Loop-to-loop messages through IORING_OP_MSG_RING: the sender's ring
 * posts a CQE straight into the target's ring, whose user_data points at
 * an urt_op whose complete() runs the message on the target loop; no
 * eventfd and no armed read on the way.
 *
 * The target's ring fd must stay open while the kernel resolves it, so the
 * SQE is submitted at once, between the same posters/state handshake
 * urt__loop_post uses (urt_loop_destroy waits for posters == 0 before it
 * tears the ring down). A message already in the target's CQ (or queued as
 * its task work) when it closes is still reaped by the teardown's last
 * poll, where the message sees urt__loop_closing(). The sender gets a CQE
 * only on failure (IOSQE_CQE_SKIP_SUCCESS): then it falls back to the
 * inbox. That CQE is not counted in the sender's l->inflight (a success
 * posts none to uncount it), and need not be: the kernel fails an
 * IORING_MSG_DATA message while it submits it (only an IOPOLL target, which
 * urt never makes, sends it to io-wq), so the CQE is in the CQ before
 * io_uring_submit returns. The sender's next poll reaps it, and if the
 * loop ends first, its teardown does: urt__wake_fini polls until the
 * cancelled eventfd read's CQE, queued after this one, has been reaped.
 * It wakes none of the sender's tasks, so no deadlock verdict and no end
 * of a run needs to wait for it. */
#include "offload_internal.h"
#include "uring_internal.h"

#include <errno.h>

static void dst_complete(urt_op *op, int res, unsigned flags)
{
	(void)res, (void)flags;
	struct urt__ring_msg *rm = (struct urt__ring_msg *)op;
	URT_TSAN_ACQUIRE(rm);
	urt_loop *l = urt__loop();
	if (l == rm->target)
		rm->m->run(l, rm->m);
	else if (urt__loop_post(rm->target, rm->m) < 0) /* never seen: a reused fd */
		rm->fail(rm->m, -ESHUTDOWN);
}

static void src_complete(urt_op *op, int res, unsigned flags)
{
	(void)flags;
	struct urt__ring_msg *rm = (struct urt__ring_msg *)((char *)op - offsetof(struct urt__ring_msg, src));
	(void)res; /* the message did not go out: try the inbox */
	if (urt__loop_post(rm->target, rm->m) < 0)
		rm->fail(rm->m, -ESHUTDOWN);
}

int urt__msgring_post(urt_loop *target, struct urt__ring_msg *rm)
{
	urt_loop *self = urt__loop();
	if (!self || self == target)
		return -ENOTSUP;
	rm->target = target;
	rm->dst.complete = dst_complete;
	rm->src.complete = src_complete;
	atomic_fetch_add(&target->posters, 1);
	if (atomic_load(&target->state) != URT_LOOP_OPEN) {
		atomic_fetch_sub(&target->posters, 1);
		return -ESHUTDOWN;
	}
	URT_TSAN_RELEASE(rm); /* the kernel carries it to the target's thread */
	struct io_uring_sqe *sqe = urt__sqe(self);
	io_uring_prep_msg_ring(sqe, target->backend->ring.ring_fd, 0, (uint64_t)(uintptr_t)&rm->dst, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data(sqe, &rm->src);
	int r = io_uring_submit(&self->backend->ring);
	atomic_fetch_sub(&target->posters, 1);
	if (r < 0)
		urt__fatal("offload: io_uring_submit for MSG_RING", r);
	return 0;
}
