/* Example: drive a server as a subprocess with urt's harness helpers.
 * Starts urt-echo (from this program's directory) on a free loopback
 * port, waits until the port accepts connections, sends requests and
 * checks the echoes, then stops it with SIGTERM and checks it exited 0.
 * Usage: harness_example [--quick] [path/to/urt-echo] */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "urt.h"
#include "urt_harness.h"
#include "urt_process.h"

static char server[PATH_MAX];

static int free_port(void)
{
	int fd = urt_tcp_listen("127.0.0.1", 0, 1, 0);
	if (fd < 0)
		return fd;
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Send n requests on one connection and check each echo. */
static int exchange(uint16_t port, int n)
{
	int fd = urt_tcp_connect("127.0.0.1", port);
	if (fd < 0)
		return fd;
	int r = 0;
	for (int i = 0; i < n && r == 0; i++) {
		char req[64], rep[64];
		int len = snprintf(req, sizeof req, "request %d\n", i);
		ssize_t w = urt_write_all(fd, req, (size_t)len);
		size_t got = 0;
		while (w >= 0 && got < (size_t)len) {
			ssize_t k = urt_recv(fd, rep + got, (size_t)len - got, 0);
			if (k <= 0) {
				w = k < 0 ? k : -ECONNRESET;
				break;
			}
			got += (size_t)k;
		}
		if (w < 0)
			r = (int)w;
		else if (memcmp(req, rep, (size_t)len) != 0)
			r = -EBADMSG;
	}
	close(fd);
	return r;
}

static void *run(void *arg)
{
	int n = *(int *)arg;
	int port = free_port();
	if (port < 0)
		return (void *)"no free port";
	char port_s[16];
	snprintf(port_s, sizeof port_s, "%d", port);
	const char *argv[] = {server, "--port", port_s, NULL};
	urt_process_opts o = {.argv = argv};
	o.stdio[0].mode = URT_STDIO_NULL;
	o.stdio[1].mode = URT_STDIO_NULL; /* its exit report */
	urt_process *p;
	int r = urt_process_spawn(&p, &o);
	if (r < 0) {
		fprintf(stderr, "spawn %s: %s\n", server, urt_strerror(r));
		return (void *)"spawn failed";
	}
	const char *err = NULL;
	if ((r = urt_wait_port("127.0.0.1", (uint16_t)port, 5 * URT_NS_PER_SEC)) < 0)
		err = "server never listened";
	else if ((r = exchange((uint16_t)port, n)) < 0)
		err = "bad echo";
	printf("urt-echo on port %d: %d requests %s\n", port, n, err ? err : "echoed");
	urt_process_signal(p, SIGTERM);
	urt_process_status st;
	int w = urt_process_wait_kill(p, 5 * URT_NS_PER_SEC, &st);
	if (w < 0)
		err = err ? err : "server did not stop on SIGTERM";
	else if (!st.exited || st.code != 0)
		err = err ? err : "server exited badly";
	printf("urt-echo stopped: %s %d\n", st.exited ? "exit code" : "signal",
	       st.exited ? st.code : st.signal);
	urt_process_release(p);
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
		snprintf(server, sizeof server, "%s/urt-echo", dirname(self));
	}
	void *err = NULL;
	int r = urt_run(run, &n, NULL, &err);
	if (r < 0 || err) {
		fprintf(stderr, "harness_example: %s\n", r < 0 ? urt_strerror(r) : (char *)err);
		return 1;
	}
	printf("harness_example: ok\n");
	return 0;
}
