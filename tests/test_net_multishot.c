/* Multishot accept and recv with a provided-buffer ring: many connections,
 * buffer-ring exhaustion (-ENOBUFS) and recovery, close with queued
 * buffers and in cancelled tasks, bad input. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "urt_net.h"

TestSuite(net_multishot, .timeout = 20);

static uint16_t port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

/* ---- buffer rings -------------------------------------------------------- */

static void *bufring_basics(void *arg)
{
	(void)arg;
	urt_bufring *br;
	cr_expect_eq(urt_bufring_create(NULL, 8, 64), -EINVAL);
	cr_expect_eq(urt_bufring_create(&br, 0, 64), -EINVAL);
	cr_expect_eq(urt_bufring_create(&br, 6, 64), -EINVAL, "not a power of two");
	cr_expect_eq(urt_bufring_create(&br, 65536, 64), -EINVAL);
	cr_expect_eq(urt_bufring_create(&br, 8, 0), -EINVAL);
	cr_expect_eq(urt_bufring_create(&br, 8, (2u << 20)), -EINVAL);
	cr_assert_eq(urt_bufring_create(&br, 8, 64), 0);
	cr_expect_eq(urt_bufring_available(br), 8);
	cr_expect_eq(urt_bufring_available(NULL), -EINVAL);
	urt_buf fake = {.data = NULL, .len = 0, .id = 3};
	cr_expect_eq(urt_bufring_release(br, &fake), -EINVAL, "not lent out");
	cr_expect_eq(urt_bufring_release(NULL, &fake), -EINVAL);
	urt_bufring *br2; /* a second ring gets its own group */
	cr_assert_eq(urt_bufring_create(&br2, 1, 4096), 0);
	cr_expect_eq(urt_bufring_destroy(br2), 0);
	cr_expect_eq(urt_bufring_destroy(br), 0);
	cr_expect_eq(urt_bufring_destroy(NULL), -EINVAL);
	return NULL;
}

Test(net_multishot, bufring_basics) { urt_test_run(bufring_basics, NULL); }

Test(net_multishot, outside_loop)
{
	urt_bufring *br;
	urt_msrecv *r;
	urt_acceptor *a;
	cr_expect_eq(urt_bufring_create(&br, 8, 64), -EPERM);
	cr_expect_eq(urt_msrecv_open(&r, 0, NULL, 0), -EPERM);
	cr_expect_eq(urt_acceptor_open(&a, 0, 0, 0), -EPERM);
	cr_expect_eq(urt_acceptor_next(NULL), -EINVAL);
	urt_buf b;
	cr_expect_eq(urt_msrecv_next(NULL, &b), -EINVAL);
}

/* ---- echo over many connections ----------------------------------------- */

#define NCONN 200

struct echo_env {
	urt_bufring *br;
	int lfd;
	int served;
};

struct conn_arg { struct echo_env *env; int fd; };

static void *serve_one(void *p)
{
	struct conn_arg *ca = p;
	urt_msrecv *r;
	cr_assert_eq(urt_msrecv_open(&r, ca->fd, ca->env->br, 0), 0);
	urt_buf b;
	ssize_t n;
	while ((n = urt_msrecv_next(r, &b)) > 0) {
		cr_expect_eq(urt_write_all(ca->fd, b.data, (size_t)n), n);
		cr_expect_eq(urt_bufring_release(ca->env->br, &b), 0);
		cr_expect_eq(b.data, NULL, "released buffer is cleared");
	}
	cr_expect_eq(n, 0, "EOF: %s", urt_strerror((int)n));
	cr_expect_eq(urt_msrecv_next(r, &b), 0, "EOF is sticky");
	cr_expect_eq(urt_msrecv_close(r), 0);
	close(ca->fd);
	ca->env->served++;
	return NULL;
}

static void *acceptor_task(void *p)
{
	struct echo_env *env = p;
	urt_acceptor *a;
	cr_assert_eq(urt_acceptor_open(&a, env->lfd, SOCK_CLOEXEC, 0), 0);
	static struct conn_arg args[NCONN];
	urt_task *tasks[NCONN];
	for (int i = 0; i < NCONN; i++) {
		int fd = urt_acceptor_next(a);
		cr_assert_geq(fd, 0, "accept: %s", urt_strerror(fd));
		cr_expect_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
		args[i] = (struct conn_arg){env, fd};
		cr_assert_eq(urt_spawn(&tasks[i], serve_one, &args[i],
				       &(urt_task_opts){.stack_size = 16384}), 0);
	}
	cr_expect_eq(urt_acceptor_close(a), 0);
	cr_expect_eq(urt_wait_all(tasks, NCONN), 0);
	for (int i = 0; i < NCONN; i++)
		urt_join(tasks[i], NULL);
	return NULL;
}

