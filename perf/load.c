/* The load engine: see load.h. Each loop is a thread running urt_run; its
 * connections are tasks, and everything a loop measures (histograms,
 * counters, timeline) is its own, so recording needs no locking; the
 * histograms are merged when the loops are done. Only the progress
 * counters are shared (relaxed atomics, one writer each). */
#include "load.h"

#include <urt.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "srv_common.h"

#define BUF_CAP 65536 /* per connection: an echo message or a whole HTTP reply */

typedef struct shared {
	const perf_load_opts *o;
	pthread_mutex_t mu;          /* guards ready and go */
	pthread_cond_t cv;           /* ready grew, or go was set */
	unsigned ready;              /* loops connected (or failed) */
	int go;                      /* start and end are set: send */
	uint64_t start, end;         /* the sending window, CLOCK_MONOTONIC ns */
	uint64_t interval;           /* open loop: ns between one connection's requests */
	unsigned bins;               /* timeline bins per loop */
	atomic_int failed;           /* a loop could not connect: nobody sends */
	const char *req;             /* HTTP request bytes */
	size_t req_len;
} shared;

typedef struct lloop {
	shared *sh;
	unsigned first, n;        /* its connections: global indices [first, first+n) */
	perf_hist lat, raw;       /* see perf_load_result */
	uint64_t requests, errors, non2xx;
	uint64_t last;            /* when its last reply came */
	uint64_t *timeline;       /* bins entries */
	atomic_uint_fast64_t done; /* requests, for the progress line */
	atomic_uint_fast64_t errs; /* errors, for the progress line */
	atomic_int finished;      /* its urt_run returned */
	int gated;                /* it went through the start gate */
	int err;                  /* connect error */
	pthread_t th;
} lloop;

typedef struct lconn {
	lloop *lp;
	unsigned idx; /* global connection index: staggers the open-loop schedule */
	int fd;
	size_t have;  /* HTTP: reply bytes in buf */
	char *buf;
} lconn;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

long perf_load_http_reply_len(const char *buf, size_t len, int *status)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		return len >= 8 && memcmp(buf, "HTTP/1.", len < 7 ? len : 7) ? -EPROTO : 0;
	size_t head = (size_t)(end - buf) + 4;
	if (head < 16 || memcmp(buf, "HTTP/1.", 7) || buf[8] != ' ')
		return -EPROTO;
	int st = 0;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -EPROTO;
		st = st * 10 + (buf[i] - '0');
	}
	*status = st;
	long body = -1;
	/* header lines: "\r\nName: value" up to the blank line */
	for (const char *p = memchr(buf, '\n', head); p && p < end; p = memchr(p + 1, '\n', (size_t)(end - p))) {
		if ((size_t)(end - p) > 16 && !strncasecmp(p + 1, "content-length:", 15)) {
			char *e;
			const char *v = p + 16;
			while (*v == ' ' || *v == '\t')
				v++;
			unsigned long long n = strtoull(v, &e, 10);
			if (e == v || n > (1ull << 40))
				return -EPROTO;
			body = (long)n;
		}
	}
	if (body < 0) /* no length: only replies that never have a body are fine */
		body = st / 100 == 1 || st == 204 || st == 304 ? 0 : -1;
	return body < 0 ? -EPROTO : (long)head + body;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = urt_send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return w < 0 ? (int)w : -EPIPE;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int echo_once(lconn *c, size_t size)
{
	int r = send_all(c->fd, c->buf, size);
	for (size_t off = 0; r == 0 && off < size;) {
		ssize_t n = urt_recv(c->fd, c->buf + off, size - off, 0);
		if (n <= 0)
			return n < 0 ? (int)n : -ECONNRESET;
		off += (size_t)n;
	}
	return r;
}

/* One GET and its whole reply; returns the status or -errno. Bytes past
 * the reply (there should be none without pipelining) are kept. */
static int http_once(lconn *c)
{
	shared *sh = c->lp->sh;
	int r = send_all(c->fd, sh->req, sh->req_len);
	if (r < 0)
		return r;
	for (;;) {
		int status = 0;
		long len = perf_load_http_reply_len(c->buf, c->have, &status);
		if (len < 0)
			return (int)len;
		if (len > BUF_CAP)
			return -EMSGSIZE;
		if (len > 0 && c->have >= (size_t)len) {
			memmove(c->buf, c->buf + len, c->have - (size_t)len);
			c->have -= (size_t)len;
			return status;
		}
		if (c->have == BUF_CAP)
			return -EMSGSIZE;
		ssize_t n = urt_recv(c->fd, c->buf + c->have, BUF_CAP - c->have, 0);
		if (n <= 0)
			return n < 0 ? (int)n : -ECONNRESET;
		c->have += (size_t)n;
	}
}

