/* bench_http: urt-http against nginx over loopback, server pinned to CPU 0
 * and the client to CPU 1.
 *
 *   http_get_rps / http_get_p99            GET / keep-alive under wrk, access log off
 *   http_get_rps_spin                      the same with urt-http's I/O spin on
 *                                          (--spin-us 50; informational: what the
 *                                          opt-in spin is worth here)
 *   http_get_log_rps / http_get_log_p99    the same with the access log on for both
 *   http_file4k_rps                        GET /files/4k (a 4 KiB file)
 *   http_get_cpu, http_get_log_cpu,        server CPU time per request (informational:
 *   http_file4k_cpu                        wrk's CPU limits requests/s first)
 *   idle_rss_per_conn                      RSS per idle keep-alive connection
 *                                          (each served one request, then idles)
 *
 * nginx runs with one worker process (master_process off) and the same
 * routes. Servers alternate within a round (urt, nginx[, urt with the
 * spin]), each leading a round in turn; medians over the rounds. Without wrk or nginx the comparisons that need them are
 * skipped with a message. --quick: one round of 1 s per case, 2,000 idle
 * connections instead of 10,000. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_ROUNDS 9
enum { URT, NGINX, URT_SPIN, NSERVERS };
static const char *const server_names[NSERVERS] = {"urt-http", "nginx", "urt-spin"};

static char bin_dir[PATH_MAX], tmp_dir[64], nginx_bin[PATH_MAX], wrk_bin[PATH_MAX];
static int cpu_server = 0, cpu_client = 1;

static int find_prog(const char *name, char *out)
{
	const char *dirs[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin",
			      "/usr/local/sbin"};
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		snprintf(out, PATH_MAX, "%s/%s", dirs[i], name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

static int connect_port(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int wait_port(uint16_t port)
{
	for (int i = 0; i < 300; i++) {
		int fd = connect_port(port);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(10000);
	}
	return -1;
}

static pid_t spawn(char *const argv[], int cpu, int out_fd)
{
	pid_t pid = fork();
	if (pid == 0) {
		perf_pin(cpu);
		if (out_fd >= 0)
			dup2(out_fd, 1);
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void write_file(const char *path, const char *s, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, s, n) < 0)
			perror(path);
		close(fd);
	}
}

/* Start a server; returns its pid (0 on failure). */
static pid_t start_server(int which, uint16_t port, int log_on)
{
	char port_s[16], path[PATH_MAX + 64], root[PATH_MAX], logp[PATH_MAX];
	snprintf(port_s, sizeof port_s, "%u", port);
	snprintf(root, sizeof root, "%s/root", tmp_dir);
	pid_t pid;
	if (which != NGINX) {
		snprintf(path, sizeof path, "%s/urt-http", bin_dir);
		snprintf(logp, sizeof logp, "%s/urt-access.log", tmp_dir);
		char *argv[10] = {path, "--port", port_s, "--root", root};
		int argc = 5;
		if (which == URT_SPIN) {
			argv[argc++] = "--spin-us";
			argv[argc++] = "50";
		}
		if (log_on) {
			argv[argc++] = "--access-log";
			argv[argc++] = logp;
		}
		pid = spawn(argv, cpu_server, open("/dev/null", O_WRONLY));
	} else {
		char conf[8192];
		snprintf(path, sizeof path, "%s/nginx.conf", tmp_dir);
		int n = snprintf(conf, sizeof conf,
			"daemon off; master_process off; worker_processes 1;\n"
			"pid %s/nginx.pid; error_log %s/nginx-error.log;\n"
			"events { worker_connections 20000; }\n"
			"http { default_type text/plain; keepalive_requests 100000000;\n"
			"  keepalive_timeout 120s; server_tokens off;\n"
			"  access_log %s%s;\n"
			"  server { listen 127.0.0.1:%u;\n"
			"    location = / { return 200 \"Hello from urt!\\n\"; }\n"
			"    location /files/ { alias %s/; } } }\n",
			tmp_dir, tmp_dir, log_on ? tmp_dir : "off", log_on ? "/nginx-access.log" : "",
			port, root);
		write_file(path, conf, (size_t)n);
		char *argv[] = {nginx_bin, "-c", path, "-p", tmp_dir, NULL};
		pid = spawn(argv, cpu_server, -1);
	}
	if (pid > 0 && wait_port(port) == 0)
		return pid;
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return 0;
}

