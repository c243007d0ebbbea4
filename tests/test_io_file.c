/* File I/O: openat, read/write with offsets and the file position,
 * readv/writev, statx, fsync, fallocate, unlinkat, renameat, mkdirat,
 * close; bad fds, bad buffers, calls outside a task. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

static char g_dir[64];
static int g_dirfd = -1;

static void setup(void)
{
	urt_test_tmpdir(g_dir, sizeof g_dir);
	g_dirfd = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(g_dirfd, 0);
}

static void teardown(void)
{
	close(g_dirfd);
	urt_test_rmtree(g_dir);
}

TestSuite(io_file, .init = setup, .fini = teardown, .timeout = 10);

static void *rw_offsets(void *arg)
{
	(void)arg;
	int fd = urt_openat(g_dirfd, "a.txt", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "openat: %s", urt_strerror(fd));
	cr_expect_eq(urt_write(fd, "hello world", 11, 0), 11);
	cr_expect_eq(urt_write(fd, "W", 1, 6), 1, "pwrite at an offset");
	char buf[32] = {0};
	cr_expect_eq(urt_read(fd, buf, sizeof buf - 1, 0), 11);
	cr_expect_str_eq(buf, "hello World");
	memset(buf, 0, sizeof buf);
	cr_expect_eq(urt_read(fd, buf, 5, 6), 5);
	cr_expect_str_eq(buf, "World");
	cr_expect_eq(urt_read(fd, buf, 5, 11), 0, "read at EOF");
	cr_expect_eq(urt_read(fd, buf, 5, 1000), 0, "read past EOF");
	/* positional calls do not move the file position */
	cr_expect_eq(lseek(fd, 0, SEEK_CUR), 0);
	cr_expect_eq(urt_close(fd), 0);
	return NULL;
}

Test(io_file, write_read_offsets)
{
	urt_test_run(rw_offsets, NULL);
}

