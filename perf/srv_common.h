/* What the echo servers (urt-echo, epoll-echo, uring-echo) share: argument
 * parsing, the stop signal, and the JSON line each prints when it stops, so
 * that the three differ only in how they move bytes. */
#ifndef PERF_SRV_COMMON_H
#define PERF_SRV_COMMON_H

#include <stdint.h>

typedef struct perf_srv_args {
	uint16_t port;    /* --port P (required) */
	unsigned seconds; /* --duration S: stop after S s; 0 = until SIGINT/SIGTERM */
	unsigned loops;   /* --loops N (urt-echo only), default 1 */
} perf_srv_args;

typedef struct perf_srv_counts {
	uint64_t echoes;  /* receives answered (one per round trip with ping-pong) */
	uint64_t bytes;   /* bytes echoed */
	uint64_t enters;  /* io_uring_enter calls (epoll-echo: epoll_wait calls) */
	uint64_t conns;   /* connections accepted */
} perf_srv_counts;

/* Parse argv; prints usage and returns -1 on a bad command line. */
int perf_srv_parse(int argc, char **argv, perf_srv_args *a, int allow_loops);
/* Block SIGINT, SIGTERM and SIGALRM (threads created later inherit the
 * mask), arm alarm(seconds) if non-zero, and return a signalfd that becomes
 * readable when the server should stop; -errno on failure. */
int perf_srv_stop_fd(unsigned seconds, int nonblock);
/* A plain listening TCP socket on 127.0.0.1:port (for the peers). */
int perf_srv_listen(uint16_t port, int nonblock);
/* Disable Nagle on fd: every server and the client do the same. */
void perf_srv_nodelay(int fd);
/* Print {"server": name, "cpu_us": ..., ...} to stdout (getrusage(SELF)). */
void perf_srv_report(const char *name, const perf_srv_counts *c);

#endif
