/* Zero-copy send with its notification, fixed (direct) files with accept,
 * recv and send, registered buffers for file I/O, openat2 beneath a
 * directory; bad input. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "urt_fault.h"
#include "urt_net.h"

TestSuite(net_features, .timeout = 20);

static uint16_t port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &len);
	return ntohs(a.sin_port);
}

/* ---- zero-copy send --------------------------------------------------------- */

#define ZC_LEN (1u << 20)

static void *zc_reader(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char *buf = malloc(ZC_LEN);
	size_t got = 0;
	ssize_t n;
	while (got < ZC_LEN && (n = urt_recv(fd, buf + got, ZC_LEN - got, 0)) > 0)
		got += (size_t)n;
	int ok = got == ZC_LEN;
	for (size_t i = 0; ok && i < ZC_LEN; i++)
		ok = buf[i] == (unsigned char)(i * 7);
	free(buf);
	return (void *)(intptr_t)ok;
}

static void *zero_copy(void *arg)
{
	(void)arg;
	int lfd = urt_tcp_listen("127.0.0.1", 0, 4, 0);
	int c = urt_tcp_connect("127.0.0.1", port_of(lfd));
	int s = urt_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(s, 0);
	urt_task *rd;
	cr_assert_eq(urt_spawn(&rd, zc_reader, (void *)(intptr_t)c, NULL), 0);
	unsigned char *buf = malloc(ZC_LEN);
	for (size_t i = 0; i < ZC_LEN; i++)
		buf[i] = (unsigned char)(i * 7);
	size_t sent = 0;
	while (sent < ZC_LEN) {
		ssize_t n = urt_send_zc(s, buf + sent, ZC_LEN - sent, MSG_NOSIGNAL);
		if (n == -EOPNOTSUPP || n == -EINVAL) {
			free(buf);
			cr_skip_test("no SEND_ZC here: %s", urt_strerror((int)n));
		}
		cr_assert_gt(n, 0, "%s", urt_strerror((int)n));
		sent += (size_t)n;
	}
	/* returned: the kernel has let go of buf, so scribbling on it is safe */
	memset(buf, 0xee, ZC_LEN);
	void *ok;
	cr_expect_eq(urt_join(rd, &ok), 0);
	cr_expect_eq((intptr_t)ok, 1, "data arrived intact");
	cr_expect_eq(urt_send_zc(s, NULL, 10, 0), -EFAULT);
	cr_expect_lt(urt_send_zc(lfd, buf, 10, MSG_NOSIGNAL), 0, "not connected");
	free(buf);
	close(s);
	close(c);
	close(lfd);
	return NULL;
}

Test(net_features, send_zc_waits_for_notification) { urt_test_run(zero_copy, NULL); }

/* ---- fixed files ------------------------------------------------------------- */

