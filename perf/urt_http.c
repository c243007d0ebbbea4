/* urt-http: a small HTTP/1.1 server on urt (keep-alive, pipelining).
 *
 *   urt-http --port P [--loops N] [--root DIR] [--access-log FILE]
 *            [--timeout-ms MS] [--idle-ms MS] [--duration S] [--conn-stack BYTES]
 *            [--spin-us US]
 *
 *   GET /              a short fixed body
 *   GET /files/<name>  the file DIR/<name>, opened with openat2 beneath DIR
 *                      (RESOLVE_BENEATH: no "..", absolute paths or symlinks
 *                      out of DIR), statx'd, read through io_uring
 *
 * Each loop runs urt_server with multishot accept; a connection receives
 * through a multishot recv into the loop's buffer ring and parses in place
 * when a request fits in one buffer (copying only leftovers). Its working
 * memory (a head buffer and an output buffer) comes from a per-loop pool
 * while a request is being handled, so an idle connection holds none.
 * Bounded: heads over 8 KiB get 431, malformed ones 400; a request head
 * must arrive within --timeout-ms (408), an idle keep-alive connection is
 * closed after --idle-ms. Responses to pipelined requests are batched into
 * one send, handed to the connection's urt_sender: the task goes back to
 * receiving at once and the batch returns to a pool when sent (an idle
 * connection holds no output memory). An access log line per request
 * goes through urt's logger with the request id kept in a context
 * variable (a log field). --spin-us US (default 0: off) makes each loop
 * spin up to US for completions before it sleeps (urt_config.io_spin_ns;
 * bench_http's http_get_rps_spin row measures it, docs/net.md). It prints {"server": "urt-http", "requests": N,
 * "enters": io_uring_enter calls, "switches": task switches, "ticks": loop
 * iterations, "io_spins": sleeps the spin saved} when it stops. */
#include <urt.h>
#include <urt_log.h>
#include <urt_net.h>
#include <urt_server.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_parse.h"
#include "srv_common.h"
#include "srv_urt.h"

#define MAX_HEAD 8192
#define ACC_CAP (MAX_HEAD + 4096)  /* a head may straddle buffers */
#define OUT_CAP 16384              /* batched responses; file chunks */
#define NBUFS 1024
#define BUF_SIZE 4096
#define MAX_LOOPS 256
#define BODY "Hello from urt!\n"

typedef struct opts {
	uint16_t port;
	unsigned loops;
	const char *root;
	const char *access_log;
	uint64_t timeout_ns, idle_ns;
	unsigned seconds;
	size_t conn_stack;
	uint64_t spin_ns;
} opts;

/* Working memory of a connection while it handles requests. */
typedef struct work {
	struct work *next;          /* pool link */
	size_t alen;                /* bytes in acc */
	char acc[ACC_CAP];
} work;

/* A batch of responses. Handed to the connection's sender when full or
 * when the received data is answered; it comes back to the loop's pool
 * once sent, so the task never waits for a send's completion. */
typedef struct outbuf {
	struct outbuf *next;        /* pool link */
	struct loop_state *ls;      /* whose pool */
	char data[OUT_CAP];
} outbuf;

typedef struct loop_state {
	urt_bufring *br;
	work *pool;                 /* free work areas */
	outbuf *opool;              /* free output batches */
	uint64_t next_id;           /* request ids: loop index << 40 | n */
	uint64_t requests;
	urt_loop_stats st;          /* the loop's counters at its end */
	int err;
} loop_state;

static opts o = {.loops = 1, .timeout_ns = 10 * URT_NS_PER_SEC, .idle_ns = 60 * URT_NS_PER_SEC,
		 .conn_stack = 16384};
static loop_state loops[MAX_LOOPS];
static int root_fd = -1;
static int stop_fd = -1;
static urt_ctxvar *req_id; /* the request id: a log field */
static int logging;

