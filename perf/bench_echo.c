/* bench_echo: TCP echo over loopback, urt-echo against two peers written
 * here: uring-echo (raw liburing) and epoll-echo (readiness-based).
 *
 * Each run starts one server pinned to CPU 0 and urt-load pinned to CPU 1
 * (64-byte ping-pong over C connections for S seconds), then stops the
 * server with SIGTERM and reads the JSON lines both print: the client's
 * round trips/s and latency, the server's CPU time (getrusage), bytes
 * echoed and io_uring_enter calls. Servers alternate within a round
 * (urt, uring, epoll, libuv) at 50, 500 and 5,000 connections, and each
 * leads a round in turn (the next round starts with uring, ...), so none
 * always runs first, right after the previous count's teardown; medians
 * over the rounds are reported. libuv-echo (perf/net.cmake) is
 * skipped when it was not built. --quick: 1 s runs, one round, and the
 * 5,000-connection count is left out. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define MSG_SIZE 64
#define MAX_ROUNDS 15

enum { SRV_URT, SRV_URING, SRV_EPOLL, SRV_LIBUV, NSRV };
static const char *const srv_names[NSRV] = { "urt-echo", "uring-echo", "epoll-echo", "libuv-echo" };
static const unsigned conn_counts[] = { 50, 500, 5000 };
#define NCONN (sizeof(conn_counts) / sizeof(conn_counts[0]))

typedef struct result {
	double rtps;          /* client round trips per second */
	double p50_us, p99_us; /* client latency */
	double cpu_us_per_rt; /* server CPU per round trip */
	double enters_per_rt; /* server io_uring_enter (epoll_wait) per round trip */
} result;

static char bin_dir[PATH_MAX];
static int cpu_server = 0, cpu_client = 1;

static void find_bin_dir(void)
{
	ssize_t n = readlink("/proc/self/exe", bin_dir, sizeof(bin_dir) - 1);
	if (n < 0)
		n = 0;
	bin_dir[n] = 0;
	char *slash = strrchr(bin_dir, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(bin_dir, ".");
}

static int bin_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", bin_dir, name);
	return access(out, X_OK);
}

