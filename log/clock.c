/* Raw timestamps for log records and their conversion to wall-clock time.
 *
 * The hot path reads the TSC when the CPU has an invariant one (measured
 * here: rdtsc ~12 ns vs ~31 ns for the vDSO clock_gettime(CLOCK_REALTIME));
 * otherwise it reads CLOCK_REALTIME in ns directly. Only the writer thread
 * (and the crash handler) converts, against an anchor (tsc, realtime) that
 * the writer re-takes every 100 ms, with a rate measured over the longest
 * baseline seen, so the conversion error stays well under a microsecond.
 * The rate is measured against CLOCK_MONOTONIC_RAW, never CLOCK_REALTIME:
 * a wall-clock step (NTP, settimeofday) over the baseline made the rate
 * wrong by the step (records 10 ms apart came out 70 s apart, then went
 * backwards). A step moves only the anchor, at the next re-take. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "log_internal.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#define URT_LOG_HAVE_TSC 1
#endif

/* urt__log_use_tsc (in urt__log_hot): set once by urt__log_clock_init; read inline by producers */
#define use_tsc urt__log_use_tsc
static uint64_t first_tsc;           /* long-baseline origin */
static int64_t first_mono;           /* CLOCK_MONOTONIC_RAW ns at first_tsc */
static uint64_t anchor_tsc;          /* latest anchor */
static int64_t anchor_ns;            /* CLOCK_REALTIME ns at anchor_tsc */
static int64_t anchor_mono;          /* CLOCK_MONOTONIC_RAW ns at anchor_tsc */
static double ns_per_tick;
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t realtime_ns(void) { return clock_ns(CLOCK_REALTIME); }

#ifdef URT_LOG_HAVE_TSC
static bool tsc_invariant(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
		return false;
	__get_cpuid(0x80000007u, &a, &b, &c, &d);
	return (d >> 8) & 1;
}

/* One (tsc, monotonic raw, realtime) triple taken as close together as
 * possible: the best of 5 by the TSC ticks around the two clock reads. */
static void pair(uint64_t *tsc, int64_t *mono, int64_t *real)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 5; i++) {
		uint64_t t0 = __rdtsc();
		int64_t m = clock_ns(CLOCK_MONOTONIC_RAW);
		int64_t n = realtime_ns();
		uint64_t t1 = __rdtsc();
		if (t1 - t0 < best) {
			best = t1 - t0;
			*tsc = t0 + (t1 - t0) / 2;
			*mono = m;
			*real = n;
		}
	}
}
#endif

static void clock_init_once(void)
{
#ifdef URT_LOG_HAVE_TSC
	const char *env = getenv("URT_LOG_CLOCK");
	use_tsc = tsc_invariant() && !(env && strcmp(env, "realtime") == 0);
	if (!use_tsc)
		return;
	int64_t real = 0;
	pair(&first_tsc, &first_mono, &real);
	uint64_t t = 0;
	int64_t m = 0;
	do /* a short first baseline; the writer refines the rate later */
		pair(&t, &m, &real);
	while (m - first_mono < 5000000);
	ns_per_tick = (double)(m - first_mono) / (double)(t - first_tsc);
	anchor_tsc = t;
	anchor_ns = real;
	anchor_mono = m;
#endif
}

void urt__log_clock_init(void) { pthread_once(&clock_once, clock_init_once); }

uint64_t urt__log_clock_raw_slow(void) { return (uint64_t)realtime_ns(); }

int64_t urt__log_clock_ns(uint64_t raw)
{
	if (!use_tsc)
		return (int64_t)raw;
	int64_t d = (int64_t)(raw - anchor_tsc);
	return anchor_ns + (int64_t)((double)d * ns_per_tick);
}

void urt__log_clock_recalibrate(void)
{
#ifdef URT_LOG_HAVE_TSC
	if (!use_tsc)
		return;
	/* at most every 100 ms; checked on the TSC first, since the writer
	 * calls this after every batch and pair() reads the clock 5 times */
	if ((double)(__rdtsc() - anchor_tsc) * ns_per_tick < 100000000.0)
		return;
	uint64_t t = 0;
	int64_t m = 0, real = 0;
	pair(&t, &m, &real);
	if (m - anchor_mono < 100000000)
		return;
	if (m > first_mono && t > first_tsc)
		ns_per_tick = (double)(m - first_mono) / (double)(t - first_tsc);
	anchor_tsc = t;
	anchor_ns = real; /* a wall-clock step shows from here on */
	anchor_mono = m;
#endif
}
