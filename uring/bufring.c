/* Provided buffer rings: liburing 2.3 has io_uring_register_buf_ring but
 * not io_uring_setup_buf_ring, so the ring and the buffers are mmap'd here
 * (page-aligned, as the kernel requires) and registered by hand. The
 * kernel picks a buffer when data arrives and names it in the CQE; urt
 * lends it to the task, which gives it back with urt_bufring_release. */
#include "net_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Buffer group ids are per ring; a thread has one ring at a time, so a
 * thread-local counter keeps them unique. */
static __thread unsigned short next_bgid;

static void *map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void br_free(urt_bufring *br)
{
	if (br->ring)
		munmap(br->ring, br->ring_bytes);
	if (br->mem)
		munmap(br->mem, br->mem_bytes);
	free(br->next);
	free(br->len);
	free(br->lent);
	free(br);
}

static int br_alloc(urt_bufring *br)
{
	size_t page = urt__page_size();
	br->ring_bytes = (br->nbufs * sizeof(struct io_uring_buf) + page - 1) & ~(page - 1);
	br->mem_bytes = br->nbufs * br->bufsize;
	br->ring = map(br->ring_bytes);
	br->mem = map(br->mem_bytes);
	br->next = calloc(br->nbufs, sizeof *br->next);
	br->len = calloc(br->nbufs, sizeof *br->len);
	br->lent = calloc(br->nbufs, sizeof *br->lent);
	return br->ring && br->mem && br->next && br->len && br->lent ? 0 : -ENOMEM;
}

int urt_bufring_create(urt_bufring **out, unsigned nbufs, size_t bufsize)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (!out || !nbufs || nbufs > 32768 || (nbufs & (nbufs - 1)) || !bufsize ||
	    bufsize > (1u << 20))
		return -EINVAL;
	urt_bufring *br = calloc(1, sizeof *br);
	if (!br)
		return -ENOMEM;
	br->loop = l;
	br->nbufs = nbufs;
	br->mask = (unsigned)io_uring_buf_ring_mask(nbufs);
	br->bufsize = bufsize;
	int r = br_alloc(br);
	if (r < 0) {
		br_free(br);
		return r;
	}
	io_uring_buf_ring_init(br->ring);
	struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br->ring,
				       .ring_entries = nbufs};
	for (unsigned tries = 0; tries < 65536; tries++) {
		reg.bgid = br->bgid = next_bgid++;
		r = io_uring_register_buf_ring(&l->backend->ring, &reg, 0);
		if (r != -EEXIST)
			break;
	}
	if (r < 0) {
		br_free(br);
		return r == -EINVAL ? -EOPNOTSUPP : r;
	}
	for (unsigned i = 0; i < nbufs; i++)
		io_uring_buf_ring_add(br->ring, br->mem + (size_t)i * bufsize, (unsigned)bufsize,
				      (unsigned short)i, (int)br->mask, (int)i);
	io_uring_buf_ring_advance(br->ring, (int)nbufs);
	*out = br;
	return 0;
}

/* Every receive waiting for a buffer re-checks, not just the first: the
 * first may re-arm on a socket with nothing to read and leave the buffer
 * free while another, whose socket has data, would wait on. */
void urt__bufring_wake(urt_bufring *br)
{
	urt__waitq_wake_all(&br->room, 0);
}

int urt_bufring_release(urt_bufring *br, urt_buf *b)
{
	/* lent[] is 2 while a sender owns the buffer (urt_sender_send_buf) */
	if (!br || !b || br->loop != urt__loop() || b->id >= br->nbufs || br->lent[b->id] != 1 ||
	    b->data != br->mem + (size_t)b->id * br->bufsize)
		return -EINVAL;
	urt__bufring_put(br, b->id);
	b->data = NULL;
	b->len = 0;
	return 0;
}

int urt_bufring_available(const urt_bufring *br)
{
	return br ? (int)(br->nbufs - br->out) : -EINVAL;
}

int urt_bufring_destroy(urt_bufring *br)
{
	urt_loop *l = urt__loop();
	if (!br || br->loop != l)
		return -EINVAL;
	if (br->users || br->out)
		return -EBUSY;
	io_uring_unregister_buf_ring(&l->backend->ring, br->bgid);
	br_free(br);
	return 0;
}
