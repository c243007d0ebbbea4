/* Submission and completion: the one io_uring_enter of a tick, SQE
 * acquisition (a full SQ is flushed, never reported), and reaping CQEs in
 * batches. */
#include "uring_internal.h"

#include <errno.h>
#include <sched.h>

/* Publish queued SQEs to the kernel; returns how many it has not consumed. */
static unsigned flush_sq(struct io_uring *ring)
{
	struct io_uring_sq *sq = &ring->sq;
	unsigned tail = sq->sqe_tail;
	if (sq->sqe_head != tail) {
		sq->sqe_head = tail;
		io_uring_smp_store_release(sq->ktail, tail);
	}
	return tail - IO_URING_READ_ONCE(*sq->khead);
}

/* A wait asking for more than one completion is capped (ext_arg only), in
 * case a quiet CQE was not posted at submission after all (a failed
 * submit): the extra wait for real work is then bounded. */
#define QUIET_CAP_NS (100 * URT_NS_PER_MS)

/* Under valgrind (3.19 at least), a thread in io_uring_enter keeps
 * valgrind's big lock: no other thread of the process runs until the
 * enter returns, so a loop waiting for a worker's completion (offload,
 * cross-thread submission) would wait forever. There the loop yields the
 * lock before each wait and waits at most this long. */
#define VALGRIND_WAIT_NS (1 * URT_NS_PER_MS)

static bool cq_needs_flush(struct io_uring *ring)
{
	return IO_URING_READ_ONCE(*ring->sq.kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN);
}

static int enter(urt_loop *l, unsigned submit, unsigned min, unsigned flags, void *arg, size_t argsz)
{
	struct urt_backend *b = l->backend;
	int fd = b->ring.ring_fd;
	flags |= IORING_ENTER_GETEVENTS;
	if (b->registered_fd) {
		flags |= IORING_ENTER_REGISTERED_RING;
		fd = b->ring.enter_ring_fd;
	}
	l->stats.enters++;
	int r = urt__fault(URT_FAULT_ENTER);
	if (r == 0)
		r = io_uring_enter2((unsigned)fd, submit, min, flags, arg, argsz);
	if (r > 0)
		l->stats.sqes += (unsigned)r;
	return r;
}

/* Dispatch every CQE there is. Each CQE's fields are read and its slot
 * released before its handler runs, so a handler may take SQEs and even
 * flush a full SQ (which reaps recursively: the head is read back after
 * each handler). The tail is read once per batch (io_uring_for_each_cqe
 * reloads it, and re-checks the ring's CQE32 flag, for every CQE); urt's
 * rings have 16-byte CQEs. */
static unsigned reap(urt_loop *l)
{
	struct io_uring_cq *cq = &l->backend->ring.cq;
	unsigned total = 0;
	unsigned head = *cq->khead, tail = head;
	for (;;) {
		if ((int)(tail - head) <= 0) {
			tail = io_uring_smp_load_acquire(cq->ktail);
			if (tail == head)
				break;
		}
		const struct io_uring_cqe *cqe = &cq->cqes[head & cq->ring_mask];
		urt_op *op = (urt_op *)(uintptr_t)cqe->user_data;
		int res = cqe->res;
		unsigned flags = cqe->flags;
		io_uring_smp_store_release(cq->khead, head + 1);
		total++;
		if (op)
			op->complete(op, res, flags);
		head = *cq->khead;
	}
	l->stats.cqes += total;
	return total;
}

static bool transient(int r)
{
	return r == -EINTR || r == -EAGAIN || r == -EBUSY || r == -ETIME;
}

struct io_uring_sqe *urt__sqe_slow(urt_loop *l)
{
	struct io_uring *ring = &l->backend->ring;
	for (;;) {
		/* full (or an injected failure): submit what is queued, reap, retry */
		l->stats.sq_full++;
		l->backend->quiet = 0;
		int r = enter(l, flush_sq(ring), 0, 0, NULL, 0);
		if (r < 0 && !transient(r))
			urt__fatal("io_uring_enter failed while flushing a full SQ", r);
		reap(l);
		struct io_uring_sqe *sqe = urt__fault(URT_FAULT_SQE) ? NULL : io_uring_get_sqe(ring);
		if (sqe)
			return sqe;
	}
}

static void ns_to_ts(uint64_t ns, struct __kernel_timespec *ts)
{
	ts->tv_sec = (long long)(ns / URT_NS_PER_SEC);
	ts->tv_nsec = (long long)(ns % URT_NS_PER_SEC);
}

/* What ends an I/O spin: a completion, kernel work pending for this
 * thread, or a message from another thread. */
