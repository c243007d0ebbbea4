/* Bounded channel: a ring of fixed-size items. A sender that finds a
 * waiting receiver copies straight into the receiver's buffer; a receiver
 * that frees a slot pulls the longest-waiting sender's item in. */
#include "core_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int urt_chan_init(urt_chan *c, size_t elem_size, size_t capacity)
{
	if (!c || !elem_size || !capacity || capacity > SIZE_MAX / elem_size)
		return -EINVAL;
	memset(c, 0, sizeof *c);
	c->buf = urt__fault(URT_FAULT_ALLOC) ? NULL : malloc(elem_size * capacity);
	if (!c->buf)
		return -ENOMEM;
	c->elem_size = elem_size;
	c->capacity = capacity;
	return 0;
}

int urt_chan_destroy(urt_chan *c)
{
	if (!c)
		return -EINVAL;
	if (c->senders.head || c->receivers.head)
		return -EBUSY;
	free(c->buf);
	c->buf = NULL;
	return 0;
}

static unsigned char *slot(urt_chan *c, size_t i)
{
	return c->buf + ((c->head + i) % c->capacity) * c->elem_size;
}

static void put(urt_chan *c, const void *item)
{
	memcpy(slot(c, c->count), item, c->elem_size);
	c->count++;
}

static void take(urt_chan *c, void *item)
{
	memcpy(item, slot(c, 0), c->elem_size);
	c->head = (c->head + 1) % c->capacity;
	c->count--;
	struct urt__waiter *w = urt__waitq_pop(&c->senders);
	if (w) { /* a slot is free: the longest-waiting sender's item goes in */
		put(c, w->data);
		urt__wake(w->task, 0);
	}
}

int urt_chan_try_send(urt_chan *c, const void *item)
{
	if (!c || !c->buf || !item)
		return -EINVAL;
	if (c->closed)
		return -EPIPE;
	struct urt__waiter *w = urt__waitq_pop(&c->receivers);
	if (w) {
		memcpy(w->data, item, c->elem_size);
		urt__wake(w->task, 0);
		return 0;
	}
	if (c->count == c->capacity)
		return -EAGAIN;
	put(c, item);
	return 0;
}

int urt_chan_try_recv(urt_chan *c, void *item)
{
	if (!c || !c->buf || !item)
		return -EINVAL;
	if (c->count) {
		take(c, item);
		return 0;
	}
	return c->closed ? -EPIPE : -EAGAIN;
}

static int try_send(urt_chan *c, void *item) { return urt_chan_try_send(c, item); }

/* send and recv: try at once; if that would wait, park on q until the
 * other side hands the item over (or close wakes us with -EPIPE). */
static int transfer(urt_chan *c, void *item, int (*try)(urt_chan *, void *), urt_waitq *q,
		    const char *what)
{
	if (!c || !c->buf || !item)
		return -EINVAL;
	urt_loop *l;
	urt_task *t;
	int r = urt__may_block(&l, &t);
	if (r < 0)
		return r;
	r = try(c, item);
	if (r != -EAGAIN)
		return r;
	struct urt__waiter w = {.data = item};
	return urt__waitq_wait(l, t, q, &w, what);
}

int urt_chan_send(urt_chan *c, const void *item)
{
	return transfer(c, (void *)item, try_send, c ? &c->senders : NULL, "channel send");
}

int urt_chan_recv(urt_chan *c, void *item)
{
	return transfer(c, item, urt_chan_try_recv, c ? &c->receivers : NULL, "channel recv");
}

int urt_chan_close(urt_chan *c)
{
	if (!c || !c->buf)
		return -EINVAL;
	c->closed = 1;
	urt__waitq_wake_all(&c->senders, -EPIPE);
	urt__waitq_wake_all(&c->receivers, -EPIPE);
	return 0;
}

long urt_chan_len(const urt_chan *c)
{
	return c && c->buf ? (long)c->count : -EINVAL;
}
