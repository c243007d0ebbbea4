/* perf_load: the load client's engine (load.c) against small plain-thread
 * servers of the test's own: echo and HTTP replies, closed and open loop,
 * merging across loops, and the coordinated-omission correction on a
 * server that stalls once for a known time.
 * URT_TEST_THREADS (the servers are threads; they share only atomics) */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

/* ---- a tiny server: one thread per connection --------------------------- */

enum kind { ECHO, HTTP_OK, HTTP_404 };

#define MAX_CONNS 16

typedef struct server {
	enum kind kind;
	int lfd;
	uint16_t port;
	unsigned stall_after;   /* stall once before answering this request (1-based); 0 = never */
	unsigned stall_ms;
	atomic_uint served;     /* requests answered, over all connections */
	atomic_int stalled;
	pthread_t acceptor;
	pthread_t conn[MAX_CONNS];
	int fds[MAX_CONNS];
	atomic_uint nconn;
} server;

typedef struct conn_arg {
	server *s;
	int fd;
} conn_arg;

static void maybe_stall(server *s)
{
	unsigned n = atomic_fetch_add(&s->served, 1) + 1;
	if (s->stall_after && n == s->stall_after && !atomic_exchange(&s->stalled, 1))
		nanosleep(&(struct timespec){ .tv_sec = s->stall_ms / 1000,
					      .tv_nsec = (long)(s->stall_ms % 1000) * 1000000 },
			  NULL);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void serve_http(server *s, int fd)
{
	char buf[8192];
	size_t have = 0;
	const char *head = s->kind == HTTP_OK ? "HTTP/1.1 200 OK\r\nServer: t\r\n"
					      : "HTTP/1.1 404 Not Found\r\n";
	/* the length header in odd case and the body in its own write: the
	 * client must reassemble the reply */
	const char *rest = "content-LENGTH: 5\r\n\r\n";
	for (;;) {
		ssize_t n = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (n <= 0)
			return;
		have += (size_t)n;
		char *e;
		while ((e = memmem(buf, have, "\r\n\r\n", 4))) {
			size_t used = (size_t)(e - buf) + 4;
			memmove(buf, buf + used, have - used);
			have -= used;
			maybe_stall(s);
			if (write_all(fd, head, strlen(head)) || write_all(fd, rest, strlen(rest)) ||
			    write_all(fd, "hello", 5))
				return;
		}
	}
}

static void serve_echo(server *s, int fd)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return;
		maybe_stall(s); /* one recv is one request with small messages */
		if (write_all(fd, buf, (size_t)n))
			return;
	}
}

static void *conn_thread(void *arg)
{
	conn_arg a = *(conn_arg *)arg;
	free(arg);
	if (a.s->kind == ECHO)
		serve_echo(a.s, a.fd);
	else
		serve_http(a.s, a.fd);
	return NULL;
}

static void *accept_thread(void *arg)
{
	server *s = arg;
	for (;;) {
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			return NULL; /* shut down */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		unsigned i = atomic_load(&s->nconn);
		conn_arg *a = malloc(sizeof(*a));
		if (i >= MAX_CONNS || !a) {
			free(a);
			close(fd);
			continue;
		}
		*a = (conn_arg){ s, fd };
		s->fds[i] = fd;
		if (pthread_create(&s->conn[i], NULL, conn_thread, a) != 0) {
			free(a);
			close(fd);
			continue;
		}
		atomic_store(&s->nconn, i + 1);
	}
}

static void server_start(server *s, enum kind kind)
{
	s->kind = kind;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(s->lfd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s->lfd, 64), 0);
	cr_assert_eq(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&s->acceptor, NULL, accept_thread, s), 0);
}

static void server_stop(server *s)
{
	shutdown(s->lfd, SHUT_RDWR); /* wakes accept() */
	pthread_join(s->acceptor, NULL);
	close(s->lfd);
	for (unsigned i = 0; i < atomic_load(&s->nconn); i++) {
		/* the client closed its end: the thread is returning */
		pthread_join(s->conn[i], NULL);
		close(s->fds[i]);
	}
}

/* A port with nothing listening (bound then closed). */
static uint16_t dead_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	return ntohs(a.sin_port);
}

static server srv;
static perf_load_result res; /* two histograms: static, not on the stack */

/* ---- the HTTP reply parser ------------------------------------------------ */

