/* Small helpers every perf/bench_* program can share (header-only):
 * a monotonic clock, pinning, medians, and the one JSON line per
 * measurement that perf/run collects:
 * {"bench", "urt", "peer", "peer_name", "unit", "ratio", "target", "better"}
 * plus "target_kind": "absolute" when the target bounds urt's own value
 * rather than the urt/peer ratio. A target of 0 means "informational":
 * perf/run shows the line without a verdict. */
#ifndef PERF_BENCH_UTIL_H
#define PERF_BENCH_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t perf_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Pin the calling thread to cpu. Returns 0 or -errno. */
static inline int perf_pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -1 : 0;
}

static inline int perf_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v in place); 0 when n == 0. */
static inline double perf_median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), perf_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Print one measurement line. absolute != 0: target bounds urt itself. */
static inline void perf_emit(const char *bench, double urt, double peer, const char *peer_name,
			     const char *unit, double target, int lower_better, int absolute)
{
	printf("{\"bench\": \"%s\", \"urt\": %.4g, \"peer\": %.4g, \"peer_name\": \"%s\", "
	       "\"unit\": \"%s\", \"ratio\": %.4f, \"target\": %g, \"better\": \"%s\"%s}\n",
	       bench, urt, peer, peer_name, unit, peer > 0 ? urt / peer : 0.0, target,
	       lower_better ? "lower" : "higher", absolute ? ", \"target_kind\": \"absolute\"" : "");
	fflush(stdout);
}

/* 1 if argv holds flag (e.g. "--quick"). */
static inline int perf_has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], flag))
			return 1;
	return 0;
}

/* A loopback port nothing listens on right now (the kernel's choice). */
static inline uint16_t perf_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	bind(fd, (struct sockaddr *)&sa, sizeof sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return ntohs(sa.sin_port);
}

#endif
