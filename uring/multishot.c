/* Multishot receive and accept: one request that keeps producing CQEs
 * (IORING_CQE_F_MORE says another will follow). Each object is on the
 * heap, not on a task's stack, so a waiting task may be interrupted
 * without cancelling the request: what arrives meanwhile is queued. The
 * request is re-armed on the next call once the kernel has ended it
 * (-ENOBUFS, a full CQ, an accept error), and close cancels it and waits
 * for the final CQE (the one without F_MORE) before freeing. */
#include "net_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct urt_msrecv {
	urt_op op;                  /* the multishot's CQEs land here */
	urt_loop *loop;
	urt_bufring *br;
	int fd;
	unsigned flags;             /* URT_NET_* */
	bool armed;                 /* its final CQE has not arrived */
	bool closing;               /* a cancel was sent by close */
	bool ended;                 /* end of stream or an error: end_res */
	int end_res;                /* 0 (EOF) or -errno, returned from then on */
	int head, tail;             /* queue of filled buffer ids, -1 when empty */
	urt_task *waiter;           /* task parked in next() or close() */
	urt_task *reader;           /* task inside next(), parked or not: close waits for none */
};

/* An interrupted wait: the request stays armed, what comes is queued. */
static void wait_interrupt(urt_task *t, int err)
{
	urt_task **slot = t->wait_obj;
	*slot = NULL;
	urt__wake(t, err);
}

/* Waits that must not end early (close): the final CQE wakes the task. */
static void wait_until_done(urt_task *t, int err)
{
	(void)t, (void)err;
}

static void wake_waiter(urt_task **w)
{
	if (*w) {
		urt__wake(*w, 0);
		*w = NULL;
	}
}

/* Park the current task in *slot until something wakes it. */
static int wait_on(urt_loop *l, urt_task *t, urt_task **slot, urt_interrupt_fn fn,
		   const char *what)
{
	*slot = t;
	return urt__park(l, t, fn, slot, what, URT_NO_DEADLINE);
}

static void fixed_file(struct io_uring_sqe *sqe, unsigned flags)
{
	if (flags & URT_NET_FIXED)
		sqe->flags |= IOSQE_FIXED_FILE;
}

/* The request in sqe is in flight until its final CQE (see ms_cqe). */
static void ms_arm(urt_loop *l, struct io_uring_sqe *sqe, urt_op *op, bool *armed)
{
	io_uring_sqe_set_data(sqe, op);
	*armed = true;
	l->inflight++;
}

/* After a CQE: without IORING_CQE_F_MORE it was the last one, the request
 * is over and the next call re-arms it. Then wake the parked task. */
static void ms_cqe(urt_loop *l, unsigned flags, bool *armed, urt_task **waiter)
{
	if (!(flags & IORING_CQE_F_MORE)) {
		*armed = false;
		l->inflight--;
	}
	wake_waiter(waiter);
}

/* Start of a blocking next(): the calling task, on the object's loop,
 * and no other task inside next() (one queue, one reader: -EBUSY). */
static int ms_enter(urt_loop *owner, const urt_task *reader, urt_loop **l, urt_task **t)
{
	int e = urt__may_block(l, t);
	if (e < 0)
		return e;
	if (owner != *l)
		return -EINVAL;
	return reader ? -EBUSY : 0;
}

/* Close: cancel an armed request and wait for its final CQE, which may
 * still write into the object. 0; -EPERM outside a task; -EBUSY while
 * another task is inside next(): parked or woken, it still reads the
 * object, which close would free under it (cancel that task first). */
static int ms_cancel(urt_loop *l, urt_op *op, bool *armed, bool *closing,
		     urt_task **waiter, const urt_task *reader, const char *what)
{
	if (reader)
		return -EBUSY;
	if (!*armed)
		return 0;
	if (!l->current)
		return -EPERM;
	*closing = true;
	urt__backend_cancel(l, op);
	while (*armed)
		wait_on(l, l->current, waiter, wait_until_done, what);
	return 0;
}