static void *client_task(void *p)
{
	uint16_t port = (uint16_t)(uintptr_t)p;
	int fd = urt_tcp_connect("127.0.0.1", port);
	cr_assert_geq(fd, 0, "connect: %s", urt_strerror(fd));
	char out[100], in[100];
	for (int round = 0; round < 5; round++) {
		snprintf(out, sizeof out, "hello %d from %d", round, fd);
		size_t len = strlen(out);
		cr_assert_eq(urt_write_all(fd, out, len), (ssize_t)len);
		size_t got = 0;
		while (got < len) {
			ssize_t n = urt_recv(fd, in + got, len - got, 0);
			cr_assert_gt(n, 0);
			got += (size_t)n;
		}
		cr_assert_eq(memcmp(in, out, len), 0);
	}
	urt_close(fd);
	return NULL;
}

static void *many_conns(void *arg)
{
	(void)arg;
	struct echo_env env = {0};
	cr_assert_eq(urt_bufring_create(&env.br, 64, 256), 0);
	env.lfd = urt_tcp_listen("127.0.0.1", 0, 512, 0);
	cr_assert_geq(env.lfd, 0);
	urt_task *acc, *clients[NCONN];
	cr_assert_eq(urt_spawn(&acc, acceptor_task, &env, NULL), 0);
	for (int i = 0; i < NCONN; i++)
		cr_assert_eq(urt_spawn(&clients[i], client_task,
				       (void *)(uintptr_t)port_of(env.lfd),
				       &(urt_task_opts){.stack_size = 16384}), 0);
	for (int i = 0; i < NCONN; i++)
		cr_expect_eq(urt_join(clients[i], NULL), 0);
	cr_expect_eq(urt_join(acc, NULL), 0);
	cr_expect_eq(env.served, NCONN);
	cr_expect_eq(urt_bufring_available(env.br), 64, "every buffer came back");
	cr_expect_eq(urt_bufring_destroy(env.br), 0);
	close(env.lfd);
	return NULL;
}

Test(net_multishot, accept_and_recv_many_connections) { urt_test_run(many_conns, NULL); }

/* ---- exhaustion ---------------------------------------------------------- */

/* A pair of connected TCP sockets (plain system calls). */
static void tcp_pair(int *a, int *b)
{
	int lfd = urt_tcp_listen("127.0.0.1", 0, 4, 0);
	cr_assert_geq(lfd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port_of(lfd)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(*a, (struct sockaddr *)&sa, sizeof sa), 0);
	*b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(*b, 0);
	close(lfd);
}

/* Take the next buffer, expect it to hold want's next bytes (of len, got
 * of them taken so far), give it back; returns the new got. */
static size_t take(urt_msrecv *r, urt_bufring *br, const char *want, size_t len, size_t got)
{
	urt_buf x;
	ssize_t n = urt_msrecv_next(r, &x);
	cr_assert_gt(n, 0, "%s", urt_strerror((int)n));
	cr_assert_leq(got + (size_t)n, len);
	cr_assert_eq(memcmp(x.data, want + got, (size_t)n), 0, "in order at %zu", got);
	cr_assert_eq(urt_bufring_release(br, &x), 0);
	return got + (size_t)n;
}

/* The peer a closes: the receive on b ends with 0 (EOF); then everything is
 * closed and destroyed. */
static void finish(int a, int b, urt_msrecv *r, urt_bufring *br)
{
	close(a);
	urt_buf e;
	cr_expect_eq(urt_msrecv_next(r, &e), 0);
	cr_expect_eq(urt_msrecv_close(r), 0);
	cr_expect_eq(urt_bufring_destroy(br), 0);
	close(b);
}

