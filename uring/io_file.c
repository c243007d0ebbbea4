/* File calls: one io_uring operation each. */
#include "uring_internal.h"

#include <errno.h>
#include <limits.h>

ssize_t urt_read(int fd, void *buf, size_t len, uint64_t off)
{
	if (!buf && len)
		return -EFAULT;
	URT_IO_CALL("read", io_uring_prep_read(sqe, fd, buf, urt__len32(len), off));
}

ssize_t urt_write(int fd, const void *buf, size_t len, uint64_t off)
{
	if (!buf && len)
		return -EFAULT;
	URT_IO_CALL("write", io_uring_prep_write(sqe, fd, buf, urt__len32(len), off));
}

static int check_iov(const struct iovec *iov, int iovcnt)
{
	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	if (!iov && iovcnt)
		return -EFAULT;
	return 0;
}

ssize_t urt_readv(int fd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	int r = check_iov(iov, iovcnt);
	if (r < 0)
		return r;
	URT_IO_CALL("readv", io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, off));
}

ssize_t urt_writev(int fd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	int r = check_iov(iov, iovcnt);
	if (r < 0)
		return r;
	URT_IO_CALL("writev", io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, off));
}

int urt_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	if (!path)
		return -EFAULT;
	URT_IO_CALL("openat", io_uring_prep_openat(sqe, dirfd, path, flags, mode));
}

int urt_close(int fd)
{
	URT_IO_CALL("close", io_uring_prep_close(sqe, fd));
}

int urt_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out)
{
	if (!path || !out)
		return -EFAULT;
	URT_IO_CALL("statx", io_uring_prep_statx(sqe, dirfd, path, flags, mask, out));
}

int urt_fsync(int fd, int datasync)
{
	URT_IO_CALL("fsync", io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0));
}

int urt_fallocate(int fd, int mode, uint64_t off, uint64_t len)
{
	URT_IO_CALL("fallocate", io_uring_prep_fallocate(sqe, fd, mode, (off_t)off, (off_t)len));
}

int urt_unlinkat(int dirfd, const char *path, int flags)
{
	if (!path)
		return -EFAULT;
	URT_IO_CALL("unlinkat", io_uring_prep_unlinkat(sqe, dirfd, path, flags));
}

int urt_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		 unsigned flags)
{
	if (!oldpath || !newpath)
		return -EFAULT;
	URT_IO_CALL("renameat", io_uring_prep_renameat(sqe, olddirfd, oldpath, newdirfd, newpath, flags));
}

int urt_mkdirat(int dirfd, const char *path, mode_t mode)
{
	if (!path)
		return -EFAULT;
	URT_IO_CALL("mkdirat", io_uring_prep_mkdirat(sqe, dirfd, path, mode));
}
