/* Sockets: socket, bind/listen, urt_tcp_listen/connect, accept, connect,
 * send/recv, sendmsg/recvmsg, shutdown, write_all; bad input. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

TestSuite(io_net, .timeout = 10);

static uint16_t port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static void *server_echo_once(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	struct sockaddr_in peer;
	socklen_t plen = sizeof peer;
	memset(&peer, 0, sizeof peer);
	int c = urt_accept(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (c < 0)
		return (void *)(intptr_t)c;
	cr_expect_eq(plen, sizeof peer);
	cr_expect_eq(peer.sin_family, AF_INET);
	cr_expect_eq(ntohl(peer.sin_addr.s_addr), INADDR_LOOPBACK);
	cr_expect_eq(fcntl(c, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "accept flags ignored");
	char buf[256];
	ssize_t n;
	intptr_t total = 0;
	while ((n = urt_recv(c, buf, sizeof buf, 0)) > 0) {
		total += n;
		cr_expect_eq(urt_send(c, buf, (size_t)n, MSG_NOSIGNAL), n);
	}
	cr_expect_eq(n, 0, "recv at EOF");
	cr_expect_eq(urt_close(c), 0);
	return (void *)total;
}

static void *tcp_echo(void *arg)
{
	(void)arg;
	int lfd = urt_tcp_listen("127.0.0.1", 0, 16, 0);
	cr_assert_geq(lfd, 0, "urt_tcp_listen: %s", urt_strerror(lfd));
	uint16_t port = port_of(lfd);
	cr_expect_gt(port, 0);
	urt_task *srv;
	cr_assert_eq(urt_spawn(&srv, server_echo_once, (void *)(intptr_t)lfd, NULL), 0);
	int c = urt_tcp_connect("127.0.0.1", port);
	cr_assert_geq(c, 0, "urt_tcp_connect: %s", urt_strerror(c));
	char in[64];
	for (int i = 0; i < 10; i++) {
		char out[32];
		int len = snprintf(out, sizeof out, "message %d", i);
		cr_expect_eq(urt_send(c, out, (size_t)len, 0), len);
		ssize_t got = 0;
		while (got < len) {
			ssize_t n = urt_recv(c, in + got, sizeof in - (size_t)got, 0);
			cr_assert_gt(n, 0);
			got += n;
		}
		cr_expect_eq(memcmp(in, out, (size_t)len), 0);
	}
	cr_expect_eq(urt_shutdown(c, SHUT_WR), 0);
	cr_expect_eq(urt_recv(c, in, sizeof in, 0), 0, "the server closed after our shutdown");
	void *total;
	cr_expect_eq(urt_join(srv, &total), 0);
	cr_expect_eq((intptr_t)total, 10 * 9 /* "message N" is 9 bytes */);
	cr_expect_eq(urt_close(c), 0);
	cr_expect_eq(urt_close(lfd), 0);
	return NULL;
}

Test(io_net, tcp_listen_connect_echo)
{
	urt_test_run(tcp_echo, NULL);
}

