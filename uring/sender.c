/* Senders (urt_io.h): sends that return at once. A sender keeps a FIFO of
 * buffers for one socket and at most one io_uring send in flight, so the
 * bytes leave in call order even when a send goes short or waits for
 * socket space (two sends in flight on one socket could overtake each
 * other). The completion handler continues a short send, hands the buffer
 * back (done callback or buffer ring) and submits the next one: no task
 * is woken for a send, which is the point (see urt_send for the waiting
 * kind). While the queue is not empty it counts as one in-flight
 * operation, so the loop keeps running until the data is out. */
#include "net_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INLINE_SLOTS 2 /* queue entries without an allocation: one response in flight plus one */
/* the queue's capacity starts here and doubles: a power of two, so a
 * position wraps with a mask, not a division */
_Static_assert((INLINE_SLOTS & (INLINE_SLOTS - 1)) == 0, "INLINE_SLOTS: a power of two");
/* The steps of one send (queue, submit, complete, hand back) are small
 * and each runs once per message: inlined, so a message costs no calls
 * and register spills beyond the SQE itself. */
#define HOT static inline __attribute__((always_inline))

typedef struct send_entry {
	const char *buf;
	size_t len;
	size_t off;                 /* bytes already sent */
	urt_send_done_fn done;      /* caller's callback, or NULL */
	void *arg;
	urt_bufring *br;            /* a buffer-ring buffer goes back here, or NULL */
	unsigned bid;
} send_entry;

struct urt_sender {
	urt_op op;                  /* the send in flight completes here */
	urt_loop *loop;
	int fd;
	int flags;                  /* MSG_* for every send */
	int err;                    /* sticky: the first failure */
	bool closing;               /* close cancelled the send in flight */
	bool closed;                /* close has begun: a flush no longer waits */
	unsigned flushers;          /* tasks in urt_sender_flush: close frees nothing under them */
	bool waiting;               /* the send in flight may wait for socket space */
	size_t pending;             /* bytes queued and not sent */
	send_entry *q;              /* ring buffer; q[head] is in flight when qlen > 0 */
	unsigned head, qlen, cap;
	/* right after the fields every send touches: a message in flight
	 * touches two cache lines of its sender, not three */
	send_entry inl[INLINE_SLOTS];
	urt_waitq idle;             /* flush callers, woken when the queue empties */
	urt_task *closer;           /* close waiting (uninterruptibly) for the last CQE */
};

/* Send the rest of the head entry. The first try of an entry does not
 * wait for socket space (MSG_DONTWAIT), so the kernel completes it within
 * the enter that submits it and that enter can go on to wait for real
 * work (see poll.c: quiet SQEs); what it could not send (-EAGAIN, short)
 * is sent by a second send that waits (MSG_WAITALL: the kernel itself
 * continues short sends). */
HOT void submit(urt_sender *s, bool first)
{
	send_entry *e = &s->q[s->head];
	struct io_uring_sqe *sqe = urt__sqe(s->loop);
	io_uring_prep_send(sqe, s->fd, e->buf + e->off, urt__len32(e->len - e->off),
			   s->flags | (first ? MSG_DONTWAIT : MSG_WAITALL));
	io_uring_sqe_set_data(sqe, &s->op);
	s->waiting = !first;
	if (first && !e->done) /* a done callback might wake a task */
		urt__backend_quiet_sqe(s->loop);
}

/* Hand the entry's buffer back. The entry's slot is free already (pop
 * moved the head past it), so what the callback needs is read first; the
 * callback itself must not use the sender (urt_io.h): a send queued from
 * it would be submitted twice, by commit and by sender_complete. */
HOT void entry_done(const send_entry *e)
{
	if (e->br) {
		urt__bufring_put(e->br, e->bid);
	} else if (e->done) {
		urt_send_done_fn done = e->done;
		void *arg = e->arg;
		const char *buf = e->buf;
		size_t len = e->len;
		done(arg, buf, len);
	}
}

/* Take the head off the queue and hand its buffer back. */
HOT void pop(urt_sender *s)
{
	send_entry *e = &s->q[s->head];
	s->head = (s->head + 1) & (s->cap - 1);
	s->qlen--;
	s->pending -= e->len - e->off;
	entry_done(e);
}

HOT void went_idle(urt_sender *s)
{
	s->loop->inflight--;
	if (s->idle.head)
		urt__waitq_wake_all(&s->idle, 0);
	if (s->closer) {
		urt__wake(s->closer, 0);
		s->closer = NULL;
	}
}

static void sender_complete(urt_op *op, int res, unsigned flags)
{
	(void)flags;
	urt_sender *s = (urt_sender *)op;
	send_entry *e = &s->q[s->head];
	if (URT_LIKELY(res > 0 && (size_t)res == e->len - e->off && !s->closing)) {
		/* the common case: all of it went out (s->err is 0 while a send
		 * is in flight without closing: an error empties the queue) */
		e->off = e->len;
		s->pending -= (size_t)res;
		pop(s);
		if (s->qlen)
			submit(s, true);
		else
			went_idle(s);
		return;
	}
	if (res == -EAGAIN && !s->waiting && !s->closing) { /* no room now: wait for it */
		submit(s, false);
		return;
	}
	if (res > 0) {
		e->off += (size_t)res;
		s->pending -= (size_t)res;
	}
	if (res >= 0 && e->off < e->len && !s->closing) {
		if (res > 0) { /* short: send the rest, still first in line */
			submit(s, false);
			return;
		}
		res = -EIO; /* no progress on a stream socket: do not spin */
	}
	if (res < 0 && !s->err && !(s->closing && res == -ECANCELED))
		s->err = res;
	pop(s);
	if (s->err || s->closing)
		while (s->qlen)
			pop(s);
	if (s->qlen)
		submit(s, true);
	else
		went_idle(s);
}