static void *rw_current(void *arg)
{
	(void)arg;
	int fd = urt_openat(g_dirfd, "b.txt", O_CREAT | O_RDWR | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_expect_eq(urt_write(fd, "abc", 3, URT_POS_CURRENT), 3);
	cr_expect_eq(urt_write(fd, "def", 3, URT_POS_CURRENT), 3);
	cr_expect_eq(lseek(fd, 0, SEEK_CUR), 6, "URT_POS_CURRENT writes advance the position");
	cr_assert_eq(lseek(fd, 1, SEEK_SET), 1);
	char buf[8] = {0};
	cr_expect_eq(urt_read(fd, buf, 2, URT_POS_CURRENT), 2);
	cr_expect_str_eq(buf, "bc");
	cr_expect_eq(urt_read(fd, buf, 8, URT_POS_CURRENT), 3);
	cr_expect_eq(memcmp(buf, "def", 3), 0);
	cr_expect_eq(urt_read(fd, buf, 8, URT_POS_CURRENT), 0);
	/* O_APPEND with the current position */
	int afd = urt_openat(g_dirfd, "b.txt", O_WRONLY | O_APPEND, 0);
	cr_assert_geq(afd, 0);
	cr_expect_eq(urt_write(afd, "!", 1, URT_POS_CURRENT), 1);
	cr_expect_eq(urt_read(fd, buf, 8, 6), 1);
	cr_expect_eq(buf[0], '!');
	cr_expect_eq(urt_close(afd), 0);
	cr_expect_eq(urt_close(fd), 0);
	return NULL;
}

Test(io_file, file_position)
{
	urt_test_run(rw_current, NULL);
}

static void *vectored(void *arg)
{
	(void)arg;
	int fd = urt_openat(g_dirfd, "v.bin", O_CREAT | O_RDWR, 0600);
	cr_assert_geq(fd, 0);
	char a[] = "one-", b[] = "two-", c[] = "three";
	struct iovec w[3] = {{a, 4}, {b, 4}, {c, 5}};
	cr_expect_eq(urt_writev(fd, w, 3, 10), 13);
	char x[6] = {0}, y[9] = {0};
	struct iovec r[2] = {{x, 5}, {y, 8}};
	cr_expect_eq(urt_readv(fd, r, 2, 10), 13);
	cr_expect_str_eq(x, "one-t");
	cr_expect_str_eq(y, "wo-three");
	/* the gap before offset 10 reads as zeros */
	char z[10];
	memset(z, 1, sizeof z);
	struct iovec rz = {z, 10};
	cr_expect_eq(urt_readv(fd, &rz, 1, 0), 10);
	for (int i = 0; i < 10; i++)
		cr_expect_eq(z[i], 0);
	/* current position */
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	cr_expect_eq(urt_writev(fd, w, 1, URT_POS_CURRENT), 4);
	cr_expect_eq(lseek(fd, 0, SEEK_CUR), 4);
	cr_expect_eq(urt_readv(fd, r, 1, URT_POS_CURRENT), 5);
	/* iovcnt bounds */
	cr_expect_eq(urt_readv(fd, r, -1, 0), -EINVAL);
	cr_expect_eq(urt_writev(fd, w, -1, 0), -EINVAL);
	static struct iovec many[IOV_MAX + 1];
	for (int i = 0; i <= IOV_MAX; i++)
		many[i] = (struct iovec){a, 1};
	cr_expect_eq(urt_writev(fd, many, IOV_MAX + 1, 0), -EINVAL);
	cr_expect_eq(urt_readv(fd, many, IOV_MAX + 1, 0), -EINVAL);
	cr_expect_eq(urt_writev(fd, many, IOV_MAX, 0), IOV_MAX, "IOV_MAX itself is allowed");
	cr_expect_eq(urt_readv(fd, r, 0, 0), 0, "zero iovecs");
	cr_expect_eq(urt_close(fd), 0);
	return NULL;
}

Test(io_file, readv_writev)
{
	urt_test_run(vectored, NULL);
}

static void *meta(void *arg)
{
	(void)arg;
	int fd = urt_openat(g_dirfd, "m.bin", O_CREAT | O_RDWR | O_EXCL, 0640);
	cr_assert_geq(fd, 0);
	cr_expect_eq(urt_openat(g_dirfd, "m.bin", O_CREAT | O_RDWR | O_EXCL, 0640), -EEXIST);
	cr_expect_eq(urt_write(fd, "12345", 5, 0), 5);
	cr_expect_eq(urt_fsync(fd, 0), 0);
	cr_expect_eq(urt_fsync(fd, 1), 0, "fdatasync");
	struct statx st;
	memset(&st, 0, sizeof st);
	cr_expect_eq(urt_statx(g_dirfd, "m.bin", 0, STATX_SIZE | STATX_MODE, &st), 0);
	cr_expect_eq(st.stx_size, 5);
	cr_expect_eq(st.stx_mode & 0777, 0640);
	cr_expect(S_ISREG(st.stx_mode));
	/* statx on the fd itself */
	cr_expect_eq(urt_fallocate(fd, 0, 0, 1 << 16), 0);
	cr_expect_eq(urt_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &st), 0);
	cr_expect_eq(st.stx_size, 1 << 16, "fallocate did not grow the file");
	cr_expect_eq(urt_fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 16, 4096), 0);
	cr_expect_eq(urt_statx(g_dirfd, "m.bin", 0, STATX_SIZE, &st), 0);
	cr_expect_eq(st.stx_size, 1 << 16);
	cr_expect_eq(urt_statx(g_dirfd, "missing", 0, STATX_SIZE, &st), -ENOENT);
	cr_expect_eq(urt_close(fd), 0);

	/* directories, rename, unlink */
	cr_expect_eq(urt_mkdirat(g_dirfd, "sub", 0700), 0);
	cr_expect_eq(urt_mkdirat(g_dirfd, "sub", 0700), -EEXIST);
	cr_expect_eq(urt_statx(g_dirfd, "sub", 0, STATX_TYPE, &st), 0);
	cr_expect(S_ISDIR(st.stx_mode));
	cr_expect_eq(urt_renameat(g_dirfd, "m.bin", g_dirfd, "sub/n.bin", 0), 0);
	cr_expect_eq(urt_statx(g_dirfd, "m.bin", 0, STATX_SIZE, &st), -ENOENT);
	cr_expect_eq(urt_statx(g_dirfd, "sub/n.bin", 0, STATX_SIZE, &st), 0);
	fd = urt_openat(g_dirfd, "other", O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	cr_expect_eq(urt_close(fd), 0);
	cr_expect_eq(urt_renameat(g_dirfd, "other", g_dirfd, "sub/n.bin", RENAME_NOREPLACE), -EEXIST);
	cr_expect_eq(urt_renameat(g_dirfd, "nope", g_dirfd, "x", 0), -ENOENT);
	cr_expect_eq(urt_unlinkat(g_dirfd, "sub", AT_REMOVEDIR), -ENOTEMPTY);
	cr_expect_eq(urt_unlinkat(g_dirfd, "sub/n.bin", 0), 0);
	cr_expect_eq(urt_unlinkat(g_dirfd, "sub/n.bin", 0), -ENOENT);
	cr_expect_eq(urt_unlinkat(g_dirfd, "sub", AT_REMOVEDIR), 0);
	cr_expect_eq(urt_unlinkat(g_dirfd, "other", 0), 0);
	cr_expect_eq(urt_openat(g_dirfd, "nope", O_RDONLY, 0), -ENOENT);
	return NULL;
}

