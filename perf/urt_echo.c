/* urt-echo: the echo server written the urt way. A main task listens
 * (urt_tcp_listen) and accepts; each connection is its own task running a
 * plain recv/send loop. A detached task reads a signalfd and, on SIGINT,
 * SIGTERM or the --duration alarm, prints the loop's counters and exits the
 * process: a benchmark server needs no orderly shutdown, and the kernel
 * closes the sockets. */
#include <urt.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "srv_common.h"

#define BUF_SIZE 4096
#define CONN_STACK (16 * 1024) /* a 4 KiB buffer and a shallow call chain */

static perf_srv_counts counts;
static int stop_fd = -1;

static void *conn_task(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[BUF_SIZE];
	for (;;) {
		ssize_t n = urt_recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		counts.echoes++;
		counts.bytes += (uint64_t)n;
		ssize_t off = 0;
		while (off < n) {
			ssize_t w = urt_send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	urt_close(fd);
	return NULL;
}

static void *stop_task(void *arg)
{
	(void)arg;
	struct signalfd_siginfo si;
	ssize_t n = urt_read(stop_fd, &si, sizeof(si), URT_POS_CURRENT);
	if (n < 0)
		fprintf(stderr, "urt-echo: reading the signalfd: %s\n", urt_strerror((int)n));
	urt_loop_stats st = { 0 };
	urt_loop_stats_get(NULL, &st);
	counts.enters = st.enters;
	perf_srv_report("urt-echo", &counts);
	fprintf(stderr, "urt-echo: ticks %llu enters %llu sqes %llu cqes %llu switches %llu\n",
		(unsigned long long)st.ticks, (unsigned long long)st.enters,
		(unsigned long long)st.sqes, (unsigned long long)st.cqes,
		(unsigned long long)st.switches);
	exit(0);
}

static void *main_task(void *arg)
{
	const perf_srv_args *a = arg;
	int lfd = urt_tcp_listen("127.0.0.1", a->port, 1024, 0);
	if (lfd < 0) {
		fprintf(stderr, "urt-echo: listen on port %u: %s\n", a->port, urt_strerror(lfd));
		return (void *)1;
	}
	int ret = urt_spawn(NULL, stop_task, NULL, &(urt_task_opts){ .name = "stop" });
	if (ret < 0) {
		fprintf(stderr, "urt-echo: spawn: %s\n", urt_strerror(ret));
		return (void *)1;
	}
	const urt_task_opts conn_opts = { .name = "conn", .stack_size = CONN_STACK };
	for (;;) {
		int fd = urt_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "urt-echo: accept: %s\n", urt_strerror(fd));
			return (void *)1;
		}
		perf_srv_nodelay(fd);
		counts.conns++;
		ret = urt_spawn(NULL, conn_task, (void *)(intptr_t)fd, &conn_opts);
		if (ret < 0) {
			fprintf(stderr, "urt-echo: spawn: %s\n", urt_strerror(ret));
			close(fd);
		}
	}
}

int main(int argc, char **argv)
{
	perf_srv_args a;
	if (perf_srv_parse(argc, argv, &a, 1) < 0)
		return 2;
	if (a.loops > 1) {
		fprintf(stderr, "urt-echo: --loops %u: only one loop is supported so far\n", a.loops);
		return 2;
	}
	stop_fd = perf_srv_stop_fd(a.seconds, 0);
	if (stop_fd < 0) {
		fprintf(stderr, "urt-echo: signalfd: %s\n", urt_strerror(stop_fd));
		return 1;
	}
	void *res = NULL;
	int ret = urt_run(main_task, &a, NULL, &res);
	if (ret < 0) {
		fprintf(stderr, "urt-echo: urt_run: %s\n", urt_strerror(ret));
		return 1;
	}
	return res ? 1 : 0;
}
