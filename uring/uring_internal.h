/* uring/'s private contract: the backend record, SQE acquisition and the
 * generic "submit one operation and park until its CQE" step. */
#ifndef URT_URING_INTERNAL_H
#define URT_URING_INTERNAL_H

#include <liburing.h>
#include "core_internal.h"
#include "urt_io.h"

struct urt_backend {
	struct io_uring ring;
	unsigned setup_flags;   /* IORING_SETUP_* the ring was created with */
	bool registered_fd;     /* enter through the registered ring index */
	bool ext_arg;           /* IORING_ENTER_EXT_ARG waits (else a TIMEOUT SQE) */
	bool under_valgrind;    /* waits are short and yield first (poll.c) */
	bool op_socket;         /* IORING_OP_SOCKET usable */
	/* SQEs taken since the last enter whose CQE the kernel posts during
	 * that enter's submission and which wake no task (sender.c: first
	 * MSG_DONTWAIT tries): the enter's wait asks for that many more
	 * completions, so it does not end on them alone (poll.c). */
	unsigned quiet;
	urt_op timeout_op;      /* completion target of fallback TIMEOUT SQEs */
	/* The timeout of the wait (poll.c). A TIMEOUT SQE points at it and
	 * the kernel reads it when it submits the SQE, which an enter that
	 * fails leaves to the next one: it must outlive the poll. */
	struct __kernel_timespec wait_ts;
	int wake_fd;            /* eventfd other threads write to wake the loop */
	urt_op wake_op;         /* the read kept armed on wake_fd */
	uint64_t wake_buf;      /* where that read lands */
	bool wake_armed;        /* its CQE has not arrived yet */
	bool wake_closing;      /* wake_fini runs: a completed read is not re-armed */
	int notify_fd;          /* eventfd registered with the ring (urt_loop_fd), or -1 */
	urt_loop *loop;
};

int urt__wake_init(struct urt_backend *b, urt_loop *l);
void urt__wake_fini(struct urt_backend *b);

/* The full-SQ path of urt__sqe: submit what is queued, reap, retry. */
struct io_uring_sqe *urt__sqe_slow(urt_loop *l);

/* An SQE for the current tick; never NULL: a full SQ is submitted first.
 * Inline and without liburing's io_uring_get_sqe, which re-checks the
 * ring's SQE128 and SQPOLL flags on every call: urt's rings use neither,
 * and without SQPOLL the kernel moves khead only inside our own enter, so
 * a plain read of it is enough. One SQE is taken per round trip of an
 * echo server, so these few instructions are on its hottest path. */
static inline struct io_uring_sqe *urt__sqe(urt_loop *l)
{
	struct io_uring_sq *sq = &l->backend->ring.sq;
	unsigned tail = sq->sqe_tail;
	if (URT_LIKELY(!urt__fault(URT_FAULT_SQE) &&
		       tail - IO_URING_READ_ONCE(*sq->khead) < sq->ring_entries)) {
		sq->sqe_tail = tail + 1;
		return &sq->sqes[tail & sq->ring_mask];
	}
	return urt__sqe_slow(l);
}

/* The SQE just taken completes during the enter that submits it and its
 * completion wakes no task (sender.c: a first, MSG_DONTWAIT try with no
 * done callback): that enter waits for one more completion per such SQE,
 * so it does not end on them alone (poll.c). */
static inline void urt__backend_quiet_sqe(urt_loop *l) { l->backend->quiet++; }
/* A task is about to wait for something a quiet completion provides (a
 * sender going idle, a buffer coming back to its ring): this tick's enter
 * must end on the first completion again. */
static inline void urt__backend_unquiet(urt_loop *l) { l->backend->quiet = 0; }
/* Check the caller may block and take an SQE. Returns 0 or the error. */
int urt__io_begin(urt_loop **l, urt_task **t, struct io_uring_sqe **sqe);
/* Point sqe at an operation on this stack frame, park until its CQE and
 * return the result (deadline/cancel send an async cancel and still wait). */
int urt__io_wait(urt_loop *l, urt_task *t, struct io_uring_sqe *sqe, const char *what);

/* The body of every task-level I/O call: prep is a statement that fills
 * `sqe`. */
#define URT_IO_CALL(what, prep)                                         \
	do {                                                            \
		urt_loop *l_;                                           \
		urt_task *t_;                                           \
		struct io_uring_sqe *sqe;                               \
		int r_ = urt__io_begin(&l_, &t_, &sqe);                 \
		if (r_ < 0)                                             \
			return r_;                                      \
		prep;                                                   \
		return urt__io_wait(l_, t_, sqe, what);                 \
	} while (0)

/* io_uring lengths are 32-bit: longer requests become short transfers.
 * Only calls that document short transfers use it (read, write, recv,
 * send, splice): the URT_FAULT_SHORT seam halves the request here, before
 * submission, so the kernel really moves fewer bytes. */
static inline unsigned urt__len32(size_t len)
{
	unsigned n = len > 0x7ffff000u ? 0x7ffff000u : (unsigned)len;
	if (n > 1 && urt__fault(URT_FAULT_SHORT))
		n /= 2;
	return n;
}

#endif