int urt_sender_open(urt_sender **out, int fd, int flags)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (!out || fd < 0)
		return -EINVAL;
	urt_sender *s = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->op.complete = sender_complete;
	s->loop = l;
	s->fd = fd;
	s->flags = flags & ~MSG_DONTWAIT; /* urt decides when a send may wait */
	s->q = s->inl;
	s->cap = INLINE_SLOTS;
	*out = s;
	return 0;
}

static __attribute__((noinline, cold)) int grow(urt_sender *s)
{
	unsigned cap = s->cap * 2;
	send_entry *q = urt__fault(URT_FAULT_ALLOC) ? NULL : malloc(cap * sizeof *q);
	if (!q)
		return -ENOMEM;
	for (unsigned i = 0; i < s->qlen; i++)
		q[i] = s->q[(s->head + i) & (s->cap - 1)];
	if (s->q != s->inl)
		free(s->q);
	s->q = q;
	s->head = 0;
	s->cap = cap;
	return 0;
}

/* The slot for the next entry (the caller fills it, then commits), or
 * NULL when the queue is full and cannot grow. */
HOT send_entry *slot(urt_sender *s)
{
	if (URT_UNLIKELY(s->qlen == s->cap) && grow(s) < 0)
		return NULL;
	return &s->q[(s->head + s->qlen) & (s->cap - 1)];
}

/* Append the entry just filled in slot(); the first one of an empty queue
 * is submitted now. */
HOT void commit(urt_sender *s, size_t len)
{
	s->pending += len;
	if (++s->qlen == 1) {
		s->loop->inflight++;
		submit(s, true);
	}
}

static int usable(const urt_sender *s)
{
	if (!s || s->loop != urt__loop())
		return -EINVAL;
	return s->err;
}

int urt_sender_send(urt_sender *s, const void *buf, size_t len, urt_send_done_fn done, void *arg)
{
	int r = usable(s);
	if (r < 0)
		return r;
	if (!buf && len)
		return -EFAULT;
	if (!len) {
		if (done)
			done(arg, buf, len);
		return 0;
	}
	send_entry *e = slot(s);
	if (!e)
		return -ENOMEM;
	*e = (send_entry){.buf = buf, .len = len, .done = done, .arg = arg};
	commit(s, len);
	return 0;
}

int urt_sender_send_buf(urt_sender *s, urt_bufring *br, urt_buf *b)
{
	int r = usable(s);
	if (r < 0)
		return r;
	if (!br || !b || br->loop != s->loop || b->id >= br->nbufs || br->lent[b->id] != 1 ||
	    b->data != br->mem + (size_t)b->id * br->bufsize || b->len > br->bufsize)
		return -EINVAL;
	if (b->len) {
		send_entry *e = slot(s);
		if (!e)
			return -ENOMEM;
		*e = (send_entry){.buf = b->data, .len = b->len, .br = br, .bid = b->id};
		br->lent[b->id] = 2; /* the send's now: urt_bufring_release refuses it */
		commit(s, b->len);
	} else {
		urt__bufring_put(br, b->id);
	}
	b->data = NULL;
	b->len = 0;
	return 0;
}

ssize_t urt_sender_pending(const urt_sender *s)
{
	return s ? (ssize_t)s->pending : -EINVAL;
}

static int flush_wait(urt_sender *s)
{
	urt_loop *l;
	urt_task *t;
	int r;
	while (s->qlen) {
		if ((r = urt__may_block(&l, &t)) < 0)
			return r;
		struct urt__waiter w = {0};
		urt__backend_unquiet(l); /* the sends' completions wake us */
		if ((r = urt__waitq_wait(l, t, &s->idle, &w, "sender flush")) < 0)
			return r;
	}
	return s->err;
}

int urt_sender_flush(urt_sender *s)
{
	int r = usable(s);
	if (r < 0)
		return r;
	if (s->closed)
		return -EBADF; /* close, waiting too, frees s once the queue is empty */
	s->flushers++;
	r = flush_wait(s);
	s->flushers--;
	return r;
}

static void wait_uninterrupted(urt_task *t, int err)
{
	(void)t, (void)err; /* the final CQE wakes the closer */
}

int urt_sender_close(urt_sender *s)
{
	urt_loop *l = urt__loop();
	if (!s || s->loop != l || s->closed)
		return -EINVAL;
	if (s->flushers)
		return -EBUSY; /* woken or not, they still read s */
	int r = 0;
	if (s->qlen) {
		if (!l->current)
			return -EPERM;
		s->closed = true;
		r = flush_wait(s);
		if (r == s->err)
			r = 0; /* reported below */
	}
	if (s->qlen) { /* interrupted: drop what waits, cancel what is in flight */
		s->closing = true;
		while (s->qlen > 1) {
			send_entry e = s->q[(s->head + --s->qlen) & (s->cap - 1)];
			s->pending -= e.len - e.off;
			entry_done(&e);
		}
		urt__backend_cancel(l, &s->op);
		urt__backend_unquiet(l);
		while (s->qlen) {
			s->closer = l->current;
			urt__park(l, l->current, wait_uninterrupted, s, "sender close",
				  URT_NO_DEADLINE);
		}
	}
	if (s->err)
		r = s->err;
	if (s->q != s->inl)
		free(s->q);
	free(s);
	return r;
}
