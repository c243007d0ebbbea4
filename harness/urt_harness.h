/* urt harness: helpers for tests and tools that drive other programs.
 *
 *   - readiness: wait until a TCP port accepts connections; read a fd line
 *     by line and wait for a line containing a string (each with a deadline);
 *   - a test runner: run a body as a urt main task with a deadline and
 *     report what it left behind (tasks still alive, fds not closed,
 *     children not reaped). liburt does not depend on any test framework;
 *     urt_criterion.h turns a report into Criterion failures. */
#ifndef URT_HARNESS_H
#define URT_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "urt_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- readiness ------------------------------------------------------------ */

/* Connect to ip:port (dotted quad) until a connection is accepted, retrying
 * refused connections, for at most timeout_ns. The probe connection is
 * closed again. Returns 0; -ETIME at the deadline (at once if it already
 * passed); -EINVAL for a bad address; -ECANCELED; -EPERM outside a task;
 * other connect errors (e.g. -ENETUNREACH) as they come. */
URT_API int urt_wait_port(const char *ip, uint16_t port, uint64_t timeout_ns);

/* A buffered line reader over a fd (a child's stdout pipe, a socket, a
 * file), reading through urt_read. */
typedef struct urt_line_reader urt_line_reader;

/* Make a reader for fd (not owned: the caller closes it) that keeps lines
 * of up to max_line bytes (0 = 4096), not counting their "\r\n"; longer
 * lines are returned in pieces of max_line bytes (a '\r' in a piece is
 * data, kept). Returns 0 and *out; -EINVAL (NULL, fd < 0, max_line over
 * 2^30); -ENOMEM. */
URT_API int urt_line_reader_new(urt_line_reader **out, int fd, size_t max_line);
/* Free the reader (NULL is fine). */
URT_API void urt_line_reader_free(urt_line_reader *r);

/* Read the next line into out (NUL-terminated, without its '\n' or a
 * trailing '\r'; truncated to outlen - 1 bytes). A last line without '\n'
 * counts as a line. Returns the line's full length; -ENODATA at end of
 * input; -EINVAL (NULL r/out, outlen 0); read errors and the blocking-call
 * errors (-ETIME, -ECANCELED, -EPERM): no data is lost, call again. */
URT_API ssize_t urt_read_line(urt_line_reader *r, char *out, size_t outlen);

/* Read lines until one contains needle, for at most timeout_ns
 * (UINT64_MAX: no limit). Lines before it are consumed. The matching line
 * goes to out (if non-NULL, as in urt_read_line). Returns its length;
 * -ETIME at the deadline; -ENODATA if input ended first; -EINVAL (NULL r
 * or needle); the errors of urt_read_line. */
URT_API ssize_t urt_wait_line(urt_line_reader *r, const char *needle, uint64_t timeout_ns,
			      char *out, size_t outlen);

/* ---- test runner ---------------------------------------------------------- */

#define URT_HARNESS_MAX_ITEMS 16

/* What a body left behind; see urt_harness_run. */
typedef struct urt_harness_report {
	int run_result;      /* urt_run's return value */
	int timed_out;       /* 1: the body was still running at the deadline */
	void *result;        /* the body's return value (NULL if it timed out) */
	unsigned tasks_left; /* tasks alive after the body returned, or at the
			      * deadline (the body among them then); they
			      * were cancelled */
	char task_names[URT_HARNESS_MAX_ITEMS][32]; /* the first ones' names */
	unsigned fds_left;   /* fds open after the run that were not before */
	int fds[URT_HARNESS_MAX_ITEMS];             /* the first ones */
	unsigned children_left; /* children started during the run and not
				 * reaped by it (zombies, still running, or
				 * urt_process records never waited/released) */
	int children[URT_HARNESS_MAX_ITEMS];        /* the first ones' pids */
} urt_harness_report;

/* Run body(arg) as a task of a fresh loop (cfg: NULL = defaults) on this
 * thread, for at most timeout_ns. At the deadline, the body and its tasks
 * are cancelled. When the body returns, any other task it left alive is
 * cancelled and reported. Afterwards, fds and child processes are compared
 * with what existed before the run. Children a urt_process record still
 * owned at the end were killed and reaped by the loop and are reported.
 * Returns 0 and fills *rep (urt_run's own error goes to rep->run_result);
 * -EINVAL (NULL body/rep); -EBUSY on a thread that runs a loop. */
URT_API int urt_harness_run(urt_task_fn body, void *arg, uint64_t timeout_ns,
			    const urt_config *cfg, urt_harness_report *rep);

/* 1 if the report shows a clean run (urt_run returned 0, no time-out, no
 * leftovers), 0 if not, -EINVAL for NULL. */
URT_API int urt_harness_clean(const urt_harness_report *rep);

/* Describe the report in buf (NUL-terminated, truncated to len), e.g.
 * "timed out; 1 task left (sleeper); 1 fd left (7); 1 child left (1234)".
 * Returns the full length (like snprintf), or -EINVAL. */
URT_API int urt_harness_format(const urt_harness_report *rep, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