static void *exhaustion(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	urt_bufring *br;
	cr_assert_eq(urt_bufring_create(&br, 2, 16), 0);
	urt_msrecv *r;
	cr_assert_eq(urt_msrecv_open(&r, b, br, 0), 0);
	char msg[1000];
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (char)('a' + i % 26);
	urt_loop_stats s0, s1;
	urt_loop_stats_get(NULL, &s0);
	/* hold both buffers: the kernel must end the multishot with -ENOBUFS */
	urt_buf held[2];
	cr_assert_eq(write(a, msg, 32), 32);
	size_t got = 0;
	for (int i = 0; i < 2; i++) {
		ssize_t n = urt_msrecv_next(r, &held[i]);
		cr_assert_gt(n, 0);
		cr_assert_eq(memcmp(held[i].data, msg + got, (size_t)n), 0);
		got += (size_t)n;
	}
	cr_expect_eq(urt_bufring_available(br), 0);
	cr_assert_eq(write(a, msg + got, sizeof msg - got), (ssize_t)(sizeof msg - got));
	/* wait for the kernel to find no buffer (a loaded machine may deliver
	 * the data late: wait for the count, not a fixed time) */
	uint64_t end = urt_now() + 5 * URT_NS_PER_SEC;
	do
		urt_sleep(URT_NS_PER_MS);
	while (urt_loop_stats_get(NULL, &s1) == 0 && s1.enobufs == s0.enobufs && urt_now() < end);
	cr_expect_gt(s1.enobufs, s0.enobufs, "-ENOBUFS is counted");
	/* a next() with no free buffer waits for one: a deadline ends the wait */
	urt_deadline d;
	urt_deadline_enter(&d, 10 * URT_NS_PER_MS);
	urt_buf b3;
	cr_expect_eq(urt_msrecv_next(r, &b3), -ETIME);
	urt_deadline_exit(&d);
	cr_assert_eq(urt_bufring_release(br, &held[0]), 0);
	cr_assert_eq(urt_bufring_release(br, &held[1]), 0);
	/* recovery: re-armed, everything arrives in order */
	while (got < sizeof msg)
		got = take(r, br, msg, sizeof msg, got);
	cr_expect_eq(got, sizeof msg);
	finish(a, b, r, br);
	return NULL;
}

Test(net_multishot, enobufs_and_recovery) { urt_test_run(exhaustion, NULL); }

/* ---- queue order -------------------------------------------------------- */

/* Wait (for a count, not a fixed time) until the ring has at most avail
 * buffers left, i.e. the data written so far sits in the receive's queue. */
static void wait_queued(urt_bufring *br, int avail)
{
	for (uint64_t end = urt_now() + 5 * URT_NS_PER_SEC;
	     urt_bufring_available(br) > avail && urt_now() < end;)
		urt_sleep(URT_NS_PER_MS);
	cr_assert_leq(urt_bufring_available(br), avail, "the data never arrived");
}

/* Buffers filled while the task is away queue up and come out first in,
 * first out: from a queue of one, of several, and of one that grows again
 * while it is being drained. */