/* ---- receive ------------------------------------------------------------ */

static void recv_complete(urt_op *op, int res, unsigned flags)
{
	urt_msrecv *r = (urt_msrecv *)op;
	if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		urt__bufring_took(r->br, bid, (uint32_t)res);
		/* next[] links only a queue of two or more: the usual queue of
		 * one touches none of it (see recv_pop) */
		if (r->tail >= 0)
			r->br->next[r->tail] = (uint16_t)bid;
		else
			r->head = (int)bid;
		r->tail = (int)bid;
	} else if (res == -ENOBUFS) {
		r->loop->stats.enobufs++; /* re-armed by the next urt_msrecv_next */
	} else if (res <= 0 && !(r->closing && res == -ECANCELED)) {
		r->ended = true;
		r->end_res = res;
	}
	ms_cqe(r->loop, flags, &r->armed, &r->waiter);
}

int urt_msrecv_open(urt_msrecv **out, int fd, urt_bufring *br, unsigned flags)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (!out || !br || br->loop != l || (flags & ~URT_NET_FIXED) || fd < 0)
		return -EINVAL;
	urt_msrecv *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->op.complete = recv_complete;
	r->loop = l;
	r->br = br;
	r->fd = fd;
	r->flags = flags;
	r->head = r->tail = -1;
	br->users++;
	*out = r;
	return 0;
}

static void recv_arm(urt_msrecv *r)
{
	struct io_uring_sqe *sqe = urt__sqe(r->loop);
	io_uring_prep_recv_multishot(sqe, r->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = r->br->bgid;
	fixed_file(sqe, r->flags);
	ms_arm(r->loop, sqe, &r->op, &r->armed);
}

static unsigned recv_pop(urt_msrecv *r)
{
	unsigned bid = (unsigned)r->head;
	if (r->head == r->tail) /* the last one: its next[] was never set */
		r->head = r->tail = -1;
	else
		r->head = r->br->next[bid];
	return bid;
}

static ssize_t recv_next(urt_msrecv *r, urt_loop *l, urt_task *t, urt_buf *b)
{
	int e;
	for (;;) {
		if (r->head >= 0) {
			unsigned bid = recv_pop(r);
			b->id = bid;
			b->data = r->br->mem + (size_t)bid * r->br->bufsize;
			b->len = r->br->len[bid];
			return (ssize_t)b->len;
		}
		if (r->ended)
			return r->end_res;
		if (!r->armed) {
			/* no buffer at all: arming now would only end in -ENOBUFS again */
			if (r->br->out == r->br->nbufs) {
				struct urt__waiter w = {0};
				urt__backend_unquiet(l); /* a sent buffer may come back */
				e = urt__waitq_wait(l, t, &r->br->room, &w, "recv buffer");
				if (e < 0)
					return e;
				continue;
			}
			recv_arm(r);
		}
		e = wait_on(l, t, &r->waiter, wait_interrupt, "recv multishot");
		if (e < 0)
			return e;
	}
}

ssize_t urt_msrecv_next(urt_msrecv *r, urt_buf *b)
{
	if (!r || !b)
		return -EINVAL;
	urt_loop *l;
	urt_task *t;
	int e = ms_enter(r->loop, r->reader, &l, &t);
	if (e < 0)
		return e;
	r->reader = t;
	ssize_t n = recv_next(r, l, t, b);
	r->reader = NULL;
	return n;
}

int urt_msrecv_close(urt_msrecv *r)
{
	urt_loop *l = urt__loop();
	if (!r || r->loop != l)
		return -EINVAL;
	int e = ms_cancel(l, &r->op, &r->armed, &r->closing, &r->waiter, r->reader, "recv cancel");
	if (e < 0)
		return e;
	while (r->head >= 0)
		urt__bufring_put(r->br, recv_pop(r));
	r->br->users--;
	free(r);
	return 0;
}

/* ---- accept ------------------------------------------------------------- */

static void acc_push(urt_acceptor *a, int fd)
{
	if (a->qlen == a->qcap) {
		unsigned cap = a->qcap ? a->qcap * 2 : 64;
		int *q = malloc(cap * sizeof *q);
		if (!q) { /* keep the loop going: drop this connection */
			if (!(a->flags & URT_NET_FIXED))
				close(fd);
			return;
		}
		for (unsigned i = 0; i < a->qlen; i++)
			q[i] = a->q[(a->qhead + i) % a->qcap];
		free(a->q);
		a->q = q;
		a->qhead = 0;
		a->qcap = cap;
	}
	a->q[(a->qhead + a->qlen++) % a->qcap] = fd;
}

static int acc_pop(urt_acceptor *a)
{
	int fd = a->q[a->qhead];
	a->qhead = (a->qhead + 1) % a->qcap;
	a->qlen--;
	return fd;
}

static void acc_complete(urt_op *op, int res, unsigned flags)
{
	urt_acceptor *a = (urt_acceptor *)op;
	if (res >= 0)
		acc_push(a, res);
	else if (!(a->closing && res == -ECANCELED))
		a->err = res;
	ms_cqe(a->loop, flags, &a->armed, &a->waiter);
}

int urt_acceptor_open(urt_acceptor **out, int lfd, int sock_flags, unsigned flags)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (!out || lfd < 0 || (flags & ~URT_NET_FIXED) ||
	    (sock_flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)))
		return -EINVAL;
	urt_acceptor *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->op.complete = acc_complete;
	a->loop = l;
	a->lfd = lfd;
	a->sock_flags = sock_flags;
	a->flags = flags;
	*out = a;
	return 0;
}

