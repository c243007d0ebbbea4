/* Cross-thread wake-ups: an eventfd whose read is always armed in the
 * loop's own ring, so a wake-up is just another completion; and the
 * eventfd registered with the ring for embedding (urt_loop_fd). */
#include "uring_internal.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void wake_complete(urt_op *op, int res, unsigned flags);

static void wake_arm(struct urt_backend *b)
{
	struct io_uring_sqe *sqe = urt__sqe(b->loop);
	io_uring_prep_read(sqe, b->wake_fd, &b->wake_buf, sizeof b->wake_buf, 0);
	io_uring_sqe_set_data(sqe, &b->wake_op);
	b->wake_armed = true;
}

static void wake_complete(urt_op *op, int res, unsigned flags)
{
	(void)flags;
	struct urt_backend *b = (struct urt_backend *)((char *)op - offsetof(struct urt_backend, wake_op));
	b->wake_armed = false;
	/* clear before the loop looks at its inbox, so a later post writes again */
	atomic_store(&b->loop->wake_pending, 0);
	if (res != -ECANCELED && !b->wake_closing)
		wake_arm(b);
}

int urt__wake_init(struct urt_backend *b, urt_loop *l)
{
	b->loop = l;
	b->notify_fd = -1;
	b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->wake_fd < 0)
		return -errno;
	b->wake_op.complete = wake_complete;
	wake_arm(b);
	return 0;
}

/* Cancel the armed read and wait for its CQE: the kernel must not write
 * into wake_buf after the backend is freed. The read may complete with a
 * late wake-up instead of being cancelled (the cancel then finds
 * nothing): closing keeps its completion from arming a new read that
 * nothing would cancel. */
void urt__wake_fini(struct urt_backend *b)
{
	b->wake_closing = true;
	if (b->wake_armed) {
		urt__backend_cancel(b->loop, &b->wake_op);
		while (b->wake_armed)
			if (urt__backend_poll(b->loop, 10 * URT_NS_PER_MS) < 0)
				break;
	}
	close(b->wake_fd);
	if (b->notify_fd >= 0) {
		io_uring_unregister_eventfd(&b->ring);
		close(b->notify_fd);
	}
}

void urt__backend_wake(urt_loop *l)
{
	struct urt_backend *b = l->backend;
	uint64_t one = 1;
	/* A lost write would leave the loop asleep with wake_pending set
	 * (later posts do not write): retry EINTR. EAGAIN means the counter
	 * is saturated, so the loop wakes anyway; nothing else can fail on
	 * an eventfd the loop owns. */
	for (;;) {
		int r = urt__fault(URT_FAULT_EVENTFD);
		if (r == 0 && write(b->wake_fd, &one, sizeof one) < 0)
			r = -errno;
		if (r != -EINTR)
			break;
	}
}

int urt_loop_fd(urt_loop *l)
{
	if (urt__loop_foreign(l))
		return -ECHILD;
	if (!l || l != urt__loop())
		return -EINVAL;
	struct urt_backend *b = l->backend;
	if (b->notify_fd >= 0)
		return b->notify_fd;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	int r = io_uring_register_eventfd(&b->ring, fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	b->notify_fd = fd;
	return fd;
}