static void *queue_order(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	urt_bufring *br;
	cr_assert_eq(urt_bufring_create(&br, 16, 8), 0);
	urt_msrecv *r;
	cr_assert_eq(urt_msrecv_open(&r, b, br, 0), 0);
	const char msg[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?";
	size_t got = 0, sent = 8;
	cr_assert_eq(write(a, msg, 8), 8); /* a queue of one: arms the receive */
	got = take(r, br, msg, sizeof msg, got);
	cr_assert_eq(write(a, msg + sent, 24), 24); /* three buffers at least */
	sent += 24;
	wait_queued(br, 13);
	got = take(r, br, msg, sizeof msg, got);
	cr_assert_eq(write(a, msg + sent, 16), 16); /* more behind what is queued */
	sent += 16;
	wait_queued(br, 16 - (int)((sent - got + 7) / 8));
	while (got < sent)
		got = take(r, br, msg, sizeof msg, got);
	cr_expect_eq(urt_bufring_available(br), 16);
	finish(a, b, r, br);
	return NULL;
}

Test(net_multishot, queued_buffers_come_out_in_order) { urt_test_run(queue_order, NULL); }

/* ---- close ---------------------------------------------------------------- */

static void *close_with_queue(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	urt_bufring *br;
	cr_assert_eq(urt_bufring_create(&br, 8, 8), 0);
	urt_msrecv *r;
	cr_assert_eq(urt_msrecv_open(&r, b, br, 0), 0);
	cr_assert_eq(write(a, "0123456789abcdef0123", 20), 20);
	urt_buf x;
	cr_assert_gt(urt_msrecv_next(r, &x), 0);
	/* the rest lands in the queue (wait for it, not for a fixed time) */
	for (uint64_t end = urt_now() + 5 * URT_NS_PER_SEC;
	     urt_bufring_available(br) == 7 && urt_now() < end;)
		urt_sleep(URT_NS_PER_MS);
	cr_assert_lt(urt_bufring_available(br), 7, "the rest of the data never arrived");
	cr_expect_eq(urt_bufring_destroy(br), -EBUSY, "in use");
	cr_expect_eq(urt_msrecv_close(r), 0);
	cr_expect_eq(urt_bufring_available(br), 7, "queued buffers went back, x is still lent");
	cr_expect_eq(urt_bufring_destroy(br), -EBUSY, "a buffer is lent out");
	cr_expect_eq(urt_bufring_release(br, &x), 0);
	cr_expect_eq(urt_bufring_destroy(br), 0);
	close(a);
	close(b);
	return NULL;
}

Test(net_multishot, close_returns_queued_buffers) { urt_test_run(close_with_queue, NULL); }

struct cancel_env { urt_bufring *br; int fd; ssize_t res; int closed; };

static void *waiting_receiver(void *p)
{
	struct cancel_env *e = p;
	urt_msrecv *r;
	cr_assert_eq(urt_msrecv_open(&r, e->fd, e->br, 0), 0);
	urt_buf x;
	e->res = urt_msrecv_next(r, &x); /* nothing comes: cancelled */
	e->closed = urt_msrecv_close(r); /* still works in a cancelled task */
	return NULL;
}

static void *cancel_receiver(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	struct cancel_env e = {.fd = b, .closed = 1};
	cr_assert_eq(urt_bufring_create(&e.br, 4, 64), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, waiting_receiver, &e, NULL), 0);
	urt_sleep(5 * URT_NS_PER_MS);
	cr_assert_eq(urt_cancel(t), 0);
	cr_expect_eq(urt_join(t, NULL), -ECANCELED);
	cr_expect_eq(e.res, -ECANCELED);
	cr_expect_eq(e.closed, 0);
	cr_expect_eq(urt_bufring_destroy(e.br), 0);
	close(a);
	close(b);
	return NULL;
}

Test(net_multishot, cancel_waiting_receive) { urt_test_run(cancel_receiver, NULL); }

static void *recv_errors(void *arg)
{
	(void)arg;
	urt_bufring *br, *none = NULL;
	cr_assert_eq(urt_bufring_create(&br, 4, 64), 0);
	urt_msrecv *r;
	cr_expect_eq(urt_msrecv_open(NULL, 0, br, 0), -EINVAL);
	cr_expect_eq(urt_msrecv_open(&r, 0, none, 0), -EINVAL);
	cr_expect_eq(urt_msrecv_open(&r, -1, br, 0), -EINVAL);
	cr_expect_eq(urt_msrecv_open(&r, 0, br, 0x100), -EINVAL);
	/* a regular file is not a socket: the kernel's error comes back */
	char path[] = "/tmp/urt-net-XXXXXX";
	int fd = mkstemp(path);
	unlink(path);
	cr_assert_eq(urt_msrecv_open(&r, fd, br, 0), 0);
	urt_buf x;
	ssize_t n = urt_msrecv_next(r, &x);
	cr_expect_lt(n, 0, "recv on a file: %zd", n);
	cr_expect_eq(urt_msrecv_next(r, &x), n, "errors are sticky");
	cr_expect_eq(urt_msrecv_close(r), 0);
	close(fd);
	cr_expect_eq(urt_msrecv_close(NULL), -EINVAL);
	cr_expect_eq(urt_bufring_destroy(br), 0);
	urt_acceptor *a;
	cr_expect_eq(urt_acceptor_open(&a, -1, 0, 0), -EINVAL);
	cr_expect_eq(urt_acceptor_open(&a, 0, 0x4000, 0), -EINVAL);
	cr_expect_eq(urt_acceptor_close(NULL), -EINVAL);
	/* accept on a socket that does not listen fails, and says so */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(urt_acceptor_open(&a, s, 0, 0), 0);
	cr_expect_eq(urt_acceptor_next(a), -EINVAL);
	cr_expect_eq(urt_acceptor_close(a), 0);
	close(s);
	return NULL;
}

Test(net_multishot, bad_input_and_kernel_errors) { urt_test_run(recv_errors, NULL); }

