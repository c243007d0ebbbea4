/* A log-linear latency histogram (HDR-style): values below 2^PERF_HIST_BITS
 * are counted exactly, larger ones in buckets whose width is 1/2^BITS of
 * their power of two, so any quantile is off by less than 1/128 (0.8 %).
 * Fixed size, no allocation, recording is a few instructions: fit for a
 * hot loop. Single-threaded; merge per-thread histograms for a total. */
#ifndef PERF_HIST_H
#define PERF_HIST_H

#include <stdint.h>

#define PERF_HIST_BITS 7                              /* sub-bucket precision */
#define PERF_HIST_SUB (1u << PERF_HIST_BITS)          /* buckets per power of two */
#define PERF_HIST_BUCKETS ((64 - PERF_HIST_BITS + 1) * PERF_HIST_SUB)

typedef struct perf_hist {
	uint64_t count[PERF_HIST_BUCKETS]; /* values per bucket */
	uint64_t total;                    /* values recorded */
	uint64_t min, max;                 /* exact extremes (min UINT64_MAX when empty) */
	double sum;                        /* for the mean */
} perf_hist;

/* Empty h. */
void perf_hist_init(perf_hist *h);
/* Count one value v. */
void perf_hist_record(perf_hist *h, uint64_t v);
/* Add every value of src to dst. */
void perf_hist_merge(perf_hist *dst, const perf_hist *src);
/* The value at quantile q in [0, 1] (0.5 = median, 1 = max): the highest
 * value of the bucket holding it, clamped to [min, max]; 0 when empty. */
uint64_t perf_hist_quantile(const perf_hist *h, double q);
/* The mean, 0 when empty. */
double perf_hist_mean(const perf_hist *h);

/* Bucket of v, and the lowest and highest value of bucket i (for tests). */
unsigned perf_hist_bucket(uint64_t v);
uint64_t perf_hist_bucket_lo(unsigned i);
uint64_t perf_hist_bucket_hi(unsigned i);

#endif
