/* One loop of a urt server: see srv_urt.h. */
#include "srv_urt.h"

#include <errno.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <urt.h>

ssize_t perf_srv_send_all(int fd, const char *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t w = urt_send(fd, buf + done, len - done, MSG_NOSIGNAL);
		if (w <= 0)
			return w < 0 ? w : -EIO;
		done += (size_t)w;
	}
	return (ssize_t)len;
}

typedef struct stop_arg {
	int fd;                     /* the signalfd */
	const char *name;           /* for the error message */
} stop_arg;

/* Loop 0: wait for the signal, then stop every loop. */
static void *stop_task(void *arg)
{
	const stop_arg *a = arg;
	struct signalfd_siginfo si;
	ssize_t n = urt_read(a->fd, &si, sizeof si, URT_POS_CURRENT);
	if (n < 0 && n != -ECANCELED)
		fprintf(stderr, "%s: reading the signalfd: %s\n", a->name, urt_strerror((int)n));
	urt_cores_stop();
	return NULL;
}

static void *server_task(void *arg)
{
	return (void *)(intptr_t)urt_server_serve(arg);
}

int perf_srv_urt_loop(const urt_server_opts *so, int stop_fd, const char *name,
		      int *served, uint64_t *accepted)
{
	stop_arg sa = {.fd = stop_fd, .name = name}; /* outlives the stop task */
	urt_server *srv = NULL;
	urt_task *st = NULL, *sigt = NULL;
	if (served)
		*served = 0;
	int r = urt_server_create(&srv, so);
	if (r == 0)
		r = urt_spawn(&st, server_task, srv, &(urt_task_opts){.name = "accept"});
	if (r == 0 && urt_cores_index() == 0)
		r = urt_spawn(&sigt, stop_task, &sa, &(urt_task_opts){.name = "stop"});
	if (r < 0)
		urt_cores_stop();
	else
		urt_cores_wait_stop();
	if (sigt) {
		urt_cancel(sigt);
		urt_join(sigt, NULL);
	}
	if (st) {
		urt_server_stop(srv);
		void *res;
		urt_join(st, &res);
		if (served)
			*served = (int)(intptr_t)res;
	}
	if (srv) {
		if (accepted)
			*accepted = urt_server_accepted(srv);
		urt_server_destroy(srv);
	}
	return r;
}
