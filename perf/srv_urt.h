/* What the urt servers (urt-echo, urt-http) share: one loop's server from
 * set-up to shutdown. Apart from srv_common.c because the peers that link
 * urt_perf_common do not link urt. */
#ifndef PERF_SRV_URT_H
#define PERF_SRV_URT_H

#include <stdint.h>
#include <sys/types.h>

#include <urt_server.h>

/* Run this loop's server: urt_server_create(so), urt_server_serve on an
 * "accept" task and, on loop 0, a "stop" task that reads stop_fd (see
 * perf_srv_stop_fd) and then stops every loop. Returns once the loops stop,
 * with the server stopped, joined and destroyed: 0, or the set-up's -errno
 * (then it has told every loop to stop). *served gets urt_server_serve's
 * result (0 if it never ran) and *accepted the connections accepted (left
 * alone if the server was not created); either may be NULL. name prefixes
 * error messages. */
int perf_srv_urt_loop(const urt_server_opts *so, int stop_fd, const char *name,
		      int *served, uint64_t *accepted);

/* Send all of buf on socket fd: len, or -errno (-EIO if the peer takes
 * nothing). Socket sends (IORING_OP_SEND), not urt_write_all: the generic
 * write path costs the kernel an iov_iter set-up and an fsnotify hook per
 * call (about 3 % of urt-echo's CPU in a profile at 5,000 connections).
 * MSG_NOSIGNAL: a peer that went away is an error, not a SIGPIPE. */
ssize_t perf_srv_send_all(int fd, const char *buf, size_t len);

#endif