Test(io_file, metadata_calls)
{
	urt_test_run(meta, NULL);
}

/* A file larger than one call's worth, in chunks, checked byte for byte. */
static void *large(void *arg)
{
	(void)arg;
	enum { SZ = 4 << 20 };
	unsigned char *out = malloc(SZ), *in = malloc(SZ);
	cr_assert(out && in);
	for (size_t i = 0; i < SZ; i++)
		out[i] = (unsigned char)(i * 31 + (i >> 12));
	int fd = urt_openat(g_dirfd, "big", O_CREAT | O_RDWR, 0600);
	cr_assert_geq(fd, 0);
	cr_expect_eq(urt_write_all(fd, out, SZ), SZ);
	size_t got = 0;
	while (got < SZ) {
		ssize_t n = urt_read(fd, in + got, SZ - got, got);
		cr_assert_gt(n, 0);
		got += (size_t)n;
	}
	cr_expect_eq(memcmp(in, out, SZ), 0);
	cr_expect_eq(urt_close(fd), 0);
	free(in);
	free(out);
	return NULL;
}

Test(io_file, large_file)
{
	urt_test_run(large, NULL);
}

/* Many tasks writing disjoint ranges of one file at once. */
static int g_shared_fd;

static void *range_writer(void *arg)
{
	intptr_t i = (intptr_t)arg;
	char block[512];
	memset(block, 'a' + (int)(i % 26), sizeof block);
	return (void *)(intptr_t)urt_write(g_shared_fd, block, sizeof block, (uint64_t)i * 512);
}

static void *concurrent(void *arg)
{
	(void)arg;
	g_shared_fd = urt_openat(g_dirfd, "c", O_CREAT | O_RDWR, 0600);
	cr_assert_geq(g_shared_fd, 0);
	urt_task *ts[64];
	for (intptr_t i = 0; i < 64; i++)
		cr_assert_eq(urt_spawn(&ts[i], range_writer, (void *)i, NULL), 0);
	for (int i = 0; i < 64; i++) {
		void *r;
		cr_expect_eq(urt_join(ts[i], &r), 0);
		cr_expect_eq((intptr_t)r, 512);
	}
	char block[512];
	for (int i = 0; i < 64; i++) {
		cr_expect_eq(urt_read(g_shared_fd, block, sizeof block, (uint64_t)i * 512), 512);
		cr_expect_eq(block[0], 'a' + i % 26);
		cr_expect_eq(block[511], 'a' + i % 26);
	}
	cr_expect_eq(urt_close(g_shared_fd), 0);
	return NULL;
}

Test(io_file, concurrent_writers)
{
	urt_test_run(concurrent, NULL);
}