/* Start argv[0] pinned to cpu with its stdout on *out_fd. Returns the pid. */
static pid_t spawn_pinned(char *const argv[], int cpu, int *out_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		perf_pin(cpu);
		dup2(p[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

/* Read fd to EOF (or until timeout_ms passes with no data) into buf. */
static void read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t len = 0;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	while (len + 1 < cap && poll(&pfd, 1, timeout_ms) > 0) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	close(fd);
}

/* The number after "key": in a JSON line, NAN if absent. */
static double json_num(const char *s, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(s, pat);
	return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static int wait_port(uint16_t port, int ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	for (int waited = 0; waited < ms; waited += 10) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* One run of server srv with conns connections for secs seconds. */
static int run_one(int srv, unsigned conns, double secs, result *r)
{
	char srv_path[PATH_MAX + 32], load_path[PATH_MAX + 32];
	bin_path(srv_path, sizeof(srv_path), srv_names[srv]);
	bin_path(load_path, sizeof(load_path), "urt-load");
	char port_s[16], conns_s[16], size_s[16], secs_s[32];
	snprintf(port_s, sizeof(port_s), "%u", perf_free_port());
	snprintf(conns_s, sizeof(conns_s), "%u", conns);
	snprintf(size_s, sizeof(size_s), "%d", MSG_SIZE);
	snprintf(secs_s, sizeof(secs_s), "%g", secs);

	char *sargv[] = { srv_path, "--port", port_s, NULL };
	int sfd, lfd;
	pid_t spid = spawn_pinned(sargv, cpu_server, &sfd);
	if (spid < 0)
		return -1;
	char sout[4096], lout[4096];
	int ok = wait_port((uint16_t)atoi(port_s), 3000) == 0;
	if (ok) {
		char *largv[] = { load_path, "--port", port_s, "--conns", conns_s, "--size", size_s,
				  "--duration", secs_s, NULL };
		pid_t lpid = spawn_pinned(largv, cpu_client, &lfd);
		read_all(lfd, lout, sizeof(lout), (int)(secs * 1000) + 30000);
		int st = 0;
		waitpid(lpid, &st, 0);
		ok = lpid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	kill(spid, SIGTERM);
	read_all(sfd, sout, sizeof(sout), 5000);
	kill(spid, SIGKILL); /* in case it did not stop: harmless if it did */
	waitpid(spid, NULL, 0);
	if (!ok) {
		fprintf(stderr, "bench_echo: %s with %u connections failed\n", srv_names[srv], conns);
		return -1;
	}
	double rts = json_num(sout, "bytes") / MSG_SIZE;
	r->rtps = json_num(lout, "rtps");
	r->p50_us = json_num(lout, "p50_us");
	r->p99_us = json_num(lout, "p99_us");
	r->cpu_us_per_rt = json_num(sout, "cpu_us") / rts;
	r->enters_per_rt = json_num(sout, "enters") / rts;
	if (isnan(r->rtps) || isnan(rts) || rts <= 0) {
		fprintf(stderr, "bench_echo: bad output from %s: %s / %s\n", srv_names[srv], sout, lout);
		return -1;
	}
	fprintf(stderr, "bench_echo: %-10s c=%-3u %8.0f rt/s  p50 %6.1f us  p99 %7.1f us  "
		"cpu %5.2f us/rt  enters %.3f/rt\n", srv_names[srv], conns, r->rtps, r->p50_us,
		r->p99_us, r->cpu_us_per_rt, r->enters_per_rt);
	return 0;
}

/* Median of one field over the rounds. */
static double med(result (*res)[MAX_ROUNDS], int srv, int rounds, size_t field_off)
{
	double v[MAX_ROUNDS];
	for (int i = 0; i < rounds; i++)
		v[i] = *(const double *)((const char *)&res[srv][i] + field_off);
	return perf_median(v, rounds);
}

/* stderr: urt's round trips/s over each peer's, round by round (the two
 * ran within seconds of each other): the median and the range say how
 * much of a gap between the medians the machine's drift can explain. */
static void print_paired(result (*res)[MAX_ROUNDS], const int *have, int rounds, unsigned conns)
{
	for (int s = SRV_URING; s < NSRV; s++) {
		if (!have[s] || rounds < 2)
			continue;
		double v[MAX_ROUNDS];
		for (int i = 0; i < rounds; i++)
			v[i] = res[s][i].rtps > 0 ? res[SRV_URT][i].rtps / res[s][i].rtps : 0;
		double m = perf_median(v, rounds); /* sorts v */
		fprintf(stderr, "bench_echo: c=%-4u urt / %-10s per round: median %.3f, range %.3f-%.3f\n",
			conns, srv_names[s], m, v[0], v[rounds - 1]);
	}
}

int main(int argc, char **argv)
{
	int quick = perf_has_flag(argc, argv, "--quick");
	int rounds = quick ? 1 : 9; /* the VM's fast and slow modes: see docs/benchmarks.md */
	double secs = quick ? 1 : 2;
	find_bin_dir();
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cpu_client = 0;
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl; /* 5,000 connections: servers and client inherit this */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	int have[NSRV];
	char path[PATH_MAX + 32];
	for (int s = 0; s < NSRV; s++)
		have[s] = bin_path(path, sizeof(path), srv_names[s]) == 0;
	if (!have[SRV_URT] || bin_path(path, sizeof(path), "urt-load") != 0) {
		fprintf(stderr, "bench_echo: urt-echo or urt-load not built next to %s\n", bin_dir);
		return 1;
	}
	int failed = 0;
	for (size_t c = 0; c < NCONN; c++) {
		static result res[NSRV][MAX_ROUNDS];
		if (quick && conn_counts[c] > 500)
			continue; /* the smoke run stays short */
		for (int r = 0; r < rounds; r++)
			for (int k = 0; k < NSRV; k++) {
				int s = (k + r) % NSRV; /* each server leads a round in turn */
				if (have[s] && run_one(s, conn_counts[c], secs, &res[s][r]) < 0)
					failed = 1;
			}
		if (failed)
			return 1;
		char name[64];
		unsigned n = conn_counts[c];
		print_paired(res, have, rounds, n);
		double u_rtps = med(res, SRV_URT, rounds, offsetof(result, rtps));
		if (have[SRV_URING]) {
			snprintf(name, sizeof(name), "echo_rtps_c%u", n);
			perf_emit(name, u_rtps, med(res, SRV_URING, rounds, offsetof(result, rtps)),
				  "uring-echo", "round trips/s", 0.95, 0, 0);
		}
		if (have[SRV_EPOLL]) {
			snprintf(name, sizeof(name), "echo_rtps_epoll_c%u", n);
			perf_emit(name, u_rtps, med(res, SRV_EPOLL, rounds, offsetof(result, rtps)),
				  "epoll-echo", "round trips/s", 1.0, 0, 0);
		}
		if (have[SRV_LIBUV]) {
			snprintf(name, sizeof(name), "echo_rtps_libuv_c%u", n);
			perf_emit(name, u_rtps, med(res, SRV_LIBUV, rounds, offsetof(result, rtps)),
				  "libuv-echo", "round trips/s", 1.0, 0, 0);
		}
		/* the target: at least the best peer at each count */
		double best = 0;
		const char *best_name = "none";
		for (int s = SRV_URING; s < NSRV; s++) {
			double v = have[s] ? med(res, s, rounds, offsetof(result, rtps)) : 0;
			if (v > best) {
				best = v;
				best_name = srv_names[s];
			}
		}
		if (best > 0) {
			snprintf(name, sizeof(name), "echo_rtps_best_peer_c%u", n);
			perf_emit(name, u_rtps, best, best_name, "round trips/s", 1.0, 0, 0);
		}
		if (have[SRV_URING]) {
			snprintf(name, sizeof(name), "echo_cpu_c%u", n);
			perf_emit(name, med(res, SRV_URT, rounds, offsetof(result, cpu_us_per_rt)),
				  med(res, SRV_URING, rounds, offsetof(result, cpu_us_per_rt)),
				  "uring-echo", "server CPU us/round trip", 1.05, 1, 0);
			snprintf(name, sizeof(name), "echo_enters_c%u", n);
			perf_emit(name, med(res, SRV_URT, rounds, offsetof(result, enters_per_rt)),
				  med(res, SRV_URING, rounds, offsetof(result, enters_per_rt)),
				  "uring-echo", "enters/round trip", 1.0, 1, 0);
		}
	}
	return 0;
}