/* Connections accepted but never taken are closed by close. */
static void *acceptor_leftovers(void *arg)
{
	(void)arg;
	int lfd = urt_tcp_listen("127.0.0.1", 0, 16, 0);
	urt_acceptor *a;
	cr_assert_eq(urt_acceptor_open(&a, lfd, SOCK_CLOEXEC, 0), 0);
	int c1 = urt_tcp_connect("127.0.0.1", port_of(lfd));
	int fd = urt_acceptor_next(a);
	cr_assert_geq(fd, 0);
	int base = urt_test_fd_count();
	int c2 = urt_tcp_connect("127.0.0.1", port_of(lfd));
	int c3 = urt_tcp_connect("127.0.0.1", port_of(lfd));
	/* wait until the acceptor has taken both: two client fds, two accepted
	 * (a loaded machine may be slow to: wait for the fds, not a fixed time) */
	for (uint64_t end = urt_now() + 5 * URT_NS_PER_SEC;
	     urt_test_fd_count() < base + 4 && urt_now() < end;)
		urt_sleep(URT_NS_PER_MS);
	int before = urt_test_fd_count();
	cr_assert_eq(before, base + 4, "the acceptor took %d of 2 connections", before - base - 2);
	cr_expect_eq(urt_acceptor_close(a), 0);
	cr_expect_eq(urt_test_fd_count(), before - 2, "two queued connections closed");
	char c;
	cr_expect_eq(urt_recv(c2, &c, 1, 0), 0, "peer sees EOF");
	close(fd);
	close(c1);
	close(c2);
	close(c3);
	close(lfd);
	return NULL;
}

Test(net_multishot, acceptor_close_closes_queued) { urt_test_run(acceptor_leftovers, NULL); }

/* ---- several tasks on one object or one ring ------------------------------ */

struct shared_env {
	urt_bufring *br;
	urt_msrecv *r;
	urt_acceptor *acc;
	ssize_t res;
};

static void *msrecv_reader(void *p)
{
	struct shared_env *e = p;
	urt_buf b;
	e->res = urt_msrecv_next(e->r, &b);
	if (e->res > 0)
		urt_bufring_release(e->br, &b);
	return NULL;
}

static void *acceptor_reader(void *p)
{
	struct shared_env *e = p;
	e->res = urt_acceptor_next(e->acc);
	return NULL;
}

/* Close from another task while a reader is in next(): -EBUSY, nothing
 * freed under the reader; a second reader is -EBUSY too; once the reader
 * was cancelled and joined, close works (ASan: no use after free). */
static void *close_under_reader(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	int lfd = urt_tcp_listen(NULL, 0, 16, 0);
	cr_assert_geq(lfd, 0);
	struct shared_env e = {.res = 1};
	cr_assert_eq(urt_bufring_create(&e.br, 4, 64), 0);
	cr_assert_eq(urt_msrecv_open(&e.r, b, e.br, 0), 0);
	cr_assert_eq(urt_acceptor_open(&e.acc, lfd, SOCK_CLOEXEC, 0), 0);
	urt_task *t;
	urt_buf x;
	cr_assert_eq(urt_spawn(&t, msrecv_reader, &e, NULL), 0);
	urt_sleep(5 * URT_NS_PER_MS); /* parked in next() */
	cr_expect_eq(urt_msrecv_close(e.r), -EBUSY);
	cr_expect_eq(urt_msrecv_next(e.r, &x), -EBUSY, "one reader at a time");
	cr_assert_eq(urt_cancel(t), 0);
	cr_expect_eq(urt_join(t, NULL), -ECANCELED);
	cr_expect_eq(e.res, -ECANCELED);
	cr_expect_eq(urt_msrecv_close(e.r), 0);

	cr_assert_eq(urt_spawn(&t, acceptor_reader, &e, NULL), 0);
	urt_sleep(5 * URT_NS_PER_MS);
	cr_expect_eq(urt_acceptor_close(e.acc), -EBUSY);
	cr_expect_eq(urt_acceptor_next(e.acc), -EBUSY);
	cr_assert_eq(urt_cancel(t), 0);
	cr_expect_eq(urt_join(t, NULL), -ECANCELED);
	cr_expect_eq(urt_acceptor_close(e.acc), 0);

	cr_expect_eq(urt_bufring_destroy(e.br), 0);
	close(a);
	close(b);
	close(lfd);
	return NULL;
}

Test(net_multishot, close_while_another_task_reads) { urt_test_run(close_under_reader, NULL); }

