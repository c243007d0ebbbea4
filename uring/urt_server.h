/* urt server: a TCP server helper and thread-per-core loops.
 *
 * urt_server: listen, accept (one multishot accept), a task per
 * connection, a cap on concurrent connections, and a graceful stop: stop
 * accepting, let connections finish up to a deadline (idle ones are
 * cancelled at once), then cancel the rest and wait for them.
 *
 * urt_cores: N loops on N threads (pinned if asked), each running the same
 * main task; a stop request (urt_cores_stop, or SIGINT/SIGTERM read through
 * a signalfd in loop 0's ring) reaches every loop as a message.
 */
#ifndef URT_SERVER_H
#define URT_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include "urt_core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct urt_server urt_server;
typedef struct urt_conn urt_conn;

/* A connection's handler: runs in its own task; the server closes the
 * socket after it returns (so the handler must not close it). It should
 * return soon after urt_server_stopping() becomes true (finish the
 * request in progress). */
typedef void (*urt_conn_fn)(urt_conn *c, void *arg);

/* Server settings; zeroed fields mean defaults. */
typedef struct urt_server_opts {
	const char *ip;        /* listen address (dotted quad); NULL = 127.0.0.1 */
	uint16_t port;         /* 0 = any (see urt_server_port) */
	int listen_fd;         /* > 0: use this listening socket (not closed by urt); 0: make one */
	int backlog;           /* 0 = 1024 */
	int reuseport;         /* SO_REUSEPORT: several loops share the port */
	unsigned max_conns;    /* concurrent connections served; 0 = no cap. Beyond
	                        * it, accepted sockets wait unserved in the queue */
	size_t conn_stack;     /* stack per connection task; 0 = the loop's default */
	uint64_t drain_ns;     /* at stop: how long busy connections may go on; 0 = 5 s */
	urt_conn_fn handler;   /* required */
	void *arg;             /* handler's argument */
	const char *conn_name; /* connection task name; NULL = "conn" */
} urt_server_opts;

/* Make a server on the current loop and its listening socket. Returns 0
 * and *out; -EPERM outside a loop thread; -EINVAL (NULL, no handler, bad
 * ip); -ENOMEM; socket errors (-EADDRINUSE ...). */
URT_API int urt_server_create(urt_server **out, const urt_server_opts *o);

/* Accept and serve until urt_server_stop, then drain (see above); returns
 * when every connection has ended. Call from one task. A server serves
 * once: after a stop, serve returns 0 at once (create a new server).
 * Returns 0 after a stop; -EBUSY if already serving; -EINVAL; a fatal
 * accept error; or the blocking-call errors (the caller was cancelled:
 * connections are then drained the same way before it returns). */
URT_API int urt_server_serve(urt_server *s);

/* Ask the server to stop (from a task or a message on its loop).
 * Idempotent. Returns 0, -EINVAL (NULL, another loop's). */
URT_API int urt_server_stop(urt_server *s);

/* 1 once a stop was asked, else 0; -EINVAL for NULL. */
URT_API int urt_server_stopping(const urt_server *s);

/* Connections being served right now; -EINVAL for NULL. */
URT_API int urt_server_active(const urt_server *s);

/* Connections accepted since create; 0 for NULL. */
URT_API uint64_t urt_server_accepted(const urt_server *s);

/* The port it listens on; -EINVAL for NULL. */
URT_API int urt_server_port(const urt_server *s);

/* Close the listener (if urt made it) and free. Returns 0; -EINVAL;
 * -EBUSY while serving. */
URT_API int urt_server_destroy(urt_server *s);

/* ---- connections ---------------------------------------------------------- */

/* The connection's socket; -EINVAL for NULL. */
URT_API int urt_conn_fd(const urt_conn *c);
/* The server it belongs to. */
URT_API urt_server *urt_conn_server(const urt_conn *c);
/* Mark the connection idle (waiting for a new request: a stop cancels it
 * at once) or busy (a stop lets it finish up to the drain deadline).
 * Returns 0, -EINVAL. Connections start busy. */
URT_API int urt_conn_set_idle(urt_conn *c, int idle);

/* ---- thread-per-core --------------------------------------------------- */

typedef struct urt_cores_opts {
	unsigned loops;        /* 0 = one per CPU the process may run on */
	int pin;               /* nonzero: pin loop i to the i-th allowed CPU (modulo) */
	int signals;           /* nonzero: SIGINT/SIGTERM request a stop (blocked in every
	                        * thread during the run; read through a signalfd in loop 0) */
	const urt_config *cfg; /* each loop's config; NULL = defaults */
	urt_task_fn fn;        /* each loop's main task: fn(arg) */
	void *arg;
} urt_cores_opts;

/* Run o->loops loops, each on its own thread, each running fn(arg) as its
 * main task, and return once all have finished. Returns 0; -EINVAL (NULL,
 * no fn, more than 1024 loops); -EBUSY if a run is already going on or
 * called from a loop thread; -EAGAIN (no thread); the first loop's
 * urt_run error (-ENOSYS / -EPERM: io_uring unavailable). */
URT_API int urt_cores_run(const urt_cores_opts *o);

/* Inside a run: this thread's loop index (0..loops-1), else -1. */
URT_API int urt_cores_index(void);
/* Number of loops of the current run, 0 if none. */
URT_API unsigned urt_cores_count(void);
/* From any thread: ask every loop of the current run to stop (wakes
 * urt_cores_wait_stop). Returns 0; -ESRCH if no run is going on. */
URT_API int urt_cores_stop(void);
/* Park until a stop is asked. Returns 0; -ESRCH outside a run's loop;
 * blocking-call errors. */
URT_API int urt_cores_wait_stop(void);
/* 1 once a stop was asked in the current run, else 0. */
URT_API int urt_cores_stopping(void);

#ifdef __cplusplus
}
#endif
#endif
