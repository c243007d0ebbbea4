/* urt-load: the load client, itself a urt program (the engine is load.c).
 *
 *   urt-load --port P [--host IP] [--mode echo|http] [--path /] [--size B]
 *            [--conns N] [--loops L] [--rate R] [--duration S] [--progress]
 *            [--timeline FILE] [--hist FILE]
 *
 * Closed loop by default (each connection waits for its reply, then sends
 * again); --rate R makes it open loop at R requests/s in total, latency
 * counted from when each request was due (coordinated omission corrected).
 * Prints one JSON line: {"client": "urt-load", "mode", "loop", "requests",
 * "rps", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us",
 * "raw_p50_us" .. "raw_max_us" (from the actual send), "errors", ...};
 * "round_trips"/"rtps" are the same counts under the names bench_echo
 * reads. --timeline writes "seconds requests/s" per 100 ms, --hist writes
 * the non-empty histogram buckets "lo_ns hi_ns corrected raw". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urt.h>

#include "load.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: urt-load --port P [--host IP] [--mode echo|http] [--path /] [--size B]\n"
		"                [--conns N] [--loops L] [--rate R] [--duration S] [--progress]\n"
		"                [--timeline FILE] [--hist FILE]\n");
	return 2;
}

static int write_timeline(const char *path, const perf_load_result *r)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	/* the last bins only catch late replies: stop at the last non-empty one */
	unsigned n = r->bins;
	while (n > 0 && !r->timeline[n - 1])
		n--;
	fprintf(f, "# seconds requests_per_second (100 ms bins)\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%.2f %.0f\n", (double)(i + 1) * PERF_LOAD_BIN_NS / 1e9,
			(double)r->timeline[i] * 1e9 / PERF_LOAD_BIN_NS);
	return fclose(f) ? -EIO : 0;
}

static int write_hist(const char *path, const perf_load_result *r)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "# lo_ns hi_ns corrected_count raw_count\n");
	for (unsigned i = 0; i < PERF_HIST_BUCKETS; i++)
		if (r->lat.count[i] || r->raw.count[i])
			fprintf(f, "%llu %llu %llu %llu\n", (unsigned long long)perf_hist_bucket_lo(i),
				(unsigned long long)perf_hist_bucket_hi(i),
				(unsigned long long)r->lat.count[i], (unsigned long long)r->raw.count[i]);
	return fclose(f) ? -EIO : 0;
}

static double us(uint64_t ns) { return (double)ns / 1e3; }

static void print_json(const perf_load_opts *o, const perf_load_result *r)
{
	const perf_hist *h = &r->lat, *w = &r->raw;
	double rps = r->seconds > 0 ? (double)r->requests / r->seconds : 0.0;
	printf("{\"client\": \"urt-load\", \"mode\": \"%s\", \"loop\": \"%s\", \"rate\": %.0f, "
	       "\"conns\": %u, \"loops\": %u, \"size\": %zu, \"seconds\": %.3f, "
	       "\"requests\": %llu, \"rps\": %.0f, \"round_trips\": %llu, \"rtps\": %.0f, "
	       "\"p50_us\": %.2f, \"p90_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, "
	       "\"max_us\": %.2f, \"mean_us\": %.2f, "
	       "\"raw_p50_us\": %.2f, \"raw_p90_us\": %.2f, \"raw_p99_us\": %.2f, "
	       "\"raw_p999_us\": %.2f, \"raw_max_us\": %.2f, "
	       "\"errors\": %llu, \"non2xx\": %llu}\n",
	       o->http ? "http" : "echo", o->rate > 0 ? "open" : "closed", o->rate, o->conns,
	       o->loops ? o->loops : 1, o->http ? (size_t)0 : o->size, r->seconds,
	       (unsigned long long)r->requests, rps, (unsigned long long)r->requests, rps,
	       us(perf_hist_quantile(h, 0.5)), us(perf_hist_quantile(h, 0.9)),
	       us(perf_hist_quantile(h, 0.99)), us(perf_hist_quantile(h, 0.999)), us(h->max),
	       perf_hist_mean(h) / 1e3, us(perf_hist_quantile(w, 0.5)), us(perf_hist_quantile(w, 0.9)),
	       us(perf_hist_quantile(w, 0.99)), us(perf_hist_quantile(w, 0.999)), us(w->max),
	       (unsigned long long)r->errors, (unsigned long long)r->non2xx);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	perf_load_opts o = { .conns = 50, .loops = 1, .size = 64, .seconds = 5 };
	const char *timeline = NULL, *hist = NULL;
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i];
		if (!strcmp(k, "--progress")) {
			o.progress = 1;
			continue;
		}
		const char *v = i + 1 < argc ? argv[++i] : NULL;
		if (!v)
			return usage();
		if (!strcmp(k, "--port"))
			o.port = (uint16_t)atoi(v);
		else if (!strcmp(k, "--host"))
			o.host = v;
		else if (!strcmp(k, "--mode") && (!strcmp(v, "echo") || !strcmp(v, "http")))
			o.http = !strcmp(v, "http");
		else if (!strcmp(k, "--path"))
			o.path = v;
		else if (!strcmp(k, "--size"))
			o.size = (size_t)atol(v);
		else if (!strcmp(k, "--conns"))
			o.conns = (unsigned)atoi(v);
		else if (!strcmp(k, "--loops"))
			o.loops = (unsigned)atoi(v);
		else if (!strcmp(k, "--rate"))
			o.rate = atof(v);
		else if (!strcmp(k, "--duration"))
			o.seconds = atof(v);
		else if (!strcmp(k, "--timeline"))
			timeline = v;
		else if (!strcmp(k, "--hist"))
			hist = v;
		else
			return usage();
	}
	static perf_load_result r; /* two histograms: ~120 KiB, not on the stack */
	int ret = perf_load_run(&o, &r);
	if (ret == -EINVAL)
		return usage();
	if (ret < 0) {
		fprintf(stderr, "urt-load: %s:%u: %s\n", o.host ? o.host : "127.0.0.1", o.port,
			urt_strerror(ret));
		return 1;
	}
	print_json(&o, &r);
	if (timeline && (ret = write_timeline(timeline, &r)) < 0)
		fprintf(stderr, "urt-load: %s: %s\n", timeline, urt_strerror(ret));
	if (hist && (ret = write_hist(hist, &r)) < 0)
		fprintf(stderr, "urt-load: %s: %s\n", hist, urt_strerror(ret));
	perf_load_result_free(&r);
	return r.errors || !r.requests ? 1 : 0;
}
