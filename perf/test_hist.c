/* perf_hist: the log-linear latency histogram used by urt-load. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

static perf_hist h; /* ~60 KiB: static, not on the test's stack */

Test(perf_hist, small_values_are_exact)
{
	perf_hist_init(&h);
	for (uint64_t v = 1; v <= 100; v++)
		perf_hist_record(&h, v);
	cr_assert_eq(h.total, 100);
	cr_assert_eq(perf_hist_quantile(&h, 0.5), 50);
	cr_assert_eq(perf_hist_quantile(&h, 0.99), 99);
	cr_assert_eq(perf_hist_quantile(&h, 0.0), 1);
	cr_assert_eq(perf_hist_quantile(&h, 1.0), 100);
	cr_assert_float_eq(perf_hist_mean(&h), 50.5, 1e-9);
}

Test(perf_hist, buckets_tile_the_range)
{
	/* every bucket starts right after the previous one ends */
	for (unsigned i = 1; i < PERF_HIST_BUCKETS; i++)
		cr_assert_eq(perf_hist_bucket_lo(i), perf_hist_bucket_hi(i - 1) + 1, "bucket %u", i);
	cr_assert_eq(perf_hist_bucket_lo(0), 0);
	cr_assert_eq(perf_hist_bucket_hi(PERF_HIST_BUCKETS - 1), UINT64_MAX);
}

Test(perf_hist, bucket_of_value_holds_it)
{
	uint64_t vals[] = { 0, 1, 127, 128, 129, 255, 256, 1000, 123456789, 1ull << 40,
			    (1ull << 63) - 1, 1ull << 63, UINT64_MAX };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		unsigned b = perf_hist_bucket(vals[i]);
		cr_assert_lt(b, PERF_HIST_BUCKETS);
		cr_assert_leq(perf_hist_bucket_lo(b), vals[i]);
		cr_assert_geq(perf_hist_bucket_hi(b), vals[i]);
	}
}

Test(perf_hist, relative_error_is_bounded)
{
	/* random large values: the reported quantile is within 1/128 above */
	srand(42);
	for (int i = 0; i < 1000; i++) {
		uint64_t v = ((uint64_t)rand() << 20) ^ (uint64_t)rand();
		uint64_t hi = perf_hist_bucket_hi(perf_hist_bucket(v));
		cr_assert_geq(hi, v);
		cr_assert_leq((double)(hi - v), (double)v / PERF_HIST_SUB + 1, "v=%llu", (unsigned long long)v);
	}
}

Test(perf_hist, quantiles_of_a_skewed_distribution)
{
	perf_hist_init(&h);
	for (int i = 0; i < 990; i++)
		perf_hist_record(&h, 10000); /* 10 us */
	for (int i = 0; i < 10; i++)
		perf_hist_record(&h, 5000000); /* 5 ms tail */
	uint64_t p50 = perf_hist_quantile(&h, 0.5), p99 = perf_hist_quantile(&h, 0.99);
	uint64_t p999 = perf_hist_quantile(&h, 0.999);
	cr_assert(p50 >= 10000 && p50 <= 10000 + 10000 / PERF_HIST_SUB, "p50=%llu", (unsigned long long)p50);
	cr_assert(p99 >= 10000 && p99 <= 10000 + 10000 / PERF_HIST_SUB, "p99=%llu", (unsigned long long)p99);
	cr_assert_eq(p999, 5000000, "clamped to max");
	cr_assert_eq(h.max, 5000000);
	cr_assert_eq(h.min, 10000);
}

Test(perf_hist, empty_histogram)
{
	perf_hist_init(&h);
	cr_assert_eq(perf_hist_quantile(&h, 0.5), 0);
	cr_assert_eq(perf_hist_quantile(&h, 1.0), 0);
	cr_assert_float_eq(perf_hist_mean(&h), 0.0, 1e-12);
	cr_assert_eq(h.total, 0);
}

Test(perf_hist, out_of_range_quantiles_clamp)
{
	perf_hist_init(&h);
	perf_hist_record(&h, 7);
	perf_hist_record(&h, 900);
	cr_assert_eq(perf_hist_quantile(&h, -1.0), 7);
	cr_assert_eq(perf_hist_quantile(&h, 2.0), 900);
}