static void record(lloop *lp, uint64_t due, uint64_t sent, uint64_t t)
{
	shared *sh = lp->sh;
	perf_hist_record(&lp->lat, t - due);
	perf_hist_record(&lp->raw, t - sent);
	lp->requests++;
	uint64_t bin = (t - sh->start) / PERF_LOAD_BIN_NS;
	if (bin < sh->bins)
		lp->timeline[bin]++;
	if (t > lp->last)
		lp->last = t;
	atomic_store_explicit(&lp->done, lp->requests, memory_order_relaxed);
}

static void *conn_task(void *arg)
{
	lconn *c = arg;
	lloop *lp = c->lp;
	shared *sh = lp->sh;
	const perf_load_opts *o = sh->o;
	int open_loop = o->rate > 0;
	uint64_t due = sh->start + (open_loop ? sh->interval * c->idx / o->conns : 0);
	for (;;) {
		uint64_t now = now_ns();
		if (open_loop) {
			if (due >= sh->end)
				break;
			if (due > now) {
				if (urt_sleep(due - now) < 0)
					break;
				now = now_ns();
			}
		} else {
			if (now >= sh->end)
				break;
			due = now;
		}
		int r = o->http ? http_once(c) : echo_once(c, o->size);
		uint64_t t = now_ns();
		if (r < 0) {
			lp->errors++;
			atomic_store_explicit(&lp->errs, lp->errors, memory_order_relaxed);
			break;
		}
		if (o->http && (r < 200 || r > 299))
			lp->non2xx++;
		record(lp, due, now, t);
		due += sh->interval;
	}
	return NULL;
}

/* Say this loop is ready; wait until the caller sets the start time. */
static void gate(lloop *lp)
{
	shared *sh = lp->sh;
	pthread_mutex_lock(&sh->mu);
	sh->ready++;
	pthread_cond_broadcast(&sh->cv);
	while (!sh->go)
		pthread_cond_wait(&sh->cv, &sh->mu);
	pthread_mutex_unlock(&sh->mu);
	lp->gated = 1;
}

static void *loop_main(void *arg)
{
	lloop *lp = arg;
	shared *sh = lp->sh;
	const perf_load_opts *o = sh->o;
	lconn *cs = calloc(lp->n, sizeof(*cs));
	urt_task **ts = calloc(lp->n, sizeof(*ts));
	unsigned opened = 0;
	if (!cs || !ts)
		lp->err = -ENOMEM;
	/* connect everything first so that set-up is not measured */
	for (; !lp->err && opened < lp->n; opened++) {
		lconn *c = &cs[opened];
		c->lp = lp;
		c->idx = lp->first + opened;
		c->buf = malloc(BUF_CAP);
		if (!c->buf) {
			lp->err = -ENOMEM;
			break;
		}
		memset(c->buf, 'x', o->http ? 0 : o->size);
		c->fd = urt_tcp_connect(o->host ? o->host : "127.0.0.1", o->port);
		if (c->fd < 0) {
			lp->err = c->fd;
			free(c->buf);
			break;
		}
		perf_srv_nodelay(c->fd);
	}
	if (lp->err)
		atomic_store(&sh->failed, 1);
	/* blocking the loop thread here is fine: nothing else runs on it yet */
	gate(lp);
	unsigned spawned = 0;
	const urt_task_opts topts = { .name = "load", .stack_size = 16 * 1024 };
	if (!atomic_load(&sh->failed))
		for (; spawned < opened; spawned++)
			if (urt_spawn(&ts[spawned], conn_task, &cs[spawned], &topts) < 0) {
				lp->errors++;
				break;
			}
	for (unsigned i = 0; i < spawned; i++)
		urt_join(ts[i], NULL);
	for (unsigned i = 0; i < opened; i++) {
		urt_close(cs[i].fd);
		free(cs[i].buf);
	}
	free(cs);
	free(ts);
	return NULL;
}

static void *loop_thread(void *arg)
{
	lloop *lp = arg;
	int r = urt_run(loop_main, lp, NULL, NULL);
	if (r < 0 && !lp->err)
		lp->err = r;
	if (!lp->gated) { /* the loop never started: still count as ready */
		atomic_store(&lp->sh->failed, 1);
		gate(lp);
	}
	atomic_store(&lp->finished, 1);
	return NULL;
}

static void progress(const perf_load_opts *o, lloop *lps, unsigned nl, uint64_t start)
{
	int tty = isatty(2);
	uint64_t prev = 0, prev_t = start, next = start + 1000000000ull;
	for (;;) {
		unsigned fin = 0;
		for (unsigned i = 0; i < nl; i++)
			fin += (unsigned)atomic_load(&lps[i].finished);
		uint64_t t = now_ns();
		if (fin == nl)
			break;
		if (t < next) {
			uint64_t d = next - t < 100000000ull ? next - t : 100000000ull;
			nanosleep(&(struct timespec){ .tv_nsec = (long)d }, NULL);
			continue;
		}
		uint64_t done = 0, errs = 0;
		for (unsigned i = 0; i < nl; i++) {
			done += atomic_load_explicit(&lps[i].done, memory_order_relaxed);
			errs += atomic_load_explicit(&lps[i].errs, memory_order_relaxed);
		}
		double el = (double)(t - start) / 1e9;
		fprintf(stderr, "%surt-load: %5.1f/%.0f s  %9.0f req/s  %10llu requests  %llu errors%s",
			tty ? "\r" : "", el < o->seconds ? el : o->seconds, o->seconds,
			(double)(done - prev) * 1e9 / (double)(t - prev_t),
			(unsigned long long)done, (unsigned long long)errs, tty ? "   " : "\n");
		prev = done;
		prev_t = t;
		next += 1000000000ull;
	}
	if (tty)
		fputc('\n', stderr);
}

