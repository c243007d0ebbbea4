// bench_log: urt's logger vs spdlog's async logger (block policy), same run,
// interleaved rounds, medians reported. One JSON line per measurement.
//   latency  : per-call cost of "request %d took %f ms" (rdtsc around the
//              call), pinned producers (1 and 2 threads), warm-up, bursts
//              spaced so the back end drains; p50 and p99.9.
// Pinning (both loggers alike): producer t on CPU t % ncpu, the back end
// (urt's writer via writer_cpus, spdlog's worker via its thread-start hook)
// on the last CPU: with 1 producer each side has a CPU of its own; with 2
// producers on 2 CPUs the second producer shares its CPU with the back end.
//   throughput: records/s to a file until everything is written.
//   sustained: per-call p99.9 and max while the buffer stays full (block).
// --quick: a couple of seconds (CI smoke).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>
#include <x86intrin.h>
#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
extern "C" {
#include "urt_log.h"
}

static bool quick;
static const char *only; // --only latency|throughput|sustained: one part (profiling)
static double ns_per_tick;
static const char *urt_path = "/tmp/urt_bench_log_urt.log";
static const char *spd_path = "/tmp/urt_bench_log_spdlog.log";

static uint64_t now_ns()
{
	timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return uint64_t(t.tv_sec) * 1000000000u + t.tv_nsec;
}

static void calibrate()
{
	uint64_t n0 = now_ns(), t0 = __rdtsc();
	while (now_ns() - n0 < 50000000)
		;
	ns_per_tick = double(now_ns() - n0) / double(__rdtsc() - t0);
}

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu % std::max(1u, std::thread::hardware_concurrency()), &s);
	pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

// The back ends' CPU: the last one (the producers start at CPU 0).
static int backend_cpu()
{
	return int(std::max(1u, std::thread::hardware_concurrency())) - 1;
}

struct Stats { double p50, p999, max; };

static Stats summarize(std::vector<uint64_t> &v)
{
	std::sort(v.begin(), v.end());
	auto at = [&](double q) { return double(v[size_t(q * double(v.size() - 1))]) * ns_per_tick; };
	return {at(0.5), at(0.999), double(v.back()) * ns_per_tick};
}

static double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}

static void emit_vs(const char *bench, double urt, double peer, const char *peer_name,
		    const char *unit, double target, const char *better)
{
	printf("{\"bench\": \"%s\", \"urt\": %.1f, \"peer\": %.1f, \"peer_name\": \"%s\", "
	       "\"unit\": \"%s\", \"ratio\": %.4f, \"target\": %g, \"better\": \"%s\"}\n",
	       bench, urt, peer, peer_name, unit, peer > 0 ? urt / peer : 0.0, target, better);
	fflush(stdout);
}

static void emit(const char *bench, double urt, double peer, const char *unit, double target,
		 const char *better)
{
	emit_vs(bench, urt, peer, "spdlog-async", unit, target, better);
}

// The machine's floor for the latency measurement: the same harness around
// a call that only stores a record's words (timestamp, call site, the two
// arguments, its size) into a pre-faulted per-thread ring of urt's size,
// with no reader and no formatting. Its p99.9 is what this machine does to
// any call that writes fresh cache lines after a sleep (misses, interrupts).
struct StoreRing {
	alignas(64) unsigned char buf[256 << 10];
	uint64_t pos;
};
static thread_local StoreRing *store_ring; // a plain pointer: no TLS guard on the timed path
struct StoreRingFree {
	~StoreRingFree() { delete store_ring; } // as its producer thread ends
};

__attribute__((noinline)) static void store_only(const void *site, int i, double ms)
{
	StoreRing *r = store_ring;
	if (__builtin_expect(!r, 0)) { // the warm-up's first call
		static thread_local StoreRingFree free_at_exit;
		(void)free_at_exit;
		r = store_ring = new StoreRing();
		memset(r->buf, 1, sizeof r->buf);
	}
	uint64_t w[5] = {__rdtsc(), (uint64_t)(uintptr_t)site, uint64_t(i), 0, 40};
	memcpy(&w[3], &ms, 8);
	memcpy(r->buf + (r->pos & (sizeof r->buf - 1)), w, sizeof w);
	__atomic_store_n(&r->pos, r->pos + sizeof w, __ATOMIC_RELEASE);
}

static void open_urt(size_t buf)
{
	remove(urt_path);
	urt_log_config c = {};
	c.sink = URT_LOG_SINK_FILE;
	c.path = urt_path;
	c.buffer_size = buf;
	c.no_crash_flush = 1;
	c.writer_cpus = uint64_t(1) << backend_cpu();
	if (urt_log_open(&c) != 0) {
		fprintf(stderr, "urt_log_open failed\n");
		exit(1);
	}
}

static std::shared_ptr<spdlog::logger> open_spd(size_t queue)
{
	remove(spd_path);
	spdlog::init_thread_pool(queue, 1, [] { pin(backend_cpu()); });
	auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(spd_path, true);
	auto lg = std::make_shared<spdlog::async_logger>("bench", sink, spdlog::thread_pool(),
							 spdlog::async_overflow_policy::block);
	lg->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %t %v", spdlog::pattern_time_type::utc);
	return lg;
}

static void close_spd(std::shared_ptr<spdlog::logger> &lg)
{
	lg->flush();
	lg.reset();
	spdlog::shutdown(); // joins the pool: everything written
}