static void *bad_input(void *arg)
{
	(void)arg;
	char buf[8];
	struct iovec iov = {buf, sizeof buf};
	struct statx st;
	int fd = urt_openat(g_dirfd, "e", O_CREAT | O_RDWR, 0600);
	cr_assert_geq(fd, 0);
	cr_expect_eq(urt_close(fd), 0);
	cr_expect_eq(urt_close(fd), -EBADF, "close twice");
	cr_expect_eq(urt_read(fd, buf, sizeof buf, 0), -EBADF);
	cr_expect_eq(urt_read(-1, buf, sizeof buf, URT_POS_CURRENT), -EBADF);
	cr_expect_eq(urt_write(-1, buf, sizeof buf, 0), -EBADF);
	cr_expect_eq(urt_readv(-1, &iov, 1, 0), -EBADF);
	cr_expect_eq(urt_writev(-1, &iov, 1, 0), -EBADF);
	cr_expect_eq(urt_fsync(-1, 0), -EBADF);
	cr_expect_eq(urt_fallocate(-1, 0, 0, 10), -EBADF);
	cr_expect_eq(urt_close(-1), -EBADF);
	cr_expect_eq(urt_close(1 << 20), -EBADF);
	cr_expect_eq(urt_statx(-1, "", AT_EMPTY_PATH, STATX_SIZE, &st), -EBADF);
	/* a NULL buffer with a length */
	fd = urt_openat(g_dirfd, "e", O_RDWR, 0);
	cr_assert_geq(fd, 0);
	cr_expect_eq(urt_write(fd, "abcd", 4, 0), 4);
	cr_expect_eq(urt_read(fd, NULL, 4, 0), -EFAULT);
	cr_expect_eq(urt_write(fd, NULL, 4, 0), -EFAULT);
	cr_expect_eq(urt_read(fd, NULL, 0, 0), 0, "NULL with length 0 is fine");
	cr_expect_eq(urt_write(fd, NULL, 0, 0), 0);
	cr_expect_eq(urt_statx(g_dirfd, "e", 0, STATX_SIZE, NULL), -EFAULT);
	cr_expect_eq(urt_openat(g_dirfd, "e", O_RDONLY | O_DIRECTORY, 0), -ENOTDIR);
	cr_expect_eq(urt_close(fd), 0);
	return NULL;
}

Test(io_file, bad_fd_and_buffers)
{
	urt_test_run(bad_input, NULL);
}

Test(io_file, outside_a_task_eperm)
{
	char buf[4];
	struct iovec iov = {buf, 4};
	struct statx st;
	int fd = open(g_dir, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_expect_eq(urt_read(fd, buf, 4, 0), -EPERM);
	cr_expect_eq(urt_write(fd, buf, 4, 0), -EPERM);
	cr_expect_eq(urt_readv(fd, &iov, 1, 0), -EPERM);
	cr_expect_eq(urt_writev(fd, &iov, 1, 0), -EPERM);
	cr_expect_eq(urt_openat(g_dirfd, "x", O_CREAT | O_RDWR, 0600), -EPERM);
	cr_expect_eq(urt_statx(g_dirfd, ".", 0, STATX_SIZE, &st), -EPERM);
	cr_expect_eq(urt_fsync(fd, 0), -EPERM);
	cr_expect_eq(urt_fallocate(fd, 0, 0, 1), -EPERM);
	cr_expect_eq(urt_mkdirat(g_dirfd, "d", 0700), -EPERM);
	cr_expect_eq(urt_renameat(g_dirfd, "a", g_dirfd, "b", 0), -EPERM);
	cr_expect_eq(urt_unlinkat(g_dirfd, "a", 0), -EPERM);
	cr_expect_eq(urt_close(fd), -EPERM);
	cr_expect_eq(fcntl(fd, F_GETFD), 0, "urt_close outside a task closed the fd");
	cr_expect_eq(faccessat(g_dirfd, "x", F_OK, 0), -1, "openat outside a task created the file");
	close(fd);
}