static int check(const perf_load_opts *o)
{
	unsigned nl = o->loops ? o->loops : 1;
	if (!o->port || !o->conns || nl > PERF_LOAD_MAX_LOOPS || o->conns < nl || o->seconds <= 0 ||
	    o->seconds > 1e6 || o->rate < 0)
		return -EINVAL;
	if (!o->http && (!o->size || o->size > BUF_CAP))
		return -EINVAL;
	if (o->http && o->path && (o->path[0] != '/' || strpbrk(o->path, " \r\n")))
		return -EINVAL;
	return 0;
}

void perf_load_result_free(perf_load_result *r)
{
	free(r->timeline);
	r->timeline = NULL;
	r->bins = 0;
}

/* Start the loops; wait for them; merge what they measured into r. */
static int run_loops(shared *sh, lloop *lps, unsigned nl, perf_load_result *r)
{
	const perf_load_opts *o = sh->o;
	unsigned started = 0;
	int err = 0;
	for (; started < nl; started++) {
		lloop *lp = &lps[started];
		lp->sh = sh;
		lp->first = o->conns / nl * started + (started < o->conns % nl ? started : o->conns % nl);
		lp->n = o->conns / nl + (started < o->conns % nl);
		perf_hist_init(&lp->lat);
		perf_hist_init(&lp->raw);
		lp->timeline = calloc(sh->bins, sizeof(uint64_t));
		if (!lp->timeline || pthread_create(&lp->th, NULL, loop_thread, lp) != 0) {
			err = -ENOMEM;
			free(lp->timeline);
			atomic_store(&sh->failed, 1); /* the started ones stop at once */
			break;
		}
	}
	pthread_mutex_lock(&sh->mu);
	while (sh->ready < started)
		pthread_cond_wait(&sh->cv, &sh->mu);
	sh->start = now_ns();
	sh->end = sh->start + (uint64_t)(o->seconds * 1e9);
	sh->go = 1;
	pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	if (o->progress && !atomic_load(&sh->failed))
		progress(o, lps, started, sh->start);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(lps[i].th, NULL);
		if (lps[i].err && !err)
			err = lps[i].err;
	}
	uint64_t last = sh->start;
	for (unsigned i = 0; i < started; i++) {
		lloop *lp = &lps[i];
		perf_hist_merge(&r->lat, &lp->lat);
		perf_hist_merge(&r->raw, &lp->raw);
		r->requests += lp->requests;
		r->errors += lp->errors;
		r->non2xx += lp->non2xx;
		for (unsigned b = 0; b < sh->bins; b++)
			r->timeline[b] += lp->timeline[b];
		if (lp->last > last)
			last = lp->last;
		free(lp->timeline);
	}
	r->seconds = (double)(last - sh->start) / 1e9;
	return err;
}

int perf_load_run(const perf_load_opts *o, perf_load_result *r)
{
	memset(r, 0, sizeof(*r));
	perf_hist_init(&r->lat);
	perf_hist_init(&r->raw);
	int err = check(o);
	if (err < 0)
		return err;
	unsigned nl = o->loops ? o->loops : 1;
	char req[512];
	shared sh = { .o = o, .req = req, .mu = PTHREAD_MUTEX_INITIALIZER,
		      .cv = PTHREAD_COND_INITIALIZER };
	if (o->http)
		sh.req_len = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%u\r\n\r\n",
					      o->path ? o->path : "/", o->host ? o->host : "127.0.0.1",
					      (unsigned)o->port);
	if (sh.req_len >= sizeof(req))
		return -EINVAL;
	if (o->rate > 0)
		sh.interval = (uint64_t)((double)o->conns * 1e9 / o->rate);
	/* room for replies that come after the window: a second more */
	sh.bins = (unsigned)((o->seconds * 1e9 + 1e9) / (double)PERF_LOAD_BIN_NS) + 1;
	lloop *lps = calloc(nl, sizeof(*lps));
	r->timeline = calloc(sh.bins, sizeof(uint64_t));
	if (!lps || !r->timeline) {
		free(lps);
		perf_load_result_free(r);
		return -ENOMEM;
	}
	r->bins = sh.bins;
	err = run_loops(&sh, lps, nl, r);
	free(lps);
	if (err < 0)
		perf_load_result_free(r);
	return err;
}
