/* Fixed (direct) files and registered buffers: per-loop tables kept in
 * the ring. Their bookkeeping lives in a thread-local record tagged with
 * the loop it belongs to (a thread runs one loop at a time, and loop
 * records are never reused), so uring's backend record stays untouched. */
#include "net_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static __thread struct {
	urt_loop *files_loop;    /* loop whose ring has a file table */
	unsigned nfiles;
	urt_loop *bufs_loop;     /* loop whose ring has registered buffers */
	struct iovec *bufs;      /* copies of the registered ranges */
	unsigned nbufs;
} reg __attribute__((tls_model("initial-exec"))); /* read on every fixed read/write */

static struct io_uring *ring_of(urt_loop *l) { return &l->backend->ring; }

/* An io_uring_register call on the tables, behind its fault seam. */
#define REGISTER(call) (urt__fault(URT_FAULT_REGISTER) ?: (call))

int urt_files_register(unsigned n)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (!n)
		return -EINVAL;
	if (reg.files_loop == l)
		return -EBUSY;
	int r = REGISTER(io_uring_register_files_sparse(ring_of(l), n));
	if (r < 0)
		return r;
	reg.files_loop = l;
	reg.nfiles = n;
	return 0;
}

int urt_files_set(unsigned idx, int fd)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (reg.files_loop != l)
		return -ENXIO;
	if (idx >= reg.nfiles || fd < 0)
		return -EINVAL;
	int r = REGISTER(io_uring_register_files_update(ring_of(l), idx, &fd, 1));
	return r < 0 ? r : 0;
}

int urt_files_unregister(void)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (reg.files_loop != l)
		return -ENXIO;
	int r = REGISTER(io_uring_unregister_files(ring_of(l)));
	if (r < 0)
		return r; /* the ring keeps the table: so does the bookkeeping */
	reg.files_loop = NULL;
	reg.nfiles = 0;
	return 0;
}

ssize_t urt_recv_fixed(unsigned idx, void *buf, size_t len, int flags)
{
	if (!buf && len)
		return -EFAULT;
	URT_IO_CALL("recv", {
		io_uring_prep_recv(sqe, (int)idx, buf, urt__len32(len), flags);
		sqe->flags |= IOSQE_FIXED_FILE;
	});
}

ssize_t urt_send_fixed(unsigned idx, const void *buf, size_t len, int flags)
{
	if (!buf && len)
		return -EFAULT;
	URT_IO_CALL("send", {
		io_uring_prep_send(sqe, (int)idx, buf, urt__len32(len), flags);
		sqe->flags |= IOSQE_FIXED_FILE;
	});
}

int urt_close_fixed(unsigned idx)
{
	URT_IO_CALL("close", io_uring_prep_close_direct(sqe, idx));
}

int urt_buffers_register(const struct iovec *iov, unsigned n)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (!iov || !n)
		return -EINVAL;
	if (reg.bufs_loop == l)
		return -EBUSY;
	struct iovec *copy = urt__fault(URT_FAULT_ALLOC) ? NULL : malloc(n * sizeof *copy);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, iov, n * sizeof *copy);
	int r = REGISTER(io_uring_register_buffers(ring_of(l), iov, n));
	if (r < 0) {
		free(copy);
		return r;
	}
	free(reg.bufs);
	reg.bufs = copy;
	reg.nbufs = n;
	reg.bufs_loop = l;
	return 0;
}

int urt_buffers_unregister(void)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (reg.bufs_loop != l)
		return -ENXIO;
	int r = REGISTER(io_uring_unregister_buffers(ring_of(l)));
	if (r < 0)
		return r; /* the ring keeps the buffers: so does the bookkeeping */
	free(reg.bufs);
	reg.bufs = NULL;
	reg.nbufs = 0;
	reg.bufs_loop = NULL;
	return 0;
}

/* [buf, buf+len) inside registered buffer idx of this loop? */
static int check_fixed(const void *buf, size_t len, unsigned idx)
{
	if (reg.bufs_loop != urt__loop() || idx >= reg.nbufs)
		return -EINVAL;
	uintptr_t lo = (uintptr_t)reg.bufs[idx].iov_base, p = (uintptr_t)buf;
	if (!buf || p < lo || p - lo + len > reg.bufs[idx].iov_len)
		return -EFAULT;
	return 0;
}

ssize_t urt_read_fixed(int fd, void *buf, size_t len, uint64_t off, unsigned buf_index)
{
	int r = check_fixed(buf, len, buf_index);
	if (r < 0)
		return r;
	URT_IO_CALL("read_fixed", io_uring_prep_read_fixed(sqe, fd, buf, urt__len32(len), off,
							   (int)buf_index));
}

ssize_t urt_write_fixed(int fd, const void *buf, size_t len, uint64_t off, unsigned buf_index)
{
	int r = check_fixed(buf, len, buf_index);
	if (r < 0)
		return r;
	URT_IO_CALL("write_fixed", io_uring_prep_write_fixed(sqe, fd, buf, urt__len32(len), off,
							     (int)buf_index));
}