static bool io_spin_done(urt_loop *l)
{
	struct io_uring *ring = &l->backend->ring;
	return io_uring_cq_ready(ring) || cq_needs_flush(ring) || urt__inbox_waiting(l);
}

/* The I/O spin (urt_config.io_spin_ns), before a wait with I/O in flight:
 * submit what is queued and reap what that completed (as the wait would),
 * then poll the CQ and the kernel's pending-work flag (TASKRUN_FLAG rings:
 * a completion waiting for this thread to run it) for at most the spin or
 * *timeout_ns (left as what remains of the wait). true: no wait needed (a task is ready, or something came:
 * the caller's enter, without waiting, runs the kernel's work and reaps).
 * *reaped: the CQEs it dispatched. */
static bool io_spin(urt_loop *l, uint64_t *timeout_ns, unsigned *reaped)
{
	struct urt_backend *b = l->backend;
	struct io_uring *ring = &b->ring;
	b->quiet = 0; /* submitted now: their completions are reaped below */
	unsigned submit = flush_sq(ring);
	if (submit || cq_needs_flush(ring)) {
		int r = enter(l, submit, 0, 0, NULL, 0);
		if (r < 0 && !transient(r))
			return false; /* the wait's enter reports it */
	}
	*reaped = reap(l);
	/* a message from another thread counts as work too: its wake-up CQE
	 * may have been among those just reaped, and a sleep would not end
	 * on it again */
	if (l->nready || urt__inbox_waiting(l))
		return true;
	if (!l->inflight)
		return false; /* nothing can complete: sleep (the inbox wakes it) */
	if (!urt__spin_until(l, l->cfg.io_spin_ns, timeout_ns, io_spin_done))
		return false;
	l->stats.io_spins++;
	return true;
}

int urt__backend_poll(urt_loop *l, uint64_t timeout_ns)
{
	struct urt_backend *b = l->backend;
	struct io_uring *ring = &b->ring;
	struct __kernel_timespec *ts = &b->wait_ts;
	struct io_uring_getevents_arg ea = {0};
	void *arg = NULL;
	size_t argsz = 0;
	unsigned flags = 0, min = 0;
	bool wait = timeout_ns != 0 && io_uring_cq_ready(ring) == 0;
	unsigned spun = 0;
	if (wait && l->cfg.io_spin_ns && l->inflight && !b->under_valgrind &&
	    (io_spin(l, &timeout_ns, &spun) || !timeout_ns))
		wait = false; /* something came, or the spin used up the wait */

	if (wait) {
		l->stats.waits++;
		min = 1;
		if (URT_UNLIKELY(b->under_valgrind)) {
			sched_yield();
			if (timeout_ns > VALGRIND_WAIT_NS)
				timeout_ns = VALGRIND_WAIT_NS;
		}
		if (b->quiet && b->ext_arg) {
			min += b->quiet;
			if (timeout_ns > QUIET_CAP_NS)
				timeout_ns = QUIET_CAP_NS;
		}
		if (timeout_ns != URT_NO_DEADLINE) {
			ns_to_ts(timeout_ns, ts);
			if (b->ext_arg) {
				ea.ts = (uint64_t)(uintptr_t)ts;
				flags |= IORING_ENTER_EXT_ARG;
				arg = &ea;
				argsz = sizeof ea;
			} else {
				struct io_uring_sqe *sqe = urt__sqe(l);
				if (l->nready) {
					/* the SQ was full: taking this SQE flushed it,
					 * and what that reaped woke tasks: no wait */
					io_uring_prep_nop(sqe);
					io_uring_sqe_set_data(sqe, NULL);
					wait = false;
					min = 0;
				} else {
					/* count = 1: it also ends as soon as any other CQE arrives */
					io_uring_prep_timeout(sqe, ts, 1, 0);
					io_uring_sqe_set_data(sqe, &b->timeout_op);
				}
			}
		}
	}
	b->quiet = 0;
	unsigned submit = flush_sq(ring);
	if (submit || wait || cq_needs_flush(ring)) {
		int r = enter(l, submit, min, flags, arg, argsz);
		if (r < 0 && !transient(r))
			return r;
	}
	if (IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_CQ_OVERFLOW)
		l->stats.cq_overflow++;
	unsigned n = spun + reap(l);
	/* CQEs per tick, log2 buckets: 0, 1, 2-3, 4-7, ... 64+ */
	unsigned bucket = n ? 32 - (unsigned)__builtin_clz(n) : 0;
	l->stats.cqe_hist[bucket < 7 ? bucket : 7]++;
	return 0;
}

void urt__backend_cancel(urt_loop *l, urt_op *op)
{
	struct io_uring_sqe *sqe = urt__sqe(l);
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data(sqe, NULL); /* its own CQE is of no interest */
}
