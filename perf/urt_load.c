/* urt-load: the echo load generator, itself a urt program. It opens N
 * connections, then runs one task per connection doing strict ping-pong
 * (send size bytes, receive size bytes back) until the duration is over,
 * recording each round trip's latency in one shared histogram (all tasks
 * run on one thread, so no locking). Prints one JSON line:
 * {"client": "urt-load", "round_trips", "rtps", "p50_us", "p99_us",
 *  "p999_us", "max_us", "mean_us", "errors", ...}. */
#include <urt.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hist.h"
#include "srv_common.h"

#define MAX_SIZE 65536

typedef struct load {
	const char *host;    /* --host, default 127.0.0.1 */
	uint16_t port;       /* --port */
	unsigned conns;      /* --conns */
	size_t size;         /* --size: bytes per message */
	double seconds;      /* --duration */
	uint64_t start, end; /* the measured window, CLOCK_MONOTONIC ns */
	uint64_t last_done;  /* when the last connection stopped */
	uint64_t round_trips;
	uint64_t errors;     /* connections that failed mid-run */
	perf_hist hist;      /* round-trip latency, ns */
} load;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct worker {
	load *ld;
	int fd;
} worker;

/* One round trip: send the whole message, receive it all back. */
static int ping(int fd, char *buf, size_t size)
{
	for (size_t off = 0; off < size;) {
		ssize_t n = urt_send(fd, buf + off, size - off, MSG_NOSIGNAL);
		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		off += (size_t)n;
	}
	for (size_t off = 0; off < size;) {
		ssize_t n = urt_recv(fd, buf + off, size - off, 0);
		if (n <= 0)
			return n < 0 ? (int)n : -ECONNRESET;
		off += (size_t)n;
	}
	return 0;
}

static void *worker_task(void *arg)
{
	worker *w = arg;
	load *ld = w->ld;
	char *buf = malloc(ld->size);
	if (!buf) {
		ld->errors++;
		return NULL;
	}
	memset(buf, 'x', ld->size);
	uint64_t t0 = now_ns();
	while (t0 < ld->end) {
		if (ping(w->fd, buf, ld->size) < 0) {
			ld->errors++;
			break;
		}
		uint64_t t1 = now_ns();
		perf_hist_record(&ld->hist, t1 - t0);
		ld->round_trips++;
		t0 = t1;
	}
	if (t0 > ld->last_done)
		ld->last_done = t0;
	free(buf);
	return NULL;
}

static void *main_task(void *arg)
{
	load *ld = arg;
	worker *ws = calloc(ld->conns, sizeof(*ws));
	urt_task **ts = calloc(ld->conns, sizeof(*ts));
	if (!ws || !ts)
		return (void *)1;
	/* connect everything first so that set-up is not measured */
	for (unsigned i = 0; i < ld->conns; i++) {
		ws[i].ld = ld;
		ws[i].fd = urt_tcp_connect(ld->host, ld->port);
		if (ws[i].fd < 0) {
			fprintf(stderr, "urt-load: connect %s:%u: %s\n", ld->host, ld->port,
				urt_strerror(ws[i].fd));
			return (void *)1;
		}
		perf_srv_nodelay(ws[i].fd);
	}
	ld->start = now_ns();
	ld->end = ld->start + (uint64_t)(ld->seconds * 1e9);
	const urt_task_opts opts = { .name = "ping", .stack_size = 16 * 1024 };
	for (unsigned i = 0; i < ld->conns; i++) {
		int ret = urt_spawn(&ts[i], worker_task, &ws[i], &opts);
		if (ret < 0) {
			fprintf(stderr, "urt-load: spawn: %s\n", urt_strerror(ret));
			return (void *)1;
		}
	}
	for (unsigned i = 0; i < ld->conns; i++)
		urt_join(ts[i], NULL);
	for (unsigned i = 0; i < ld->conns; i++)
		urt_close(ws[i].fd);
	free(ws);
	free(ts);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: urt-load --port P [--conns N] [--size B] [--duration S] [--host IP]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static load ld = { .host = "127.0.0.1", .conns = 50, .size = 64, .seconds = 5 };
	for (int i = 1; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage();
		if (!strcmp(k, "--port"))
			ld.port = (uint16_t)atoi(v);
		else if (!strcmp(k, "--conns"))
			ld.conns = (unsigned)atoi(v);
		else if (!strcmp(k, "--size"))
			ld.size = (size_t)atol(v);
		else if (!strcmp(k, "--duration"))
			ld.seconds = atof(v);
		else if (!strcmp(k, "--host"))
			ld.host = v;
		else
			return usage();
	}
	if (!ld.port || !ld.conns || !ld.size || ld.size > MAX_SIZE || ld.seconds <= 0)
		return usage();
	perf_hist_init(&ld.hist);
	void *res = NULL;
	int ret = urt_run(main_task, &ld, NULL, &res);
	if (ret < 0 || res) {
		fprintf(stderr, "urt-load: urt_run: %s\n", ret < 0 ? urt_strerror(ret) : "failed");
		return 1;
	}
	double secs = (double)(ld.last_done - ld.start) / 1e9;
	const perf_hist *h = &ld.hist;
	printf("{\"client\": \"urt-load\", \"conns\": %u, \"size\": %zu, \"seconds\": %.3f, "
	       "\"round_trips\": %llu, \"rtps\": %.0f, \"p50_us\": %.2f, \"p99_us\": %.2f, "
	       "\"p999_us\": %.2f, \"max_us\": %.2f, \"mean_us\": %.2f, \"errors\": %llu}\n",
	       ld.conns, ld.size, secs, (unsigned long long)ld.round_trips,
	       secs > 0 ? (double)ld.round_trips / secs : 0.0,
	       (double)perf_hist_quantile(h, 0.5) / 1e3, (double)perf_hist_quantile(h, 0.99) / 1e3,
	       (double)perf_hist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3,
	       perf_hist_mean(h) / 1e3, (unsigned long long)ld.errors);
	return ld.errors ? 1 : 0;
}