/* The same by hand: urt_socket, urt_bind, urt_listen, urt_connect. */
static void *manual(void *arg)
{
	(void)arg;
	int lfd = urt_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(lfd, 0, "urt_socket: %s", urt_strerror(lfd));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_expect_eq(urt_bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
	cr_expect_eq(urt_listen(lfd, 8), 0);
	a.sin_port = htons(port_of(lfd));
	int c = urt_socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(c, 0);
	urt_task *srv;
	cr_assert_eq(urt_spawn(&srv, server_echo_once, (void *)(intptr_t)lfd, NULL), 0);
	cr_expect_eq(urt_connect(c, (struct sockaddr *)&a, sizeof a), 0);
	cr_expect_eq(urt_connect(c, (struct sockaddr *)&a, sizeof a), -EISCONN);
	cr_expect_eq(urt_send(c, "ping", 4, 0), 4);
	char buf[8] = {0};
	cr_expect_eq(urt_recv(c, buf, 4, MSG_WAITALL), 4);
	cr_expect_str_eq(buf, "ping");
	cr_expect_eq(urt_shutdown(c, SHUT_RDWR), 0);
	cr_expect_eq(urt_join(srv, NULL), 0);
	cr_expect_eq(urt_close(c), 0);
	cr_expect_eq(urt_close(lfd), 0);
	/* a refused connection */
	c = urt_socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(c, 0);
	cr_expect_eq(urt_connect(c, (struct sockaddr *)&a, sizeof a), -ECONNREFUSED);
	cr_expect_eq(urt_close(c), 0);
	int r = urt_tcp_connect("127.0.0.1", ntohs(a.sin_port));
	cr_expect_eq(r, -ECONNREFUSED);
	if (r >= 0)
		close(r);
	return NULL;
}

Test(io_net, socket_bind_listen_connect)
{
	urt_test_run(manual, NULL);
}

/* sendmsg/recvmsg with several iovecs, over UDP (with addresses) and a
 * stream socketpair. */
static void *msgs(void *arg)
{
	(void)arg;
	int u1 = urt_socket(AF_INET, SOCK_DGRAM, 0), u2 = urt_socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(u1, 0);
	cr_assert_geq(u2, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(urt_bind(u2, (struct sockaddr *)&a, sizeof a), 0);
	a.sin_port = htons(port_of(u2));
	char h[] = "head:", b[] = "body";
	struct iovec out[2] = {{h, 5}, {b, 4}};
	struct msghdr m = {.msg_name = &a, .msg_namelen = sizeof a, .msg_iov = out, .msg_iovlen = 2};
	cr_expect_eq(urt_sendmsg(u1, &m, 0), 9);
	char x[3] = {0}, y[16] = {0};
	struct iovec in[2] = {{x, 3}, {y, 15}};
	struct sockaddr_in from;
	memset(&from, 0, sizeof from);
	struct msghdr r = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = in, .msg_iovlen = 2};
	cr_expect_eq(urt_recvmsg(u2, &r, 0), 9);
	cr_expect_eq(memcmp(x, "hea", 3), 0);
	cr_expect_str_eq(y, "d:body");
	cr_expect_eq(r.msg_namelen, sizeof from);
	cr_expect_eq(from.sin_port, htons(port_of(u1)), "recvmsg did not fill the sender's address");
	close(u1);
	close(u2);

	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct msghdr s2 = {.msg_iov = out, .msg_iovlen = 2};
	cr_expect_eq(urt_sendmsg(sv[0], &s2, 0), 9);
	memset(y, 0, sizeof y);
	struct iovec one = {y, sizeof y - 1};
	struct msghdr r2 = {.msg_iov = &one, .msg_iovlen = 1};
	cr_expect_eq(urt_recvmsg(sv[1], &r2, 0), 9);
	cr_expect_str_eq(y, "head:body");
	cr_expect_eq(urt_shutdown(sv[0], SHUT_WR), 0);
	cr_expect_eq(urt_recvmsg(sv[1], &r2, 0), 0);
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

Test(io_net, sendmsg_recvmsg)
{
	urt_test_run(msgs, NULL);
}

/* urt_write_all with a buffer far larger than the socket buffer: it loops
 * over short writes while a reader task drains the other end. */
enum { BIG = 8 << 20 };

static void *drain(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char *buf = malloc(1 << 16);
	size_t got = 0;
	intptr_t bad = 0;
	ssize_t n;
	while ((n = urt_recv(fd, buf, 1 << 16, 0)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			bad += buf[i] != (unsigned char)((got + (size_t)i) % 251);
		got += (size_t)n;
	}
	free(buf);
	return (void *)(intptr_t)(bad ? -1 : (intptr_t)got);
}

static void *write_all_big(void *arg)
{
	(void)arg;
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	unsigned char *out = malloc(BIG);
	cr_assert_not_null(out);
	for (size_t i = 0; i < BIG; i++)
		out[i] = (unsigned char)(i % 251);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, drain, (void *)(intptr_t)sv[1], NULL), 0);
	cr_expect_eq(urt_write_all(sv[0], out, BIG), BIG);
	cr_expect_eq(urt_shutdown(sv[0], SHUT_WR), 0);
	void *got;
	cr_expect_eq(urt_join(t, &got), 0);
	cr_expect_eq((intptr_t)got, BIG, "reader got %ld bytes (-1: corrupted)", (long)(intptr_t)got);
	cr_expect_eq(urt_write_all(sv[0], out, 0), 0);
	close(sv[1]);
	cr_expect_eq(urt_write_all(sv[0], out, 10), -EPIPE, "write_all to a closed peer");
	close(sv[0]);
	free(out);
	return NULL;
}

Test(io_net, write_all_large_socketpair)
{
	signal(SIGPIPE, SIG_IGN); /* the last write goes to a closed peer */
	urt_test_run(write_all_big, NULL);
}

static void *reuseport(void *arg)
{
	(void)arg;
	int a = urt_tcp_listen("127.0.0.1", 0, 8, 1);
	cr_assert_geq(a, 0);
	int b = urt_tcp_listen("127.0.0.1", port_of(a), 8, 1);
	cr_expect_geq(b, 0, "a second SO_REUSEPORT listener on the same port: %d", b);
	int c = urt_tcp_listen("127.0.0.1", port_of(a), 8, 0);
	cr_expect_eq(c, -EADDRINUSE);
	if (b >= 0)
		close(b);
	if (c >= 0)
		close(c);
	close(a);
	return NULL;
}

Test(io_net, tcp_listen_reuseport)
{
	urt_test_run(reuseport, NULL);
}

/* urt_tcp_listen is usable outside tasks; bad addresses are -EINVAL. */
Test(io_net, tcp_listen_outside_a_task)
{
	int fd = urt_tcp_listen("127.0.0.1", 0, 4, 0);
	cr_expect_geq(fd, 0, "urt_tcp_listen outside a task: %d", fd);
	if (fd >= 0) {
		cr_expect_gt(port_of(fd), 0);
		close(fd);
	}
	cr_expect_eq(urt_tcp_listen("not-an-ip", 0, 4, 0), -EINVAL);
	cr_expect_eq(urt_tcp_listen("300.1.1.1", 0, 4, 0), -EINVAL);
	/* NULL means the loopback address */
	fd = urt_tcp_listen(NULL, 0, 4, 0);
	cr_expect_geq(fd, 0);
	if (fd >= 0) {
		struct sockaddr_in a;
		socklen_t len = sizeof a;
		cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
		cr_expect_eq(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
		close(fd);
	}
}

static void *bad_input(void *arg)
{
	(void)arg;
	char buf[8];
	struct iovec iov = {buf, sizeof buf};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	cr_expect_eq(urt_tcp_connect("nope", 80), -EINVAL);
	cr_expect_eq(urt_recv(-1, buf, sizeof buf, 0), -EBADF);
	cr_expect_eq(urt_send(-1, buf, sizeof buf, 0), -EBADF);
	cr_expect_eq(urt_recvmsg(-1, &m, 0), -EBADF);
	cr_expect_eq(urt_sendmsg(-1, &m, 0), -EBADF);
	cr_expect_eq(urt_accept(-1, NULL, NULL, 0), -EBADF);
	cr_expect_eq(urt_shutdown(-1, SHUT_RDWR), -EBADF);
	struct sockaddr_in a = {.sin_family = AF_INET};
	cr_expect_eq(urt_connect(-1, (struct sockaddr *)&a, sizeof a), -EBADF);
	cr_expect_eq(urt_bind(-1, (struct sockaddr *)&a, sizeof a), -EBADF);
	cr_expect_eq(urt_listen(-1, 1), -EBADF);
	cr_expect_eq(urt_socket(AF_INET, 12345, 0), -EINVAL);
	cr_expect_lt(urt_socket(-5, SOCK_STREAM, 0), 0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_expect_eq(urt_recv(p[0], buf, sizeof buf, 0), -ENOTSOCK);
	cr_expect_eq(urt_accept(p[0], NULL, NULL, 0), -ENOTSOCK);
	close(p[0]);
	close(p[1]);
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_expect_eq(urt_send(sv[0], "abc", 3, 0), 3);
	cr_expect_eq(urt_recv(sv[1], NULL, 3, 0), -EFAULT);
	cr_expect_eq(urt_send(sv[0], NULL, 3, 0), -EFAULT);
	cr_expect_eq(urt_recv(sv[1], buf, sizeof buf, 0), 3, "the failed recv consumed data");
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

Test(io_net, bad_input)
{
	urt_test_run(bad_input, NULL);
}

Test(io_net, outside_a_task_eperm)
{
	char buf[4];
	struct iovec iov = {buf, 4};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	cr_expect_eq(urt_socket(AF_INET, SOCK_STREAM, 0), -EPERM);
	cr_expect_eq(urt_accept(sv[0], NULL, NULL, 0), -EPERM);
	cr_expect_eq(urt_connect(sv[0], (struct sockaddr *)&a, sizeof a), -EPERM);
	cr_expect_eq(urt_recv(sv[0], buf, 4, 0), -EPERM);
	cr_expect_eq(urt_send(sv[0], buf, 4, 0), -EPERM);
	cr_expect_eq(urt_recvmsg(sv[0], &m, 0), -EPERM);
	cr_expect_eq(urt_sendmsg(sv[0], &m, 0), -EPERM);
	cr_expect_eq(urt_shutdown(sv[0], SHUT_RDWR), -EPERM);
	cr_expect_eq(urt_write_all(sv[0], buf, 4), -EPERM);
	cr_expect_eq(urt_tcp_connect("127.0.0.1", 1), -EPERM);
	cr_expect_eq(urt_test_readable(sv[1]), 0, "a call outside a task still sent data");
	close(sv[0]);
	close(sv[1]);
}
