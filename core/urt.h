/* urt: one include for the whole runtime. Each module's header lists its
 * calls grouped, each with what it returns. */
#ifndef URT_H
#define URT_H

#include "urt_version.h"
#include "urt_ctx.h"   /* per-task context variables */
#include "urt_core.h"  /* loop, tasks, time, deadlines, cancellation */
#include "urt_sync.h"  /* event, mutex, semaphore, channel, wait all/any */
#include "urt_io.h"    /* io_uring-backed file and socket calls */
#include "urt_log.h"   /* batched asynchronous logger */
#include "urt_net.h"   /* multishot accept/recv, buffer rings, zero-copy, fixed files */
#include "urt_server.h" /* server helper, thread-per-core */
#include "urt_offload.h" /* worker pools, cross-thread submission, futures */
#include "urt_stats.h" /* stats as JSON, task dumps, stall detector */
#include "urt_process.h" /* subprocesses: spawn, pipes, wait with deadline */
#include "urt_harness.h" /* readiness helpers, test runner with leak report */

#endif