/* Lend out a one-buffer ring's only buffer through its own socket pair. */
static void lend_only_buffer(urt_bufring *br, int fds[2], urt_msrecv **rx, urt_buf *held)
{
	tcp_pair(&fds[0], &fds[1]);
	cr_assert_eq(urt_msrecv_open(rx, fds[1], br, 0), 0);
	cr_assert_eq(urt_send(fds[0], "h", 1, 0), 1);
	cr_assert_eq(urt_msrecv_next(*rx, held), 1);
	cr_assert_eq(urt_bufring_available(br), 0);
}

/* Two receives wait for a buffer; only the second's socket has data. One
 * buffer coming back must reach it (it was handed to the first, which
 * re-armed on its idle socket, and the second waited on). */
static void *room_wakes_all(void *arg)
{
	(void)arg;
	urt_bufring *br;
	cr_assert_eq(urt_bufring_create(&br, 1, 64), 0);
	int x[2], p[2], q[2];
	urt_msrecv *rx;
	urt_buf held;
	lend_only_buffer(br, x, &rx, &held);
	tcp_pair(&p[0], &p[1]);
	tcp_pair(&q[0], &q[1]);
	struct shared_env ea = {.br = br, .res = 1}, eb = {.br = br, .res = 1};
	cr_assert_eq(urt_msrecv_open(&ea.r, p[1], br, 0), 0);
	cr_assert_eq(urt_msrecv_open(&eb.r, q[1], br, 0), 0);
	urt_task *ta, *tb;
	cr_assert_eq(urt_spawn(&ta, msrecv_reader, &ea, NULL), 0);
	cr_assert_eq(urt_spawn(&tb, msrecv_reader, &eb, NULL), 0);
	urt_sleep(5 * URT_NS_PER_MS); /* both wait for a buffer, a first */
	cr_assert_eq(urt_send(q[0], "data for b", 10, 0), 10);
	urt_sleep(5 * URT_NS_PER_MS);
	cr_assert_eq(urt_bufring_release(br, &held), 0);
	cr_expect_eq(urt_test_join_within(tb, URT_NS_PER_SEC, NULL), 0, "b got the buffer");
	cr_expect_eq(eb.res, 10);
	cr_assert_eq(urt_cancel(ta), 0); /* a's socket stays idle */
	cr_expect_eq(urt_join(ta, NULL), -ECANCELED);
	cr_expect_eq(urt_msrecv_close(ea.r), 0);
	cr_expect_eq(urt_msrecv_close(eb.r), 0);
	cr_expect_eq(urt_msrecv_close(rx), 0);
	cr_expect_eq(urt_bufring_destroy(br), 0);
	for (int i = 0; i < 2; i++) {
		close(x[i]);
		close(p[i]);
		close(q[i]);
	}
	return NULL;
}

Test(net_multishot, returned_buffer_reaches_every_waiting_receive)
{
	urt_test_run(room_wakes_all, NULL);
}

/* A cancel that finds the receive ready (woken by a returned buffer, not
 * yet run) ends it with -ECANCELED instead of letting it park again. */
static void *cancel_while_ready(void *arg)
{
	(void)arg;
	urt_bufring *br;
	cr_assert_eq(urt_bufring_create(&br, 1, 64), 0);
	int x[2], p[2];
	urt_msrecv *rx;
	urt_buf held;
	lend_only_buffer(br, x, &rx, &held);
	tcp_pair(&p[0], &p[1]);
	struct shared_env e = {.br = br, .res = 1};
	cr_assert_eq(urt_msrecv_open(&e.r, p[1], br, 0), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, msrecv_reader, &e, NULL), 0);
	urt_sleep(5 * URT_NS_PER_MS); /* waits for a buffer */
	cr_assert_eq(urt_bufring_release(br, &held), 0); /* t is ready now */
	cr_assert_eq(urt_cancel(t), 0);
	cr_expect_eq(urt_test_join_within(t, URT_NS_PER_SEC, NULL), -ECANCELED);
	cr_expect_eq(e.res, -ECANCELED);
	cr_expect_eq(urt_msrecv_close(e.r), 0);
	cr_expect_eq(urt_msrecv_close(rx), 0);
	cr_expect_eq(urt_bufring_destroy(br), 0);
	for (int i = 0; i < 2; i++) {
		close(x[i]);
		close(p[i]);
	}
	return NULL;
}

Test(net_multishot, cancel_while_woken_not_run) { urt_test_run(cancel_while_ready, NULL); }
