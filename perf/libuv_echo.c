/* libuv-echo: the libuv peer of urt-echo. One uv loop, uv_tcp_t per
 * connection; a read is answered with uv_try_write, falling back to
 * uv_write for what did not go out (a copy kept until its callback).
 * The stop signalfd is watched with uv_poll; "enters" counts loop
 * iterations (one epoll_wait each), through a uv_check handle. */
#include "srv_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BUF_SIZE 4096

static perf_srv_counts counts;
static uv_loop_t *loop;
static uv_tcp_t server;
static uv_poll_t stop_poll;
static uv_check_t iter_check;

typedef struct pending_write {
	uv_write_t req;
	char data[];
} pending_write;

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h, (void)suggested;
	static char slab[BUF_SIZE]; /* one loop thread: the read is consumed before the next */
	*buf = uv_buf_init(slab, sizeof slab);
}

static void close_cb(uv_handle_t *h) { free(h); }

static void write_cb(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	if (n < 0) {
		uv_close((uv_handle_t *)s, close_cb);
		return;
	}
	if (n == 0)
		return;
	counts.echoes++;
	counts.bytes += (uint64_t)n;
	uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
	int w = uv_try_write(s, &out, 1);
	if (w == n)
		return;
	if (w < 0 && w != UV_EAGAIN) {
		uv_close((uv_handle_t *)s, close_cb);
		return;
	}
	size_t done = w > 0 ? (size_t)w : 0, rest = (size_t)n - done;
	pending_write *p = malloc(sizeof *p + rest);
	if (!p) {
		uv_close((uv_handle_t *)s, close_cb);
		return;
	}
	memcpy(p->data, buf->base + done, rest);
	uv_buf_t b = uv_buf_init(p->data, (unsigned)rest);
	uv_write(&p->req, s, &b, 1, write_cb);
}

static void on_connection(uv_stream_t *srv, int status)
{
	if (status < 0)
		return;
	uv_tcp_t *c = malloc(sizeof *c);
	if (!c)
		return;
	uv_tcp_init(loop, c);
	if (uv_accept(srv, (uv_stream_t *)c) != 0) {
		uv_close((uv_handle_t *)c, close_cb);
		return;
	}
	uv_tcp_nodelay(c, 1);
	counts.conns++;
	uv_read_start((uv_stream_t *)c, alloc_cb, read_cb);
}

static void on_stop(uv_poll_t *h, int status, int events)
{
	(void)h, (void)status, (void)events;
	perf_srv_report("libuv-echo", &counts);
	exit(0);
}

static void on_iter(uv_check_t *h)
{
	(void)h;
	counts.enters++;
}

int main(int argc, char **argv)
{
	perf_srv_args a;
	if (perf_srv_parse(argc, argv, &a, 0) < 0)
		return 2;
	int stop_fd = perf_srv_stop_fd(a.seconds, 1);
	if (stop_fd < 0)
		return 1;
	loop = uv_default_loop();
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", a.port, &sa);
	uv_tcp_init(loop, &server);
	int r = uv_tcp_bind(&server, (const struct sockaddr *)&sa, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&server, 1024, on_connection);
	if (r != 0) {
		fprintf(stderr, "libuv-echo: listen: %s\n", uv_strerror(r));
		return 1;
	}
	uv_poll_init(loop, &stop_poll, stop_fd);
	uv_poll_start(&stop_poll, UV_READABLE, on_stop);
	uv_check_init(loop, &iter_check);
	uv_check_start(&iter_check, on_iter);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0;
}
