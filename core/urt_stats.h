/* urt observability: per-loop counters as JSON, task dumps, and the stall
 * detector's settings (urt_config.stall_ns / stall_fd in urt_core.h).
 *
 * Environment:
 *   URT_STATS=path    every loop appends its stats as one JSON line to path
 *                     when it is destroyed (urt_run's end included).
 *   URT_STALL_MS=n    stall threshold when urt_config.stall_ns is 0
 *                     (default 100; 0 turns the detector off). */
#ifndef URT_STATS_H
#define URT_STATS_H

#include "urt_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write one line of JSON to fd: {"loop": {id, counters...}, <provider>:
 * {...}, ...} with loop's counters (loop NULL = current loop) and every
 * section other modules (offload, log) registered. Call from the loop's
 * thread. Returns the bytes written; -EINVAL (no loop, not this thread's
 * loop, fd < 0); -ENOMEM; or write(2)'s error. */
URT_API int urt_stats_dump_json(urt_loop *loop, int fd);

/* Write every task of loop (NULL = current) to fd: id, name, state, what
 * it waits on (operation, fd, for how long), its context's log fields and
 * its backtrace (frame-pointer walk of a suspended task's stack). Call
 * from the loop's thread (in a task or between urt_loop_step calls).
 * Returns the number of tasks listed; -EINVAL (no loop, another thread's
 * loop, fd < 0); or write(2)'s error. */
URT_API int urt_loop_dump(urt_loop *loop, int fd);

#ifdef __cplusplus
}
#endif
#endif
