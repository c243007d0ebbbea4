/* uring-echo: the hand-written raw-liburing peer of urt-echo, as good as a
 * straightforward completion-based server gets: one ring set up like urt's
 * (SINGLE_ISSUER + DEFER_TASKRUN when the kernel has them, registered ring
 * fd), one io_uring_submit_and_wait per iteration, completions reaped in a
 * batch. Each connection is a two-state machine: a recv in flight, or a
 * send of what was received (re-sent until all is out), then recv again.
 * The accept is re-armed after each connection; the stop signal is a read
 * of a signalfd through the ring, so the loop never needs EINTR. */
#include "srv_common.h"

#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define BUF_SIZE 4096
#define SQ_ENTRIES 1024

enum op_kind { OP_ACCEPT, OP_RECV, OP_SEND, OP_STOP }; /* low 2 bits of user_data */

typedef struct conn {
	int fd;
	unsigned len, off; /* the send in progress covers buf[off, len) */
	char buf[BUF_SIZE];
} conn;

static struct io_uring ring;
static perf_srv_counts counts;

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	while (!sqe) { /* SQ full: push it to the kernel and retry */
		io_uring_submit(&ring);
		counts.enters++;
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

static void tag(struct io_uring_sqe *sqe, void *p, enum op_kind k)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)p | (uint64_t)k);
}

static void post_recv(conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_recv(sqe, c->fd, c->buf, BUF_SIZE, 0);
	tag(sqe, c, OP_RECV);
}

static void post_send(conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
	tag(sqe, c, OP_SEND);
}

static void post_accept(int lfd)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	tag(sqe, NULL, OP_ACCEPT);
}

static void conn_close(conn *c)
{
	close(c->fd);
	free(c);
}

static void on_cqe(int lfd, uint64_t data, int res, int *stop)
{
	conn *c = (conn *)(uintptr_t)(data & ~(uint64_t)3);
	switch ((enum op_kind)(data & 3)) {
	case OP_ACCEPT:
		if (res >= 0) {
			c = malloc(sizeof(*c));
			if (!c) {
				close(res);
			} else {
				c->fd = res;
				perf_srv_nodelay(res);
				counts.conns++;
				post_recv(c);
			}
		}
		post_accept(lfd);
		break;
	case OP_RECV:
		if (res <= 0) {
			conn_close(c);
			break;
		}
		counts.echoes++;
		counts.bytes += (uint64_t)res;
		c->len = (unsigned)res;
		c->off = 0;
		post_send(c);
		break;
	case OP_SEND:
		if (res < 0) {
			conn_close(c);
			break;
		}
		c->off += (unsigned)res;
		if (c->off < c->len)
			post_send(c);
		else
			post_recv(c);
		break;
	case OP_STOP:
		*stop = 1;
		break;
	}
}

static int ring_init(void)
{
	static const unsigned try_flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN, 0 };
	int ret = -EINVAL;
	for (unsigned i = 0; i < sizeof(try_flags) / sizeof(try_flags[0]); i++) {
		struct io_uring_params p = { .flags = try_flags[i] | IORING_SETUP_CQSIZE,
					     .cq_entries = 4 * SQ_ENTRIES };
		ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
		if (ret == 0) {
			io_uring_register_ring_fd(&ring); /* optional: saves an fd lookup per enter */
			return 0;
		}
	}
	return ret;
}

int main(int argc, char **argv)
{
	perf_srv_args a;
	if (perf_srv_parse(argc, argv, &a, 0) < 0)
		return 2;
	int sfd = perf_srv_stop_fd(a.seconds, 0);
	int lfd = perf_srv_listen(a.port, 0);
	int ret = ring_init();
	if (sfd < 0 || lfd < 0 || ret < 0) {
		fprintf(stderr, "uring-echo: set-up failed (port %u, ring %d)\n", a.port, ret);
		return 1;
	}
	static struct signalfd_siginfo si;
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_read(sqe, sfd, &si, sizeof(si), 0);
	tag(sqe, NULL, OP_STOP);
	post_accept(lfd);

	for (int stop = 0; !stop;) {
		ret = io_uring_submit_and_wait(&ring, 1);
		counts.enters++;
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			fprintf(stderr, "uring-echo: io_uring_submit_and_wait: %d\n", ret);
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			on_cqe(lfd, cqe->user_data, cqe->res, &stop);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
	}
	perf_srv_report("uring-echo", &counts);
	return 0;
}