static void stop_server(pid_t pid)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* wrk's latency value with its unit, in microseconds. */
static double wrk_us(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (!strncmp(end, "us", 2))
		return v;
	if (!strncmp(end, "ms", 2))
		return v * 1e3;
	if (*end == 's')
		return v * 1e6;
	return NAN;
}

/* One wrk run against port; fills requests/s and p99 (us). */
static int run_wrk(uint16_t port, const char *path, double secs, double *rps, double *p99)
{
	char url[128], dur[32];
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
	snprintf(dur, sizeof dur, "%.0fs", secs);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	char *argv[] = {wrk_bin, "-t1", "-c50", "-d", dur, "--latency", url, NULL};
	pid_t pid = spawn(argv, cpu_client, p[1]);
	close(p[1]);
	char out[8192];
	size_t len = 0;
	ssize_t n;
	while (len + 1 < sizeof out && (n = read(p[0], out + len, sizeof out - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = 0;
	close(p[0]);
	waitpid(pid, NULL, 0);
	const char *r = strstr(out, "Requests/sec:"), *l = strstr(out, " 99%");
	if (!r || !l || strstr(out, "Non-2xx")) {
		fprintf(stderr, "bench_http: bad wrk output:\n%s\n", out);
		return -1;
	}
	*rps = strtod(r + 13, NULL);
	l += 4;
	while (*l == ' ')
		l++;
	*p99 = wrk_us(l);
	return 0;
}

/* CPU time (user + system) pid has used so far, in microseconds. */
static double cpu_us(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return NAN;
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* the name may hold spaces */
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return NAN;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static int measure(int which, int log_on, const char *path, double secs, double *rps, double *p99,
		   double *cpu_per_req)
{
	uint16_t port = perf_free_port();
	pid_t pid = start_server(which, port, log_on);
	if (!pid) {
		fprintf(stderr, "bench_http: %s did not start\n", server_names[which]);
		return -1;
	}
	double cpu0 = cpu_us(pid);
	int r = run_wrk(port, path, secs, rps, p99);
	double cpu = cpu_us(pid) - cpu0; /* server CPU: kernel work on its sockets included */
	stop_server(pid);
	*cpu_per_req = cpu / (*rps * secs);
	if (r == 0)
		fprintf(stderr, "bench_http: %-8s %-10s log=%d %9.0f req/s p99 %8.1f us  "
			"cpu %5.2f us/req\n", server_names[which], path, log_on,
			*rps, *p99, *cpu_per_req);
	return r;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kib;
}

/* Open n keep-alive connections, each serving one GET /, then idle:
 * the server's RSS growth per connection in bytes. */
static double idle_rss(int which, unsigned n)
{
	uint16_t port = perf_free_port();
	pid_t pid = start_server(which, port, 0);
	if (!pid)
		return NAN;
	int *fds = calloc(n, sizeof *fds);
	usleep(100000);
	long before = rss_kib(pid);
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	unsigned ok = 0;
	for (unsigned i = 0; i < n; i++) {
		fds[i] = connect_port(port);
		char buf[512];
		if (fds[i] >= 0 && write(fds[i], req, sizeof req - 1) == (ssize_t)sizeof req - 1 &&
		    recv(fds[i], buf, sizeof buf, 0) > 0)
			ok++;
	}
	usleep(200000);
	long after = rss_kib(pid);
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	stop_server(pid);
	if (ok != n || before < 0 || after < 0) {
		fprintf(stderr, "bench_http: idle: %u of %u connections served\n", ok, n);
		return NAN;
	}
	double per = (double)(after - before) * 1024.0 / n;
	fprintf(stderr, "bench_http: %-8s idle %u conns: RSS %ld -> %ld KiB, %.0f B/conn\n",
		server_names[which], n, before, after, per);
	return per;
}

static void find_bin_dir(void)
{
	ssize_t n = readlink("/proc/self/exe", bin_dir, sizeof bin_dir - 1);
	bin_dir[n > 0 ? n : 0] = 0;
	char *slash = strrchr(bin_dir, '/');
	if (slash)
		*slash = 0;
}

static void setup_files(void)
{
	snprintf(tmp_dir, sizeof tmp_dir, "/tmp/urt-bench-http-XXXXXX");
	if (!mkdtemp(tmp_dir)) {
		perror("mkdtemp");
		exit(1);
	}
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/root", tmp_dir);
	mkdir(path, 0755);
	char data[4096];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)('a' + i % 26);
	snprintf(path, sizeof path, "%s/root/4k", tmp_dir);
	write_file(path, data, sizeof data);
}

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_http: could not remove %s\n", tmp_dir);
}

struct pair_result { double rps[NSERVERS][MAX_ROUNDS], p99[NSERVERS][MAX_ROUNDS],
			   cpu[NSERVERS][MAX_ROUNDS]; };

static int compare(const char *name, int log_on, const char *path, int rounds, double secs,
		   double rps_target, int with_p99, int with_spin)
{
	struct pair_result pr;
	int n = with_spin ? URT_SPIN + 1 : NGINX + 1;
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < n; k++) {
			int w = (k + r) % n; /* each server leads a round in turn */
			if (measure(w, log_on, path, secs, &pr.rps[w][r], &pr.p99[w][r],
				    &pr.cpu[w][r]) < 0)
				return -1;
		}
	char bench[64];
	double u = perf_median(pr.rps[URT], rounds), g = perf_median(pr.rps[NGINX], rounds);
	snprintf(bench, sizeof bench, "%s_rps", name);
	perf_emit(bench, u, g, "nginx", "requests/s", rps_target, 0, 0);
	if (with_spin) {
		snprintf(bench, sizeof bench, "%s_rps_spin", name);
		perf_emit(bench, perf_median(pr.rps[URT_SPIN], rounds), g, "nginx", "requests/s", 0, 0, 0);
	}
	/* informational: wrk saturates its CPU before either server does, so
	 * requests/s says more about the client; the server's CPU time per
	 * request (kernel work on its sockets included) is its own cost */
	snprintf(bench, sizeof bench, "%s_cpu", name);
	perf_emit(bench, perf_median(pr.cpu[URT], rounds), perf_median(pr.cpu[NGINX], rounds),
		  "nginx", "server CPU us/request", 0, 1, 0);
	if (with_p99) {
		snprintf(bench, sizeof bench, "%s_p99", name);
		perf_emit(bench, perf_median(pr.p99[URT], rounds), perf_median(pr.p99[NGINX], rounds),
			  "nginx", "p99 latency us", 1.0, 1, 0);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int quick = perf_has_flag(argc, argv, "--quick");
	int rounds = quick ? 1 : 5;
	double secs = quick ? 1 : 3;
	find_bin_dir();
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cpu_client = 0;
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	setup_files();
	int have_nginx = find_prog("nginx", nginx_bin) == 0;
	int have_wrk = find_prog("wrk", wrk_bin) == 0;
	int failed = 0;
	if (!have_nginx || !have_wrk) {
		fprintf(stderr, "bench_http: %s not found (apt-get install wrk nginx): "
			"skipping the comparisons with nginx\n", !have_wrk ? "wrk" : "nginx");
	} else {
		failed |= compare("http_get", 0, "/", rounds, secs, 1.2, 1, !quick) < 0;
		if (!quick) {
			failed |= compare("http_get_log", 1, "/", rounds, secs, 1.2, 1, 0) < 0;
			failed |= compare("http_file4k", 0, "/files/4k", rounds, secs, 1.0, 0, 0) < 0;
		}
	}
	unsigned n = quick ? 2000 : 10000;
	double u = idle_rss(URT, n), g = have_nginx ? idle_rss(NGINX, n) : 0;
	if (isnan(u))
		failed = 1;
	else
		perf_emit("idle_rss_per_conn", u, isnan(g) ? 0 : g, "nginx", "bytes/connection",
			  16384, 1, 1);
	cleanup();
	return failed;
}
