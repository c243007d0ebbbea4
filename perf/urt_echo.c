/* urt-echo: the echo server written the urt way, on N loops (--loops N,
 * one thread each, sharing the port with SO_REUSEPORT).
 *
 * Each loop runs urt_server (one multishot accept, a task per connection)
 * and each connection receives with a multishot recv into the loop's
 * provided-buffer ring, so a round trip costs one SQE (the send). The
 * received buffer is echoed through a urt_sender: the task goes straight
 * back to receiving instead of waiting for the send's completion. Loop 0
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
	urt_loop_stats st;         /* the loop's counters at its end */
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
	urt_sender *s;
	if (urt_msrecv_open(&r, fd, ls->br, 0) < 0)
		return;
	if (urt_sender_open(&s, fd, MSG_NOSIGNAL) < 0) {
		urt_msrecv_close(r);
		return;
	}
	urt_buf b;
	for (;;) {
		ssize_t n = urt_msrecv_next(r, &b);
		if (n <= 0)
			break;
		ls->counts.echoes++;
		ls->counts.bytes += (uint64_t)n;
		/* the received buffer itself goes out and back to the ring once
		 * sent: no copy, and no waiting for the send's completion */
		if (urt_sender_send_buf(s, ls->br, &b) < 0) {
			urt_bufring_release(ls->br, &b);
			break;
		}
	}
	urt_msrecv_close(r);
	urt_sender_close(s);
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
	urt_loop_stats_get(NULL, &ls->st);
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
		total.enters += loops[i].st.enters;
	}
	perf_srv_report("urt-echo", &total);
	if (getenv("URT_ECHO_STATS")) /* per round trip, to compare designs */
		for (unsigned i = 0; i < args.loops; i++) {
			const urt_loop_stats *s = &loops[i].st;
			double n = loops[i].counts.echoes ? (double)loops[i].counts.echoes : 1;
			fprintf(stderr, "urt-echo: loop %u per echo: ticks %.3f enters %.3f "
				"sqes %.3f cqes %.3f switches %.3f\n", i, s->ticks / n,
				s->enters / n, s->sqes / n, s->cqes / n, s->switches / n);
			fprintf(stderr, "urt-echo: loop %u CQEs per tick (0 1 2-3 4-7 8-15 16-31 32-63 64+):", i);
			for (int h = 0; h < 8; h++)
				fprintf(stderr, " %llu", (unsigned long long)s->cqe_hist[h]);
			fprintf(stderr, "\n");
		}
	return failed;
}