static void *fixed_files(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_files_set(0, 0), -ENXIO, "no table yet");
	cr_expect_eq(urt_files_unregister(), -ENXIO);
	cr_expect_eq(urt_files_register(0), -EINVAL);
	cr_assert_eq(urt_files_register(8), 0);
	cr_expect_eq(urt_files_register(8), -EBUSY);
	cr_expect_eq(urt_files_set(8, 0), -EINVAL, "index out of range");
	int lfd = urt_tcp_listen("127.0.0.1", 0, 4, 0);
	urt_acceptor *a;
	cr_assert_eq(urt_acceptor_open(&a, lfd, 0, URT_NET_FIXED), 0);
	int c = urt_tcp_connect("127.0.0.1", port_of(lfd));
	int idx = urt_acceptor_next(a);
	cr_assert_geq(idx, 0, "direct accept: %s", urt_strerror(idx));
	cr_expect_lt(idx, 8, "an index into the table");
	cr_expect_eq(urt_acceptor_close(a), 0);
	/* send and multishot recv on the fixed file */
	cr_assert_eq(urt_write_all(c, "ping", 4), 4);
	urt_bufring *br;
	cr_assert_eq(urt_bufring_create(&br, 4, 64), 0);
	urt_msrecv *r;
	cr_assert_eq(urt_msrecv_open(&r, idx, br, URT_NET_FIXED), 0);
	urt_buf b;
	cr_assert_eq(urt_msrecv_next(r, &b), 4);
	cr_expect_eq(memcmp(b.data, "ping", 4), 0);
	urt_bufring_release(br, &b);
	cr_expect_eq(urt_send_fixed((unsigned)idx, "pong", 4, MSG_NOSIGNAL), 4);
	char in[4];
	cr_expect_eq(urt_recv(c, in, 4, MSG_WAITALL), 4);
	cr_expect_eq(memcmp(in, "pong", 4), 0);
	close(c); /* the peer's close ends the stream */
	cr_expect_eq(urt_msrecv_next(r, &b), 0);
	cr_expect_eq(urt_msrecv_close(r), 0);
	cr_expect_eq(urt_close_fixed((unsigned)idx), 0);
	cr_expect_eq(urt_bufring_destroy(br), 0);
	/* a plain fd put into a slot */
	int p[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
	cr_assert_eq(urt_files_set(3, p[0]), 0);
	close(p[0]); /* the table holds its own reference */
	cr_expect_eq(urt_send_fixed(3, "hi", 2, 0), 2);
	cr_expect_eq(urt_recv(p[1], in, 2, 0), 2);
	cr_expect_eq(urt_write_all(p[1], "yo", 2), 2);
	cr_expect_eq(urt_recv_fixed(3, in, 2, 0), 2);
	cr_expect_eq(memcmp(in, "yo", 2), 0);
	cr_expect_eq(urt_close_fixed(3), 0);
	cr_expect_lt(urt_send_fixed(3, "x", 1, 0), 0, "closed slot");
	cr_expect_eq(urt_files_unregister(), 0);
	close(p[1]);
	close(lfd);
	return NULL;
}

Test(net_features, fixed_files) { urt_test_run(fixed_files, NULL); }

/* ---- registered buffers ------------------------------------------------------ */

static void *registered_buffers(void *arg)
{
	(void)arg;
	char dir[64], path[128];
	urt_test_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	static char mem[2][8192];
	struct iovec iov[2] = {{mem[0], sizeof mem[0]}, {mem[1], sizeof mem[1]}};
	cr_expect_eq(urt_read_fixed(fd, mem[0], 10, 0, 0), -EINVAL, "nothing registered");
	cr_expect_eq(urt_buffers_unregister(), -ENXIO);
	cr_expect_eq(urt_buffers_register(NULL, 1), -EINVAL);
	cr_assert_eq(urt_buffers_register(iov, 2), 0);
	cr_expect_eq(urt_buffers_register(iov, 2), -EBUSY);
	memset(mem[0], 'q', sizeof mem[0]);
	cr_expect_eq(urt_write_fixed(fd, mem[0], 8192, 0, 0), 8192);
	cr_expect_eq(urt_read_fixed(fd, mem[1] + 100, 4000, 4096, 1), 4000);
	cr_expect_eq(mem[1][100], 'q');
	cr_expect_eq(mem[1][4099], 'q');
	cr_expect_eq(urt_read_fixed(fd, mem[1] + 8000, 500, 0, 1), -EFAULT, "past the buffer");
	cr_expect_eq(urt_read_fixed(fd, mem[0], 10, 0, 1), -EFAULT, "another buffer");
	cr_expect_eq(urt_read_fixed(fd, mem[0], 10, 0, 7), -EINVAL, "bad index");
	cr_expect_eq(urt_buffers_unregister(), 0);
	close(fd);
	urt_test_rmtree(dir);
	return NULL;
}

Test(net_features, registered_buffers) { urt_test_run(registered_buffers, NULL); }

#ifdef URT_FAULT_INJECTION
/* An unregistration the kernel refuses leaves the table registered, in
 * the ring and in urt's bookkeeping: it stays usable, and a retry drops
 * it. */
