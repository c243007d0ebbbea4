/* uring/'s networking records (bufring.c, multishot.c), shared with the
 * server helper (server.c). Internal: urt__* names only. */
#ifndef URT_NET_INTERNAL_H
#define URT_NET_INTERNAL_H

#include "uring_internal.h"
#include "urt_net.h"

struct urt_bufring {
	urt_loop *loop;             /* owner */
	struct io_uring_buf_ring *ring; /* shared with the kernel (mmap'd) */
	size_t ring_bytes;
	char *mem;                  /* nbufs * bufsize bytes (mmap'd) */
	size_t mem_bytes;
	size_t bufsize;
	unsigned nbufs, mask;
	unsigned short bgid;        /* buffer group id in this ring */
	unsigned out;               /* buffers the kernel filled, not yet given back */
	unsigned users;             /* receives using the ring */
	uint16_t *next;             /* per buffer: next in its receive's queue */
	uint32_t *len;              /* per buffer: bytes received into it */
	uint8_t *lent;              /* per buffer: 1 while the kernel filled it and it is not back */
	urt_waitq room;             /* receives waiting for a buffer to come back */
};

/* Take buffer bid out of the kernel's hands (a CQE filled it). */
static inline void urt__bufring_took(urt_bufring *br, unsigned bid, uint32_t len)
{
	br->lent[bid] = 1;
	br->len[bid] = len;
	br->out++;
}

/* Wake every receive waiting for a buffer (bufring.c). */
void urt__bufring_wake(urt_bufring *br);

/* Hand buffer bid back to the kernel and wake a waiter. Inline: an echo
 * server gives one buffer back per round trip. */
static inline void urt__bufring_put(urt_bufring *br, unsigned bid)
{
	br->lent[bid] = 0;
	br->out--;
	io_uring_buf_ring_add(br->ring, br->mem + (size_t)bid * br->bufsize, (unsigned)br->bufsize,
			      (unsigned short)bid, (int)br->mask, 0);
	io_uring_buf_ring_advance(br->ring, 1);
	if (URT_UNLIKELY(br->room.head != NULL))
		urt__bufring_wake(br);
}

struct urt_acceptor {
	urt_op op;                  /* the multishot's CQEs land here */
	urt_loop *loop;
	int lfd;
	int sock_flags;             /* SOCK_* for new sockets */
	unsigned flags;             /* URT_NET_* */
	bool armed;                 /* its final CQE has not arrived */
	bool closing;               /* a cancel was sent by close */
	int err;                    /* a failed accept, reported once */
	int *q;                     /* accepted fds not taken yet (ring buffer) */
	unsigned qhead, qlen, qcap;
	urt_task *waiter;           /* task to wake when something arrives */
	urt_task *reader;           /* task inside urt_acceptor_next: close waits for none */
};

/* Non-blocking: an accepted fd, the pending error, or -EAGAIN (then the
 * request is armed, and a->waiter will be woken). */
int urt__acceptor_try(urt_acceptor *a);

#endif
