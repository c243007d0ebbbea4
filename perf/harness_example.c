/* Example: drive a server as a subprocess with urt's harness helpers.
 * Starts urt-http (from this program's directory) on a free loopback port
 * with an access log in a fresh temporary directory, waits until the port
 * accepts connections, sends N keep-alive `GET /` requests over a few
 * connections (one task each) and checks every answer is a 200, stops the
 * server with SIGTERM and checks it exited 0 (it flushes its log on the
 * way out), then reads the access log back: exactly N request lines, each
 * with a request id (the `req=` field), all distinct.
 * Usage: harness_example [--quick] [path/to/urt-http] */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "urt.h"
#include "urt_harness.h"
#include "urt_process.h"

#define CONNS 4 /* client connections, one task each */

static char server[PATH_MAX];
static char log_path[PATH_MAX];

static int free_port(void)
{
	int fd = urt_tcp_listen("127.0.0.1", 0, 1, 0);
	if (fd < 0)
		return fd;
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int r = getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return r < 0 ? -EADDRNOTAVAIL : ntohs(sa.sin_port);
}

/* Read exactly len bytes (into buf, or discarded when buf is NULL). */
static int recv_exact(int fd, char *buf, size_t len)
{
	char scratch[256];
	while (len) {
		char *to = buf ? buf : scratch;
		size_t want = buf || len < sizeof scratch ? len : sizeof scratch;
		ssize_t k = urt_recv(fd, to, want, 0);
		if (k <= 0)
			return k < 0 ? (int)k : -ECONNRESET;
		len -= (size_t)k;
		if (buf)
			buf += k;
	}
	return 0;
}

/* One keep-alive `GET /` on fd: returns the HTTP status, or -errno
 * (-EPROTO for a malformed answer or bytes beyond the one response). */
static int get_one(int fd)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	ssize_t w = urt_write_all(fd, req, sizeof req - 1);
	if (w < 0)
		return (int)w;
	char buf[1024];
	size_t got = 0;
	char *end;
	while (!(end = memmem(buf, got, "\r\n\r\n", 4))) {
		if (got == sizeof buf - 1)
			return -EPROTO;
		ssize_t k = urt_recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (k <= 0)
			return k < 0 ? (int)k : -ECONNRESET;
		got += (size_t)k;
	}
	size_t head = (size_t)(end - buf) + 4, have = got - head;
	*end = 0; /* the head is a string from here on */
	int status;
	const char *cl = strstr(buf, "\r\nContent-Length:");
	if (sscanf(buf, "HTTP/1.1 %d ", &status) != 1 || !cl)
		return -EPROTO;
	unsigned long long len = strtoull(cl + 17, NULL, 10);
	if (have > len) /* we never pipeline: nothing may follow the body */
		return -EPROTO;
	int r = recv_exact(fd, NULL, (size_t)(len - have));
	if (r < 0)
		return r;
	if (strstr(buf, "\r\nConnection: close"))
		return -EPROTO; /* it would close our keep-alive connection */
	return status;
}

typedef struct client {
	uint16_t port;
	int n;      /* requests to send */
	int status; /* the first non-200 status, or 0 */
} client;

/* Send c->n requests on one connection; returns NULL or an error string. */
static void *client_task(void *arg)
{
	client *c = arg;
	int fd = urt_tcp_connect("127.0.0.1", c->port);
	if (fd < 0)
		return (void *)"connect failed";
	const char *err = NULL;
	for (int i = 0; i < c->n && !err; i++) {
		int s = get_one(fd);
		if (s < 0) {
			fprintf(stderr, "request %d: %s\n", i, urt_strerror(s));
			err = "request failed";
		} else if (s != 200) {
			c->status = s;
			err = "status not 200";
		}
	}
	close(fd);
	return (void *)err;
}