static void *unregister_refused(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
	char in[2];
	cr_assert_eq(urt_files_register(4), 0);
	cr_assert_eq(urt_fault_set(URT_FAULT_REGISTER, 1, -EINTR), 0);
	cr_expect_eq(urt_files_unregister(), -EINTR);
	urt_fault_set(URT_FAULT_REGISTER, 0, -1);
	cr_expect_eq(urt_files_set(0, p[0]), 0, "the file table is still there");
	cr_assert_eq(urt_send_fixed(0, "hi", 2, 0), 2);
	cr_expect_eq(urt_recv(p[1], in, 2, 0), 2);
	cr_expect_eq(urt_files_unregister(), 0, "the retry drops it");

	static char mem[4096];
	struct iovec iov = {mem, sizeof mem};
	memcpy(mem, "yo", 2);
	cr_assert_eq(urt_buffers_register(&iov, 1), 0);
	cr_assert_eq(urt_fault_set(URT_FAULT_REGISTER, 1, -EINTR), 0);
	cr_expect_eq(urt_buffers_unregister(), -EINTR);
	urt_fault_set(URT_FAULT_REGISTER, 0, -1);
	cr_assert_eq(urt_write_fixed(p[1], mem, 2, 0, 0), 2, "the buffers are still there");
	cr_expect_eq(urt_recv(p[0], in, 2, 0), 2);
	cr_expect_eq(urt_buffers_unregister(), 0, "the retry drops them");
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(net_features, refused_unregister_keeps_the_table) { urt_test_run(unregister_refused, NULL); }

/* No memory for the copy of the buffer list: -ENOMEM and nothing
 * registered (the buffers cannot be used, a later registration works). */
static void *register_no_memory(void *arg)
{
	(void)arg;
	static char mem[4096];
	struct iovec iov = {mem, sizeof mem};
	cr_assert_eq(urt_fault_set(URT_FAULT_ALLOC, 1, -ENOMEM), 0);
	cr_expect_eq(urt_buffers_register(&iov, 1), -ENOMEM);
	urt_fault_set(URT_FAULT_ALLOC, 0, -1);
	cr_expect_eq(urt_buffers_unregister(), -ENXIO, "nothing was registered");
	cr_assert_eq(urt_buffers_register(&iov, 1), 0);
	cr_expect_eq(urt_buffers_unregister(), 0);
	return NULL;
}

Test(net_features, register_buffers_no_memory) { urt_test_run(register_no_memory, NULL); }
#endif

/* ---- openat2 ------------------------------------------------------------------ */

static void *open_beneath(void *arg)
{
	(void)arg;
	char dir[64], path[160];
	urt_test_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/in", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/in/ok", dir);
	close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	snprintf(path, sizeof path, "%s/in/out", dir);
	cr_assert_eq(symlink("../", path), 0);
	snprintf(path, sizeof path, "%s/in", dir);
	int dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	const uint64_t res = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	int fd = urt_openat2(dfd, "ok", O_RDONLY | O_CLOEXEC, 0, res);
	cr_expect_geq(fd, 0, "%s", urt_strerror(fd));
	close(fd);
	cr_expect_eq(urt_openat2(dfd, "../in/ok", O_RDONLY, 0, res), -EXDEV);
	cr_expect_eq(urt_openat2(dfd, "/etc/passwd", O_RDONLY, 0, res), -EXDEV);
	cr_expect_eq(urt_openat2(dfd, "out/in/ok", O_RDONLY, 0, res), -EXDEV, "symlink out");
	cr_expect_eq(urt_openat2(dfd, "missing", O_RDONLY, 0, res), -ENOENT);
	cr_expect_eq(urt_openat2(dfd, NULL, O_RDONLY, 0, res), -EFAULT);
	cr_expect_eq(urt_openat2(dfd, "ok", O_RDONLY, 0, 1ull << 40), -EINVAL, "unknown resolve");
	close(dfd);
	urt_test_rmtree(dir);
	return NULL;
}

Test(net_features, openat2_beneath) { urt_test_run(open_beneath, NULL); }

Test(net_features, outside_loop)
{
	cr_expect_eq(urt_files_register(4), -EPERM);
	cr_expect_eq(urt_buffers_register(NULL, 0), -EPERM);
	cr_expect_eq(urt_send_zc(0, "x", 1, 0), -EPERM);
	cr_expect_eq(urt_openat2(AT_FDCWD, "/", O_RDONLY, 0, 0), -EPERM);
}
