/* urt-echo: the echo server written the urt way, on N loops (--loops N,
 * one thread each, sharing the port with SO_REUSEPORT).
 *
 * Each loop runs urt_server (one multishot accept, a task per connection)
 * and each connection receives with a multishot recv into the loop's
 * provided-buffer ring, so a round trip costs one SQE (the send). Loop 0
 * reads the stop signalfd (SIGINT, SIGTERM or the --duration alarm) and
 * asks every loop to stop; once all have drained, the process prints the
 * summed counters. */
#include <urt.h>
#include <urt_net.h>
#include <urt_server.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "srv_common.h"
#include "srv_urt.h"

#define NBUFS 1024         /* provided buffers per loop */
#define BUF_SIZE 2048      /* bytes each */
#define CONN_STACK (16 * 1024) /* the handler keeps no buffer on its stack */
#define MAX_LOOPS 256

typedef struct loop_state {
	urt_bufring *br;
	perf_srv_counts counts;
	uint64_t enters;
	int err;                   /* set up failed: -errno */
} loop_state;

static perf_srv_args args;
static loop_state loops[MAX_LOOPS];
static int stop_fd = -1;

static void echo_conn(urt_conn *c, void *arg)
{
	loop_state *ls = arg;
	int fd = urt_conn_fd(c);
	perf_srv_nodelay(fd);
	urt_msrecv *r;
	if (urt_msrecv_open(&r, fd, ls->br, 0) < 0)
		return;
	urt_buf b;
	for (;;) {
		ssize_t n = urt_msrecv_next(r, &b);
		if (n <= 0)
			break;
		ls->counts.echoes++;
		ls->counts.bytes += (uint64_t)n;
		ssize_t w = perf_srv_send_all(fd, b.data, (size_t)n);
		urt_bufring_release(ls->br, &b);
		if (w < 0)
			break;
	}
	urt_msrecv_close(r);
}

static void *loop_main(void *arg)
{
	(void)arg;
	loop_state *ls = &loops[urt_cores_index()];
	int served = 0;
	int r = urt_bufring_create(&ls->br, NBUFS, BUF_SIZE);
	if (r == 0)
		r = perf_srv_urt_loop(&(urt_server_opts){
			.port = args.port, .reuseport = 1, .conn_stack = CONN_STACK,
			.handler = echo_conn, .arg = ls, .drain_ns = URT_NS_PER_SEC},
			stop_fd, "urt-echo", &served, &ls->counts.conns);
	else
		urt_cores_stop();
	if (r < 0)
		ls->err = r;
	if (served < 0)
		ls->err = served;
	if (ls->br)
		urt_bufring_destroy(ls->br);
	urt_loop_stats st_ = {0};
	urt_loop_stats_get(NULL, &st_);
	ls->enters = st_.enters;
	return NULL;
}

int main(int argc, char **argv)
{
	if (perf_srv_parse(argc, argv, &args, 1) < 0)
		return 2;
	if (args.loops > MAX_LOOPS) {
		fprintf(stderr, "urt-echo: --loops: at most %d\n", MAX_LOOPS);
		return 2;
	}
	stop_fd = perf_srv_stop_fd(args.seconds, 0);
	if (stop_fd < 0) {
		fprintf(stderr, "urt-echo: signalfd: %s\n", urt_strerror(stop_fd));
		return 1;
	}
	int r = urt_cores_run(&(urt_cores_opts){.loops = args.loops, .pin = 1, .fn = loop_main});
	if (r < 0) {
		fprintf(stderr, "urt-echo: %s\n", urt_strerror(r));
		return 1;
	}
	perf_srv_counts total = {0};
	int failed = 0;
	for (unsigned i = 0; i < args.loops; i++) {
		if (loops[i].err) {
			fprintf(stderr, "urt-echo: loop %u: %s\n", i, urt_strerror(loops[i].err));
			failed = 1;
		}
		total.echoes += loops[i].counts.echoes;
		total.bytes += loops[i].counts.bytes;
		total.conns += loops[i].counts.conns;
		total.enters += loops[i].enters;
	}
	perf_srv_report("urt-echo", &total);
	return failed;
}