/* n requests over CONNS concurrent connections. */
static const char *exchange(uint16_t port, int n)
{
	client cl[CONNS];
	urt_task *t[CONNS] = {0};
	const char *err = NULL;
	for (int i = 0; i < CONNS; i++) {
		cl[i] = (client){.port = port, .n = n / CONNS + (i < n % CONNS)};
		if (urt_spawn(&t[i], client_task, &cl[i], NULL) < 0)
			err = "spawn failed";
	}
	for (int i = 0; i < CONNS; i++) {
		void *res = NULL;
		if (t[i] && urt_join(t[i], &res) == 0 && res && !err)
			err = res;
		if (cl[i].status)
			fprintf(stderr, "connection %d: got status %d\n", i, cl[i].status);
	}
	return err;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The access log must hold exactly n lines, each an access line for a
 * `GET /` answered 200 carrying a req= id, and the ids must be distinct. */
static const char *check_log(int n)
{
	int fd = urt_openat(AT_FDCWD, log_path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return "cannot open the access log";
	urt_line_reader *lr = NULL;
	uint64_t *ids = calloc((size_t)n + 1, sizeof *ids);
	const char *err = !ids || urt_line_reader_new(&lr, fd, 0) < 0 ? "out of memory" : NULL;
	int lines = 0;
	char line[4096];
	ssize_t len;
	while (!err && (len = urt_read_line(lr, line, sizeof line)) != -ENODATA) {
		const char *f = len < 0 ? NULL : strstr(line, " req=");
		char *rest = NULL;
		uint64_t id = f ? strtoull(f + 5, &rest, 10) : 0;
		if (len < 0) {
			err = "cannot read the access log";
		} else if (!f || rest == f + 5 || !strstr(rest, " GET / 200 ")) {
			fprintf(stderr, "not a request line: %s\n", line);
			err = "access log has a line that is not a GET / 200";
		} else if (lines == n) {
			err = "access log has more request lines than requests";
		} else {
			ids[lines++] = id;
		}
	}
	if (!err && lines != n) {
		fprintf(stderr, "access log: %d request lines, expected %d\n", lines, n);
		err = "access log is missing requests";
	}
	if (!err) {
		qsort(ids, (size_t)n, sizeof *ids, cmp_u64);
		for (int i = 1; i < n && !err; i++)
			if (ids[i] == ids[i - 1]) {
				fprintf(stderr, "request id %" PRIu64 " logged twice\n", ids[i]);
				err = "request ids are not distinct";
			}
	}
	if (!err)
		printf("access log: %d request lines, %d distinct ids (%" PRIu64 "..%" PRIu64 ")\n",
		       lines, n, n ? ids[0] : 0, n ? ids[n - 1] : 0);
	urt_line_reader_free(lr);
	free(ids);
	close(fd);
	return err;
}

/* The server prints {"server": "urt-http", "requests": N} when it stops. */
static const char *check_count(urt_process *p, int n)
{
	urt_line_reader *lr;
	char line[256];
	if (urt_line_reader_new(&lr, urt_process_fd(p, 1), 0) < 0)
		return "out of memory";
	ssize_t r = urt_wait_line(lr, "\"requests\"", URT_NS_PER_SEC, line, sizeof line);
	urt_line_reader_free(lr);
	const char *c = r < 0 ? NULL : strstr(line, "\"requests\":");
	if (!c)
		return "server did not report its request count";
	long long got = strtoll(c + 11, NULL, 10);
	if (got != n) {
		fprintf(stderr, "server counted %lld requests, expected %d\n", got, n);
		return "server request count differs";
	}
	return NULL;
}

static void *run(void *arg)
{
	int n = *(int *)arg;
	int port = free_port();
	if (port < 0)
		return (void *)"no free port";
	char port_s[16];
	snprintf(port_s, sizeof port_s, "%d", port);
	const char *argv[] = {server, "--port", port_s, "--access-log", log_path, NULL};
	urt_process_opts o = {.argv = argv};
	o.stdio[0].mode = URT_STDIO_NULL;
	o.stdio[1].mode = URT_STDIO_PIPE; /* its exit report: the request count */
	urt_process *p;
	int r = urt_process_spawn(&p, &o);
	if (r < 0) {
		fprintf(stderr, "spawn %s: %s\n", server, urt_strerror(r));
		return (void *)"spawn failed";
	}
	const char *err = NULL;
	if ((r = urt_wait_port("127.0.0.1", (uint16_t)port, 5 * URT_NS_PER_SEC)) < 0)
		err = "server never listened";
	else
		err = exchange((uint16_t)port, n);
	printf("urt-http on port %d: %d requests over %d connections: %s\n", port, n, CONNS,
	       err ? err : "all 200");
	urt_process_signal(p, SIGTERM);
	urt_process_status st = {0};
	int w = urt_process_wait_kill(p, 5 * URT_NS_PER_SEC, &st);
	if (w < 0)
		err = err ? err : "server did not stop on SIGTERM";
	else if (!st.exited || st.code != 0)
		err = err ? err : "server exited badly";
	printf("urt-http stopped: %s %d\n", st.exited ? "exit code" : "signal",
	       st.exited ? st.code : st.signal);
	if (!err)
		err = check_count(p, n);
	urt_process_release(p);
	if (!err) /* only once it exited: it flushes the log on shutdown */
		err = check_log(n);
	return (void *)err;
}

int main(int argc, char **argv)
{
	int n = 1000;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			n = 100;
		else
			path = argv[i];
	}
	if (path) {
		snprintf(server, sizeof server, "%s", path);
	} else {
		char self[PATH_MAX];
		snprintf(self, sizeof self, "%s", argv[0]);
		snprintf(server, sizeof server, "%s/urt-http", dirname(self));
	}
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX - 16]; /* room for /access.log in log_path */
	snprintf(dir, sizeof dir, "%s/urt-harness-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("harness_example: mkdtemp");
		return 1;
	}
	snprintf(log_path, sizeof log_path, "%s/access.log", dir);
	void *err = NULL;
	int r = urt_run(run, &n, NULL, &err);
	unlink(log_path);
	if (rmdir(dir) < 0) /* something else appeared in it: leave it to look at */
		fprintf(stderr, "harness_example: %s left behind\n", dir);
	if (r < 0 || err) {
		fprintf(stderr, "harness_example: %s\n", r < 0 ? urt_strerror(r) : (char *)err);
		return 1;
	}
	printf("harness_example: ok\n");
	return 0;
}
