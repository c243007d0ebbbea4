/* poll, splice, and write_all. */
#include "uring_internal.h"

#include <errno.h>

int urt_poll(int fd, unsigned events)
{
	URT_IO_CALL("poll", io_uring_prep_poll_add(sqe, fd, events));
}

ssize_t urt_splice(int fd_in, uint64_t off_in, int fd_out, uint64_t off_out, size_t len,
		   unsigned flags)
{
	URT_IO_CALL("splice", io_uring_prep_splice(sqe, fd_in, (int64_t)off_in, fd_out,
						   (int64_t)off_out, urt__len32(len), flags));
}

ssize_t urt_write_all(int fd, const void *buf, size_t len)
{
	if (!buf && len)
		return -EFAULT;
	urt_loop *l;
	urt_task *t;
	int r = urt__may_block(&l, &t); /* the same errors for len == 0 */
	if (r < 0)
		return r;
	const char *p = buf;
	size_t left = len;
	while (left) {
		ssize_t n = urt_write(fd, p, left, URT_POS_CURRENT);
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO; /* a zero-length write would loop forever */
		p += n;
		left -= (size_t)n;
	}
	return (ssize_t)len;
}