typedef struct conn {
	urt_conn *c;
	int fd;
	loop_state *ls;
	work *w;
	outbuf *ob;                 /* the batch being filled, or NULL */
	size_t olen;                /* bytes in ob */
	urt_msrecv *r;
	urt_sender *s;
	uint64_t skip;              /* body bytes still to discard */
	int close_after;            /* answer, then close */
} conn;

static work *work_get(loop_state *ls)
{
	work *w = ls->pool;
	if (w)
		ls->pool = w->next;
	else if (!(w = malloc(sizeof *w)))
		return NULL;
	w->alen = 0;
	return w;
}

static void work_put(loop_state *ls, work *w)
{
	w->next = ls->pool;
	ls->pool = w;
}

static void outbuf_put(void *arg, const void *buf, size_t len)
{
	(void)buf, (void)len;
	outbuf *b = arg;
	b->next = b->ls->opool;
	b->ls->opool = b;
}

/* The batch to append to (k->ob), taken from the pool if there is none. */
static int out_get(conn *k)
{
	if (k->ob)
		return 0;
	outbuf *b = k->ls->opool;
	if (b)
		k->ls->opool = b->next;
	else if (!(b = malloc(sizeof *b)))
		return -ENOMEM;
	b->ls = k->ls;
	k->ob = b;
	k->olen = 0;
	return 0;
}

/* More than this much unsent (a slow reader of a large file): wait. */
#define MAX_PENDING (256 * 1024)

/* Hand the batch to the sender; it returns to the pool once sent. */
static int flush_out(conn *k)
{
	if (!k->ob || !k->olen)
		return 0;
	outbuf *b = k->ob;
	k->ob = NULL;
	int r = urt_sender_send(k->s, b->data, k->olen, outbuf_put, b);
	if (r < 0) {
		outbuf_put(b, NULL, 0);
		return r;
	}
	return urt_sender_pending(k->s) > MAX_PENDING ? urt_sender_flush(k->s) : 0;
}