// One producer's run: warm-up then bursts; per-call ticks into out.
template <class F>
static void producer(int cpu, int bursts, int burst, int gap_us, F log, std::vector<uint64_t> &out)
{
	pin(cpu);
	for (int i = 0; i < 2000; i++)
		log(i, 0.5);
	usleep(2000);
	out.reserve(size_t(bursts) * burst);
	for (int b = 0; b < bursts; b++) {
		for (int i = 0; i < burst; i++) {
			uint64_t t0 = __rdtsc();
			log(i, i * 0.25);
			uint64_t t1 = __rdtsc();
			out.push_back(t1 - t0);
		}
		if (gap_us)
			usleep(gap_us);
	}
}

template <class F>
static Stats run_producers(int nthreads, int bursts, int burst, int gap_us, F log)
{
	std::vector<std::vector<uint64_t>> per(nthreads);
	std::vector<std::thread> th;
	for (int t = 0; t < nthreads; t++)
		th.emplace_back([&, t] { producer(t, bursts, burst, gap_us, log, per[t]); });
	for (auto &x : th)
		x.join();
	std::vector<uint64_t> all;
	for (auto &v : per)
		all.insert(all.end(), v.begin(), v.end());
	return summarize(all);
}

static void latency(int nthreads)
{
	int rounds = quick ? 3 : 7, bursts = quick ? 100 : 500, burst = 50;
	std::vector<double> u50, u999, s50, s999, f999;
	for (int r = 0; r < rounds; r++) {
		open_urt(256 << 10);
		Stats u = run_producers(nthreads, bursts, burst, 300, [](int i, double ms) {
			URT_LOG_INFO("request %d took %f ms", i, ms);
		});
		urt_log_close();
		auto lg = open_spd(8192);
		spdlog::logger *raw = lg.get();
		Stats s = run_producers(nthreads, bursts, burst, 300, [raw](int i, double ms) {
			raw->info("request {} took {} ms", i, ms);
		});
		close_spd(lg);
		static const char site[] = "request %d took %f ms";
		Stats f = run_producers(nthreads, bursts, burst, 300, [](int i, double ms) {
			store_only(site, i, ms);
		});
		u50.push_back(u.p50);
		u999.push_back(u.p999);
		s50.push_back(s.p50);
		s999.push_back(s.p999);
		f999.push_back(f.p999);
	}
	char name[64];
	snprintf(name, sizeof name, "log_latency_p50_%dthr", nthreads);
	emit(name, median(u50), median(s50), "ns", 0.2, "lower");
	snprintf(name, sizeof name, "log_latency_p999_%dthr", nthreads);
	emit(name, median(u999), median(s999), "ns", 0.02, "lower");
	snprintf(name, sizeof name, "log_latency_p999_floor_%dthr", nthreads);
	emit_vs(name, median(u999), median(f999), "store-only", "ns", 0, "lower"); // informational
}

static void throughput()
{
	int rounds = quick ? 3 : 5, n = quick ? 200000 : 2000000;
	std::vector<double> u, s;
	pin(0); // the producer, as in the other parts (threads started later pin themselves)
	for (int r = 0; r < rounds; r++) {
		open_urt(1 << 20);
		uint64_t t0 = now_ns();
		for (int i = 0; i < n; i++)
			URT_LOG_INFO("request %d took %f ms", i, i * 0.25);
		urt_log_close(); // drains everything
		u.push_back(n / (double(now_ns() - t0) / 1e9));
		auto lg = open_spd(65536);
		t0 = now_ns();
		for (int i = 0; i < n; i++)
			lg->info("request {} took {} ms", i, i * 0.25);
		close_spd(lg);
		s.push_back(n / (double(now_ns() - t0) / 1e9));
	}
	emit("log_throughput_file", median(u), median(s), "records/s", 2, "higher");
}

static void sustained()
{
	int rounds = quick ? 3 : 5, n = quick ? 100000 : 1000000;
	std::vector<double> u999, umax, s999, smax;
	for (int r = 0; r < rounds; r++) {
		open_urt(16 << 10);
		Stats u = run_producers(1, 1, n, 0, [](int i, double ms) {
			URT_LOG_INFO("request %d took %f ms", i, ms);
		});
		urt_log_close();
		auto lg = open_spd(128);
		spdlog::logger *raw = lg.get();
		Stats s = run_producers(1, 1, n, 0, [raw](int i, double ms) {
			raw->info("request {} took {} ms", i, ms);
		});
		close_spd(lg);
		u999.push_back(u.p999);
		umax.push_back(u.max);
		s999.push_back(s.p999);
		smax.push_back(s.max);
	}
	// the issue asks to report these, not to meet a ratio: target 0
	emit("log_sustained_p999", median(u999), median(s999), "ns", 0, "lower");
	emit("log_sustained_max", median(umax), median(smax), "ns", 0, "lower");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		quick |= strcmp(argv[i], "--quick") == 0;
		if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
	}
	auto want = [](const char *part) { return !only || strcmp(only, part) == 0; };
	calibrate();
	if (want("latency")) {
		latency(1);
		latency(2);
	}
	if (want("throughput"))
		throughput();
	if (want("sustained"))
		sustained();
	remove(urt_path);
	remove(spd_path);
	return 0;
}