static void acc_arm(urt_acceptor *a)
{
	struct io_uring_sqe *sqe = urt__sqe(a->loop);
	if (a->flags & URT_NET_FIXED)
		io_uring_prep_multishot_accept_direct(sqe, a->lfd, NULL, NULL, a->sock_flags);
	else
		io_uring_prep_multishot_accept(sqe, a->lfd, NULL, NULL, a->sock_flags);
	ms_arm(a->loop, sqe, &a->op, &a->armed);
}

int urt__acceptor_try(urt_acceptor *a)
{
	if (a->qlen)
		return acc_pop(a);
	if (a->err) {
		int e = a->err;
		a->err = 0;
		return e;
	}
	if (!a->armed && !a->closing)
		acc_arm(a);
	return -EAGAIN;
}

int urt_acceptor_next(urt_acceptor *a)
{
	if (!a)
		return -EINVAL;
	urt_loop *l;
	urt_task *t;
	int e = ms_enter(a->loop, a->reader, &l, &t);
	if (e < 0)
		return e;
	a->reader = t;
	int fd;
	while ((fd = urt__acceptor_try(a)) == -EAGAIN &&
	       (fd = wait_on(l, t, &a->waiter, wait_interrupt, "accept multishot")) == 0)
		;
	a->reader = NULL;
	return fd;
}

int urt_acceptor_close(urt_acceptor *a)
{
	urt_loop *l = urt__loop();
	if (!a || a->loop != l)
		return -EINVAL;
	int e = ms_cancel(l, &a->op, &a->armed, &a->closing, &a->waiter, a->reader, "accept cancel");
	if (e < 0)
		return e;
	while (a->qlen) {
		int fd = acc_pop(a);
		if (a->flags & URT_NET_FIXED) {
			struct io_uring_sqe *sqe = urt__sqe(l);
			io_uring_prep_close_direct(sqe, (unsigned)fd);
			io_uring_sqe_set_data(sqe, NULL);
		} else {
			close(fd);
		}
	}
	free(a->q);
	free(a);
	return 0;
}