/* Append to the output batch, flushing first if it would not fit. */
static int out_append(conn *k, const char *s, size_t n)
{
	if (k->ob && k->olen + n > OUT_CAP) {
		int r = flush_out(k);
		if (r < 0)
			return r;
	}
	while (n) {
		int r = out_get(k);
		if (r < 0)
			return r;
		size_t take = n < OUT_CAP - k->olen ? n : OUT_CAP - k->olen;
		memcpy(k->ob->data + k->olen, s, take);
		k->olen += take;
		s += take;
		n -= take;
		if (n && (r = flush_out(k)) < 0)
			return r;
	}
	return 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

/* Append s (a string literal) to p. */
#define PUT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

/* The response head, built by hand: snprintf was most of the user-space
 * CPU of a GET / in a profile. */
static int head(conn *k, int status, uint64_t len, int keep)
{
	char h[256], *p = PUT(h, "HTTP/1.1 ");
	*p++ = (char)('0' + status / 100);
	*p++ = (char)('0' + status / 10 % 10);
	*p++ = (char)('0' + status % 10);
	*p++ = ' ';
	const char *r = reason(status);
	size_t rl = strlen(r);
	memcpy(p, r, rl);
	p = PUT(p + rl, "\r\nServer: urt\r\nContent-Length: ");
	char d[20];
	int nd = 0;
	do
		d[nd++] = (char)('0' + len % 10);
	while ((len /= 10));
	while (nd)
		*p++ = d[--nd];
	p = PUT(p, "\r\nContent-Type: text/plain\r\n");
	if (!keep)
		p = PUT(p, "Connection: close\r\n");
	p = PUT(p, "\r\n");
	return out_append(k, h, (size_t)(p - h));
}

/* An error answer; the connection closes after it. */
static int error_reply(conn *k, int status)
{
	const char *r = reason(status);
	k->close_after = 1;
	int e = head(k, status, strlen(r) + 1, 0);
	if (e == 0)
		e = out_append(k, r, strlen(r));
	if (e == 0)
		e = out_append(k, "\n", 1);
	return e;
}

static void access_log(const http_req *q, int status, uint64_t bytes)
{
	if (!logging)
		return;
	char target[256];
	size_t n = q && q->target_len < sizeof target ? q->target_len : 0;
	if (q)
		memcpy(target, q->target, n);
	target[n] = 0;
	URT_LOG_INFO("%s %s %d %llu", !q ? "-" : q->method == HTTP_GET ? "GET"
			: q->method == HTTP_HEAD ? "HEAD" : "OTHER", target, status,
		     (unsigned long long)bytes);
}

static int serve_file(conn *k, const http_req *q, const char *name, int keep, int *status,
		      uint64_t *bytes)
{
	if (root_fd < 0)
		return *status = 404, error_reply(k, 404);
	int fd = urt_openat2(root_fd, name, O_RDONLY | O_CLOEXEC, 0,
			     RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
	if (fd < 0) {
		*status = fd == -ENOENT || fd == -ENOTDIR ? 404 : 403;
		return error_reply(k, *status);
	}
	struct statx sx;
	int r = urt_statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE, &sx);
	if (r < 0 || !S_ISREG(sx.stx_mode)) {
		close(fd);
		*status = r < 0 ? 500 : 403;
		return error_reply(k, *status);
	}
	*status = 200;
	uint64_t size = sx.stx_size;
	r = head(k, 200, size, keep);
	if (q->method == HTTP_HEAD || r < 0) {
		close(fd);
		return r;
	}
	/* read straight into the output batch, one chunk at a time */
	uint64_t off = 0;
	while (r == 0 && off < size) {
		if (k->ob && k->olen == OUT_CAP && (r = flush_out(k)) < 0)
			break;
		if ((r = out_get(k)) < 0)
			break;
		size_t room = OUT_CAP - k->olen;
		size_t want = size - off < room ? (size_t)(size - off) : room;
		ssize_t n = urt_read(fd, k->ob->data + k->olen, want, off);
		if (n <= 0) { /* the file shrank or failed: the length is a lie now */
			k->close_after = 1;
			r = n < 0 ? (int)n : -EIO;
			break;
		}
		k->olen += (size_t)n;
		off += (uint64_t)n;
	}
	*bytes = off;
	close(fd);
	return r;
}

/* Answer one parsed request. */
static int answer(conn *k, const http_req *q)
{
	int keep = q->keep_alive && urt_server_stopping(urt_conn_server(k->c)) != 1;
	if (!keep)
		k->close_after = 1;
	int status = 200, r;
	uint64_t bytes = 0;
	char name[256];
	if (q->method != HTTP_GET && q->method != HTTP_HEAD) {
		status = 405;
		r = error_reply(k, status);
	} else if (q->target_len == 1) {
		r = head(k, 200, sizeof BODY - 1, keep);
		if (r == 0 && q->method == HTTP_GET) {
			r = out_append(k, BODY, sizeof BODY - 1);
			bytes = sizeof BODY - 1;
		}
	} else {
		int f = http_file_name(q->target, q->target_len, name, sizeof name);
		if (f == 1) {
			r = serve_file(k, q, name, keep, &status, &bytes);
		} else {
			status = f == 0 ? 404 : 400;
			r = error_reply(k, status);
		}
	}
	k->ls->requests++;
	if (logging) {
		uint64_t id = ++k->ls->next_id | ((uint64_t)urt_cores_index() << 40);
		urt_ctxvar_set(req_id, (void *)(intptr_t)id, NULL);
		access_log(q, status, bytes);
	}
	return r;
}

/* Handle every complete request at the start of data[0..len): returns the
 * bytes consumed, or -errno / -status to close. */
static ssize_t handle(conn *k, const char *data, size_t len)
{
	size_t used = 0;
	while (used < len && !k->close_after) {
		if (k->skip) { /* a body we do not read */
			size_t n = len - used < k->skip ? len - used : (size_t)k->skip;
			k->skip -= n;
			used += n;
			continue;
		}
		http_req q;
		int r = http_parse(data + used, len - used, MAX_HEAD, &q);
		if (r == 0)
			break;
		if (r < 0) {
			access_log(NULL, -r, 0);
			int e = error_reply(k, -r);
			return e < 0 ? e : (ssize_t)len;
		}
		used += (size_t)r;
		k->skip = q.content_length;
		r = answer(k, &q);
		if (r < 0)
			return r;
	}
	return (ssize_t)used;
}

/* Wait for the next buffer: idle (no partial request) or mid-request. */
static ssize_t next_buf(conn *k, urt_buf *b, int idle)
{
	urt_deadline d;
	urt_conn_set_idle(k->c, idle);
	urt_deadline_enter(&d, idle ? o.idle_ns : o.timeout_ns);
	ssize_t n = urt_msrecv_next(k->r, b);
	urt_deadline_exit(&d);
	urt_conn_set_idle(k->c, 0);
	return n;
}

static void conn_loop(conn *k)
{
	urt_buf b;
	for (;;) {
		int idle = !k->w || !k->w->alen;
		if (idle && k->w) { /* nothing pending: give the memory back */
			work_put(k->ls, k->w);
			k->w = NULL;
		}
		ssize_t n = next_buf(k, &b, idle);
		if (n <= 0) {
			if (n == -ETIME && !idle && k->w && error_reply(k, 408) == 0)
				flush_out(k); /* sent by the sender's close */
			return;
		}
		if (!k->w && !(k->w = work_get(k->ls))) {
			urt_bufring_release(k->ls->br, &b);
			return;
		}
		ssize_t used;
		if (!k->w->alen) { /* fast path: parse in the received buffer */
			used = handle(k, b.data, (size_t)n);
			if (used >= 0 && used < n) {
				memcpy(k->w->acc, b.data + used, (size_t)(n - used));
				k->w->alen = (size_t)(n - used);
			}
		} else {
			size_t room = ACC_CAP - k->w->alen, take = (size_t)n < room ? (size_t)n : room;
			memcpy(k->w->acc + k->w->alen, b.data, take);
			k->w->alen += take;
			used = handle(k, k->w->acc, k->w->alen);
			if (used > 0) {
				memmove(k->w->acc, k->w->acc + used, k->w->alen - (size_t)used);
				k->w->alen -= (size_t)used;
			}
			if (take < (size_t)n && used >= 0) /* overflow: only a huge head does that */
				used = error_reply(k, 431);
		}
		urt_bufring_release(k->ls->br, &b);
		if (used < 0 || flush_out(k) < 0 || k->close_after)
			return;
	}
}

static void http_conn(urt_conn *c, void *arg)
{
	conn k = {.c = c, .fd = urt_conn_fd(c), .ls = arg};
	if (urt_msrecv_open(&k.r, k.fd, k.ls->br, 0) < 0)
		return;
	if (urt_sender_open(&k.s, k.fd, MSG_NOSIGNAL) < 0) {
		urt_msrecv_close(k.r);
		return;
	}
	conn_loop(&k);
	if (k.ob) /* a batch that was never handed over (an error path) */
		outbuf_put(k.ob, NULL, 0);
	/* the answers go out before the shutdown and the close */
	int sent = urt_sender_close(k.s);
	if (k.close_after && sent == 0)
		urt_shutdown(k.fd, SHUT_WR); /* let the client read the answer before the close */
	urt_msrecv_close(k.r);
	if (k.w)
		work_put(k.ls, k.w);
}

/* ---- loops ----------------------------------------------------------------- */

static void *loop_main(void *arg)
{
	(void)arg;
	loop_state *ls = &loops[urt_cores_index()];
	int r = urt_bufring_create(&ls->br, NBUFS, BUF_SIZE);
	if (r == 0)
		r = perf_srv_urt_loop(&(urt_server_opts){
			.port = o.port, .reuseport = 1, .conn_stack = o.conn_stack,
			.handler = http_conn, .arg = ls, .drain_ns = 2 * URT_NS_PER_SEC,
			.backlog = 4096}, stop_fd, "urt-http", NULL, NULL);
	else
		urt_cores_stop();
	if (r < 0)
		ls->err = r;
	if (ls->br)
		urt_bufring_destroy(ls->br);
	while (ls->pool) {
		work *w = ls->pool;
		ls->pool = w->next;
		free(w);
	}
	urt_loop_stats_get(NULL, &ls->st);
	while (ls->opool) {
		outbuf *b = ls->opool;
		ls->opool = b->next;
		free(b);
	}
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: urt-http --port P [--loops N] [--root DIR] [--access-log FILE]\n"
			"                [--timeout-ms MS] [--idle-ms MS] [--duration S] [--conn-stack B]\n"
			"                [--spin-us US]\n");
	return 2;
}

