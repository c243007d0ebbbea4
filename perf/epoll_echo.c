/* epoll-echo: the readiness-based peer of urt-echo. One thread, level-
 * triggered epoll, non-blocking sockets; each readable connection gets one
 * recv and the bytes are sent straight back. A send that comes up short
 * (never with 64-byte ping-pong, but correct anyway) parks the rest and
 * waits for EPOLLOUT before reading again. */
#include "srv_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 4096

typedef struct conn {
	int fd;
	unsigned len, off; /* unsent bytes are buf[off, len) */
	char buf[BUF_SIZE];
} conn;

static perf_srv_counts counts;

static void conn_close(int ep, conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Send what is pending; returns 1 when all is sent, 0 if it must wait, -1 on error. */
static int conn_flush(conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		c->off += (unsigned)n;
	}
	return 1;
}

static void set_events(int ep, conn *c, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void on_ready(int ep, conn *c, unsigned events)
{
	if (c->off < c->len) { /* EPOLLOUT after a short send */
		int r = conn_flush(c);
		if (r < 0)
			conn_close(ep, c);
		else if (r > 0)
			set_events(ep, c, EPOLLIN);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	ssize_t n = recv(c->fd, c->buf, BUF_SIZE, 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		conn_close(ep, c);
		return;
	}
	counts.echoes++;
	counts.bytes += (uint64_t)n;
	c->len = (unsigned)n;
	c->off = 0;
	int r = conn_flush(c);
	if (r < 0)
		conn_close(ep, c);
	else if (r == 0)
		set_events(ep, c, EPOLLOUT);
}

static void on_accept(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		conn *c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->len = c->off = 0;
		perf_srv_nodelay(fd);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		counts.conns++;
	}
}

int main(int argc, char **argv)
{
	perf_srv_args a;
	if (perf_srv_parse(argc, argv, &a, 0) < 0)
		return 2;
	int sfd = perf_srv_stop_fd(a.seconds, 1);
	int lfd = perf_srv_listen(a.port, 1);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || lfd < 0 || ep < 0) {
		fprintf(stderr, "epoll-echo: set-up failed (port %u)\n", a.port);
		return 1;
	}
	/* the listener and the stop signal are told apart by these two tags */
	static char lfd_tag, sfd_tag;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lfd_tag };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &sfd_tag;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

	struct epoll_event evs[256];
	for (int stop = 0; !stop;) {
		int n = epoll_wait(ep, evs, 256, -1);
		counts.enters++;
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &sfd_tag)
				stop = 1;
			else if (p == &lfd_tag)
				on_accept(ep, lfd);
			else
				on_ready(ep, p, evs[i].events);
		}
	}
	perf_srv_report("epoll-echo", &counts);
	return 0;
}