Test(perf_hist, merge_adds_counts_and_extremes)
{
	static perf_hist a, b;
	perf_hist_init(&a);
	perf_hist_init(&b);
	perf_hist_record(&a, 5);
	perf_hist_record(&b, 3);
	perf_hist_record(&b, 1000000);
	perf_hist_merge(&a, &b);
	cr_assert_eq(a.total, 3);
	cr_assert_eq(a.min, 3);
	cr_assert_eq(a.max, 1000000);
	cr_assert_eq(perf_hist_quantile(&a, 0.5), 5);
	/* merging an empty histogram changes nothing */
	perf_hist_init(&b);
	perf_hist_merge(&a, &b);
	cr_assert_eq(a.total, 3);
	cr_assert_eq(a.min, 3);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Synthetic latencies with known percentiles: the histogram's answer is in
 * the same bucket as the exact nearest-rank value and never below it. */
Test(perf_hist, quantiles_match_the_exact_ones)
{
	enum { N = 20000 };
	static uint64_t v[N];
	perf_hist_init(&h);
	srand(7);
	for (int i = 0; i < N; i++) {
		/* 5..500 us body, a 1 % tail up to 50 ms: shaped like a real run */
		v[i] = i % 100 == 0 ? 1000000 + (uint64_t)rand() % 49000000
				    : 5000 + (uint64_t)rand() % 495000;
		perf_hist_record(&h, v[i]);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	const double qs[] = { 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.995, 0.999, 0.9999 };
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		uint64_t rank = (uint64_t)(qs[i] * N + 0.999999); /* ceil */
		uint64_t exact = v[rank - 1], got = perf_hist_quantile(&h, qs[i]);
		cr_assert_eq(perf_hist_bucket(got), perf_hist_bucket(exact), "q=%g", qs[i]);
		cr_assert_geq(got, exact, "q=%g", qs[i]);
		cr_assert_leq((double)(got - exact), (double)exact / PERF_HIST_SUB, "q=%g", qs[i]);
	}
	cr_assert_eq(perf_hist_quantile(&h, 1.0), v[N - 1], "max is exact");
	cr_assert_eq(perf_hist_quantile(&h, 0.0), v[0], "min is exact");
}

/* Values below 2^BITS are their own buckets: percentiles are exact. */
Test(perf_hist, small_value_percentiles_are_exact)
{
	perf_hist_init(&h);
	for (uint64_t v = 0; v < PERF_HIST_SUB; v++)
		for (uint64_t k = 0; k < v; k++) /* value v recorded v times */
			perf_hist_record(&h, v);
	/* total = 127*128/2 = 8128; rank 4064 falls at value 90:
	 * sum(1..89) = 4005 < 4064 <= sum(1..90) = 4095 */
	cr_assert_eq(h.total, 8128);
	cr_assert_eq(perf_hist_quantile(&h, 0.5), 90);
	cr_assert_eq(perf_hist_quantile(&h, 1.0), 127);
	cr_assert_eq(perf_hist_quantile(&h, 1e-9), 1);
}

/* One histogram per loop, merged, equals one histogram of everything. */
Test(perf_hist, merge_across_loops_equals_one_histogram)
{
	static perf_hist loops[4], all, merged;
	perf_hist_init(&all);
	perf_hist_init(&merged);
	for (int l = 0; l < 4; l++)
		perf_hist_init(&loops[l]);
	srand(11);
	for (int i = 0; i < 40000; i++) {
		uint64_t v = (uint64_t)rand() % (1u << (8 + i % 20));
		perf_hist_record(&loops[i % 4], v);
		perf_hist_record(&all, v);
	}
	for (int l = 0; l < 4; l++)
		perf_hist_merge(&merged, &loops[l]);
	cr_assert_eq(memcmp(merged.count, all.count, sizeof(all.count)), 0);
	cr_assert_eq(merged.total, all.total);
	cr_assert_eq(merged.min, all.min);
	cr_assert_eq(merged.max, all.max);
	for (double q = 0.05; q < 1; q += 0.05)
		cr_assert_eq(perf_hist_quantile(&merged, q), perf_hist_quantile(&all, q));
}
