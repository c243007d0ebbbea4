/* Shared plumbing of the echo servers: see srv_common.h. */
#include "srv_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

static int usage(const char *prog, int allow_loops)
{
	fprintf(stderr, "usage: %s --port P [--duration S]%s\n", prog,
		allow_loops ? " [--loops N]" : "");
	return -1;
}

int perf_srv_parse(int argc, char **argv, perf_srv_args *a, int allow_loops)
{
	memset(a, 0, sizeof(*a));
	a->loops = 1;
	int have_port = 0;
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage(argv[0], allow_loops);
		long n = strtol(v, NULL, 10);
		if (!strcmp(k, "--port") && n > 0 && n < 65536) {
			a->port = (uint16_t)n;
			have_port = 1;
		} else if (!strcmp(k, "--duration") && n >= 0) {
			a->seconds = (unsigned)n;
		} else if (allow_loops && !strcmp(k, "--loops") && n >= 1) {
			a->loops = (unsigned)n;
		} else {
			return usage(argv[0], allow_loops);
		}
		i++;
	}
	return have_port ? 0 : usage(argv[0], allow_loops);
}

int perf_srv_stop_fd(unsigned seconds, int nonblock)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGALRM);
	int err = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (err)
		return -err;
	int fd = signalfd(-1, &set, SFD_CLOEXEC | (nonblock ? SFD_NONBLOCK : 0));
	if (fd < 0)
		return -errno;
	if (seconds)
		alarm(seconds);
	return fd;
}

int perf_srv_listen(uint16_t port, int nonblock)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

void perf_srv_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void perf_srv_report(const char *name, const perf_srv_counts *c)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double user = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec;
	double sys = (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
	printf("{\"server\": \"%s\", \"cpu_us\": %.0f, \"user_us\": %.0f, \"sys_us\": %.0f, "
	       "\"echoes\": %llu, \"bytes\": %llu, \"enters\": %llu, \"conns\": %llu}\n",
	       name, user + sys, user, sys, (unsigned long long)c->echoes,
	       (unsigned long long)c->bytes, (unsigned long long)c->enters,
	       (unsigned long long)c->conns);
	fflush(stdout);
}