Test(perf_load, http_reply_len_complete_and_partial)
{
	const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	size_t head = strlen(r) - 5;
	int st = 0;
	cr_assert_eq(perf_load_http_reply_len(r, strlen(r), &st), (long)strlen(r));
	cr_assert_eq(st, 200);
	/* the head alone already tells the whole length */
	cr_assert_eq(perf_load_http_reply_len(r, head, &st), (long)strlen(r));
	cr_assert_eq(perf_load_http_reply_len(r, head - 1, &st), 0, "head not complete");
	cr_assert_eq(perf_load_http_reply_len(r, 0, &st), 0);
	cr_assert_eq(perf_load_http_reply_len(r, 3, &st), 0, "a prefix of HTTP/1.");
	const char *lower = "HTTP/1.0 404 Nope\r\ncontent-length:12\r\nX: y\r\n\r\n";
	cr_assert_eq(perf_load_http_reply_len(lower, strlen(lower), &st), (long)strlen(lower) + 12);
	cr_assert_eq(st, 404);
}

Test(perf_load, http_reply_len_rejects_bad_replies)
{
	int st = 0;
	const char *nolen = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n";
	cr_assert_eq(perf_load_http_reply_len(nolen, strlen(nolen), &st), -EPROTO);
	const char *nocontent = "HTTP/1.1 204 No Content\r\n\r\n";
	cr_assert_eq(perf_load_http_reply_len(nocontent, strlen(nocontent), &st), (long)strlen(nocontent));
	const char *junk = "SSH-2.0-OpenSSH\r\n\r\n";
	cr_assert_eq(perf_load_http_reply_len(junk, strlen(junk), &st), -EPROTO);
	cr_assert_eq(perf_load_http_reply_len("garbage!", 8, &st), -EPROTO, "no need to wait for more");
	const char *badst = "HTTP/1.1 2x0 OK\r\nContent-Length: 1\r\n\r\n";
	cr_assert_eq(perf_load_http_reply_len(badst, strlen(badst), &st), -EPROTO);
	const char *badlen = "HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n";
	cr_assert_eq(perf_load_http_reply_len(badlen, strlen(badlen), &st), -EPROTO);
}

/* ---- options ---------------------------------------------------------- */

Test(perf_load, bad_options_are_einval)
{
	perf_load_opts o = { .port = 1, .conns = 1, .size = 64, .seconds = 1 };
	perf_load_opts bad = o;
	bad.port = 0;
	cr_assert_eq(perf_load_run(&bad, &res), -EINVAL);
	bad = o;
	bad.conns = 2;
	bad.loops = 3; /* fewer connections than loops */
	cr_assert_eq(perf_load_run(&bad, &res), -EINVAL);
	bad = o;
	bad.size = 0;
	cr_assert_eq(perf_load_run(&bad, &res), -EINVAL);
	bad = o;
	bad.seconds = 0;
	cr_assert_eq(perf_load_run(&bad, &res), -EINVAL);
	bad = o;
	bad.rate = -1;
	cr_assert_eq(perf_load_run(&bad, &res), -EINVAL);
	bad = o;
	bad.http = 1;
	bad.path = "no-slash";
	cr_assert_eq(perf_load_run(&bad, &res), -EINVAL);
	cr_assert_null(res.timeline, "nothing left to free");
}

Test(perf_load, refused_connection_is_an_error)
{
	perf_load_opts o = { .port = dead_port(), .conns = 2, .loops = 2, .size = 8, .seconds = 0.2 };
	int r = perf_load_run(&o, &res);
	cr_assert_eq(r, -ECONNREFUSED, "%d", r);
	cr_assert_eq(res.requests, 0);
	cr_assert_null(res.timeline);
}

/* ---- closed loop -------------------------------------------------------- */

Test(perf_load, echo_closed_loop_merges_loops)
{
	server_start(&srv, ECHO);
	perf_load_opts o = { .port = srv.port, .conns = 4, .loops = 2, .size = 100, .seconds = 0.3 };
	cr_assert_eq(perf_load_run(&o, &res), 0);
	server_stop(&srv);
	cr_assert_gt(res.requests, 10);
	cr_assert_eq(res.errors, 0);
	cr_assert_eq(res.lat.total, res.requests, "both loops' histograms merged");
	cr_assert_eq(res.raw.total, res.requests);
	cr_assert_eq(atomic_load(&srv.served), res.requests, "every reply counted once");
	/* closed loop: the due time is the send time */
	cr_assert_eq(res.lat.max, res.raw.max);
	cr_assert_eq(perf_hist_quantile(&res.lat, 0.99), perf_hist_quantile(&res.raw, 0.99));
	uint64_t sum = 0;
	for (unsigned i = 0; i < res.bins; i++)
		sum += res.timeline[i];
	cr_assert_eq(sum, res.requests, "the timeline adds up");
	cr_assert(res.seconds > 0.25 && res.seconds < 1.0, "%f", res.seconds);
	perf_load_result_free(&res);
}

