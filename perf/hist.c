/* Log-linear histogram: see hist.h. Bucket i < SUB holds exactly the value
 * i. Above, group g >= 1 covers [2^(g+BITS-1), 2^(g+BITS)) in SUB equal
 * buckets; a value's bucket is its top BITS+1 bits, so the mapping is a
 * count-leading-zeros and a shift. */
#include "hist.h"

#include <string.h>

void perf_hist_init(perf_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned perf_hist_bucket(uint64_t v)
{
	if (v < PERF_HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - PERF_HIST_BITS;
	unsigned group = shift + 1;
	return group * PERF_HIST_SUB + (unsigned)((v >> shift) - PERF_HIST_SUB);
}

uint64_t perf_hist_bucket_lo(unsigned i)
{
	if (i < PERF_HIST_SUB)
		return i;
	unsigned group = i / PERF_HIST_SUB, shift = group - 1;
	return ((uint64_t)PERF_HIST_SUB + i % PERF_HIST_SUB) << shift;
}

uint64_t perf_hist_bucket_hi(unsigned i)
{
	if (i < PERF_HIST_SUB)
		return i;
	unsigned shift = i / PERF_HIST_SUB - 1;
	/* written as lo + (width - 1) so the last bucket does not overflow */
	return perf_hist_bucket_lo(i) + ((1ull << shift) - 1);
}

void perf_hist_record(perf_hist *h, uint64_t v)
{
	h->count[perf_hist_bucket(v)]++;
	h->total++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void perf_hist_merge(perf_hist *dst, const perf_hist *src)
{
	for (unsigned i = 0; i < PERF_HIST_BUCKETS; i++)
		dst->count[i] += src->count[i];
	dst->total += src->total;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t perf_hist_quantile(const perf_hist *h, double q)
{
	if (h->total == 0)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	/* the rank-th smallest value, rank in 1..total (nearest-rank method) */
	double want = q * (double)h->total;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want)
		rank++; /* ceil without libm */
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < PERF_HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			uint64_t v = perf_hist_bucket_hi(i);
			return v < h->min ? h->min : v > h->max ? h->max : v;
		}
	}
	return h->max;
}

double perf_hist_mean(const perf_hist *h)
{
	return h->total ? h->sum / (double)h->total : 0.0;
}