static int parse_args(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		long n = strtol(v, NULL, 10);
		if (!strcmp(k, "--port") && n > 0 && n < 65536)
			o.port = (uint16_t)n;
		else if (!strcmp(k, "--loops") && n >= 1 && n <= MAX_LOOPS)
			o.loops = (unsigned)n;
		else if (!strcmp(k, "--root"))
			o.root = v;
		else if (!strcmp(k, "--access-log"))
			o.access_log = v;
		else if (!strcmp(k, "--timeout-ms") && n > 0)
			o.timeout_ns = (uint64_t)n * URT_NS_PER_MS;
		else if (!strcmp(k, "--idle-ms") && n > 0)
			o.idle_ns = (uint64_t)n * URT_NS_PER_MS;
		else if (!strcmp(k, "--duration") && n >= 0)
			o.seconds = (unsigned)n;
		else if (!strcmp(k, "--conn-stack") && n >= 4096)
			o.conn_stack = (size_t)n;
		else if (!strcmp(k, "--spin-us") && n >= 0)
			o.spin_ns = (uint64_t)n * 1000;
		else
			return -1;
	}
	return argc % 2 == 1 && o.port ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (parse_args(argc, argv) < 0)
		return usage();
	if (o.root && (root_fd = open(o.root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		perror("urt-http: --root");
		return 1;
	}
	struct rlimit rl; /* many connections: as many descriptors as allowed */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int r = urt_ctxvar_create(&req_id, "req", NULL, NULL, URT_CTXVAR_LOG_INT);
	if (r < 0)
		return 1;
	if (o.access_log) {
		r = urt_log_open(&(urt_log_config){.sink = URT_LOG_SINK_FILE, .path = o.access_log});
		if (r < 0) {
			fprintf(stderr, "urt-http: --access-log %s: %s\n", o.access_log, urt_strerror(r));
			return 1;
		}
		logging = 1;
	}
	stop_fd = perf_srv_stop_fd(o.seconds, 0);
	if (stop_fd < 0)
		return 1;
	urt_config cfg = {.io_spin_ns = o.spin_ns};
	r = urt_cores_run(&(urt_cores_opts){.loops = o.loops, .pin = 1, .cfg = &cfg, .fn = loop_main});
	int failed = r < 0;
	if (r < 0)
		fprintf(stderr, "urt-http: %s\n", urt_strerror(r));
	uint64_t total = 0, enters = 0, switches = 0, ticks = 0, spins = 0;
	for (unsigned i = 0; i < o.loops; i++) {
		enters += loops[i].st.enters;
		switches += loops[i].st.switches;
		ticks += loops[i].st.ticks;
		spins += loops[i].st.io_spins;
		if (loops[i].err) {
			fprintf(stderr, "urt-http: loop %u: %s\n", i, urt_strerror(loops[i].err));
			failed = 1;
		}
		total += loops[i].requests;
	}
	if (logging)
		urt_log_close(); /* flush the access log */
	printf("{\"server\": \"urt-http\", \"requests\": %llu, \"enters\": %llu, \"switches\": %llu, "
	       "\"ticks\": %llu, \"io_spins\": %llu}\n",
	       (unsigned long long)total, (unsigned long long)enters, (unsigned long long)switches,
	       (unsigned long long)ticks, (unsigned long long)spins);
	return failed;
}