Test(perf_load, http_closed_loop)
{
	server_start(&srv, HTTP_OK);
	perf_load_opts o = { .port = srv.port, .conns = 3, .http = 1, .seconds = 0.3 };
	cr_assert_eq(perf_load_run(&o, &res), 0);
	server_stop(&srv);
	cr_assert_gt(res.requests, 10);
	cr_assert_eq(res.errors, 0);
	cr_assert_eq(res.non2xx, 0);
	cr_assert_eq(atomic_load(&srv.served), res.requests);
	perf_load_result_free(&res);
}

Test(perf_load, http_non_2xx_is_counted)
{
	server_start(&srv, HTTP_404);
	perf_load_opts o = { .port = srv.port, .conns = 1, .http = 1, .path = "/missing", .seconds = 0.2 };
	cr_assert_eq(perf_load_run(&o, &res), 0);
	server_stop(&srv);
	cr_assert_gt(res.requests, 0);
	cr_assert_eq(res.non2xx, res.requests);
	cr_assert_eq(res.errors, 0);
	perf_load_result_free(&res);
}

Test(perf_load, echo_to_http_server_is_an_error_not_a_hang)
{
	/* an HTTP client against an echo server gets its own request back:
	 * not an HTTP reply, so the connection stops with an error */
	server_start(&srv, ECHO);
	perf_load_opts o = { .port = srv.port, .conns = 1, .http = 1, .seconds = 0.2 };
	cr_assert_eq(perf_load_run(&o, &res), 0);
	server_stop(&srv);
	cr_assert_eq(res.errors, 1);
	cr_assert_eq(res.requests, 0);
	perf_load_result_free(&res);
}

/* ---- open loop and coordinated omission --------------------------------- */

Test(perf_load, open_loop_keeps_the_rate)
{
	server_start(&srv, ECHO);
	perf_load_opts o = { .port = srv.port, .conns = 2, .size = 16, .rate = 2000, .seconds = 0.5 };
	cr_assert_eq(perf_load_run(&o, &res), 0);
	server_stop(&srv);
	/* 1000 due; a busy machine may fall behind a little, never ahead */
	cr_assert(res.requests >= 900 && res.requests <= 1000, "%llu", (unsigned long long)res.requests);
	cr_assert_eq(res.errors, 0);
	perf_load_result_free(&res);
}

Test(perf_load, coordinated_omission_is_corrected)
{
	/* 1000 requests/s on one connection for 1 s; the server stalls 200 ms
	 * once, at request 300. Uncorrected, that is one slow sample among
	 * ~1000 (p99 stays small); corrected, the ~200 requests that were due
	 * during the stall all count their wait, so p99 is near 200 ms. */
	server_start(&srv, ECHO);
	srv.stall_after = 300;
	srv.stall_ms = 200;
	perf_load_opts o = { .port = srv.port, .conns = 1, .size = 16, .rate = 1000, .seconds = 1 };
	cr_assert_eq(perf_load_run(&o, &res), 0);
	server_stop(&srv);
	cr_assert_eq(atomic_load(&srv.stalled), 1);
	cr_assert_eq(res.errors, 0);
	const uint64_t ms = 1000000;
	uint64_t p99 = perf_hist_quantile(&res.lat, 0.99), raw_p99 = perf_hist_quantile(&res.raw, 0.99);
	uint64_t p90 = perf_hist_quantile(&res.lat, 0.90);
	cr_assert_geq(res.raw.max, 195 * ms, "the stalled request itself: %llu", (unsigned long long)res.raw.max);
	cr_assert_geq(res.lat.max, 195 * ms);
	cr_assert_geq(p99, 170 * ms, "corrected p99 %llu ns shows the stall", (unsigned long long)p99);
	cr_assert_geq(p90, 60 * ms, "corrected p90 %llu ns: ~200 late requests", (unsigned long long)p90);
	cr_assert_lt(raw_p99, 50 * ms, "uncorrected p99 %llu ns hides it", (unsigned long long)raw_p99);
	/* the requests due during the stall were still all sent */
	cr_assert(res.requests >= 900, "%llu", (unsigned long long)res.requests);
	perf_load_result_free(&res);
}
