/* The load engine behind urt-load (and its tests): N connections spread
 * over L loops (one thread each), echo or HTTP GET, closed or open loop.
 *
 * Closed loop: each connection sends, waits for the reply, sends again.
 * Open loop (rate > 0): requests are due at a fixed rate; connection c's
 * k-th request is due at start + offset_c + k * conns / rate. A request
 * still waits for the previous reply on its connection (as wrk2 does), so
 * a slow server makes later requests late; their latency is counted from
 * when they were due, not from when they were sent. That is the
 * coordinated-omission correction: a stall of S seconds shows up as
 * S * rate samples between S and 0 instead of one sample of S. The
 * uncorrected latency (from the actual send) is kept too, to compare. */
#ifndef PERF_LOAD_H
#define PERF_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define PERF_LOAD_MAX_LOOPS 64
#define PERF_LOAD_BIN_NS 100000000ull /* timeline bin: 100 ms */

typedef struct perf_load_opts {
	const char *host;   /* server IPv4 address; NULL = 127.0.0.1 */
	uint16_t port;      /* server port (required) */
	unsigned conns;     /* connections in total (>= loops) */
	unsigned loops;     /* client loops (threads); 0 = 1 */
	int http;           /* 1: HTTP/1.1 GET path, keep-alive; 0: echo size bytes */
	const char *path;   /* HTTP target; NULL = "/" */
	size_t size;        /* echo message bytes (1 .. 65536) */
	double rate;        /* requests/s over all connections; 0 = closed loop */
	double seconds;     /* how long to send (> 0) */
	int progress;       /* 1: a progress line on stderr every second */
} perf_load_opts;

typedef struct perf_load_result {
	perf_hist lat;          /* latency from the due time (closed loop: from the send), ns */
	perf_hist raw;          /* latency from the actual send, ns (uncorrected) */
	uint64_t requests;      /* replies received in the window */
	uint64_t errors;        /* connections that failed, bad replies */
	uint64_t non2xx;        /* HTTP replies whose status was not 2xx */
	double seconds;         /* measured window (first send to last reply) */
	unsigned bins;          /* entries in timeline */
	uint64_t *timeline;     /* replies per PERF_LOAD_BIN_NS bin (malloc'd) */
} perf_load_result;

/* Run the load described by o; fill *r (free with perf_load_result_free).
 * Returns 0; -EINVAL for bad options; -ECONNREFUSED etc. if a connection
 * could not be opened; -ENOMEM. Errors during the run are counted in
 * r->errors, not returned. */
int perf_load_run(const perf_load_opts *o, perf_load_result *r);

/* Release what perf_load_run allocated in r. */
void perf_load_result_free(perf_load_result *r);

/* Where the HTTP reply in buf[0..len) ends: the head's length plus its
 * Content-Length, with *status set; 0 if the head is not complete yet;
 * -EPROTO if it is not an HTTP/1.x reply or has no valid length. */
long perf_load_http_reply_len(const char *buf, size_t len, int *status);

#endif
