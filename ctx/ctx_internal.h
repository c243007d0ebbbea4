/* ctx's contract with the rest of urt (core switches and spawns, log reads
 * fields). Names are urt__* (internal, never exported). ctx depends on
 * nothing in urt but urt_core.h. */
#ifndef URT_CTX_INTERNAL_H
#define URT_CTX_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "urt_core.h"
#include "urt_ctx.h"

/* The slot that holds the current context of this thread: &task->ctx while
 * a task runs, &urt__ctx_own outside tasks. Reads go through it. */
extern __thread urt_ctx **urt__ctx_cur __attribute__((tls_model("initial-exec")));
/* This thread's own context (outside tasks, and the loop between tasks). */
extern __thread urt_ctx *urt__ctx_own __attribute__((tls_model("initial-exec")));

/* Variables marked as log fields so far (only grows). */
extern _Atomic unsigned urt__ctx_nlogvars;
/* For log's hot path: false when no variable is a log field, so a record
 * needs no walk of the context (an inline load, no call). */
static inline bool urt__ctx_has_log_fields(void)
{
	return atomic_load_explicit(&urt__ctx_nlogvars, memory_order_relaxed) != 0;
}

/* Offload, on a worker thread: run fn(arg) in a scratch copy of the
 * thread's current context; whatever fn sets is dropped when it returns.
 * Allocates nothing unless fn sets a variable (copy on write). */
void *urt__ctx_run_scratch(void *(*fn)(void *), void *arg);
/* True if the current context is the empty one (nothing was ever set in
 * it): work that carries it can run in a scratch context on any thread
 * whose own is empty too, instead of in a captured copy. */
bool urt__ctx_current_is_empty(void);

/* Core, on every context switch: slot = &task->ctx when switching into a
 * task, NULL when switching back to the scheduler. One store. */
static inline void urt__ctx_activate(urt_ctx **slot)
{
	urt__ctx_cur = slot ? slot : &urt__ctx_own;
}

/* Core, in urt_spawn: the reference the new task holds in task->ctx (it
 * gives it back with urt_ctx_release() when the task record is freed).
 * given == NULL: the spawner's current context without its no-inherit
 * variables. given != NULL (from urt_ctx_capture): a snapshot of given, all
 * variables included. O(1), never allocates, never fails, never NULL. */
urt_ctx *urt__ctx_for_spawn(urt_ctx *given);

/* One log field of the current context (for log/). */
struct urt_ctx_field {
	const char *name;  /* the variable's name (lives as long as the process) */
	unsigned kind;     /* URT_CTXVAR_LOG_STRING or URT_CTXVAR_LOG_INT */
	intptr_t value;    /* the string pointer or the integer */
};

/* Fill out[0..max) with the log-field variables that are set, or have a
 * non-NULL default, in the calling thread's current context, in creation
 * order; returns how many. String fields with a NULL value are skipped.
 * Strings are borrowed from the context: valid during the calling log call
 * only, so the logger copies them. Looks only at log-field variables. */
unsigned urt__ctx_log_fields(struct urt_ctx_field *out, unsigned max);

/* Test seam: when > 0, counts ctx's allocations down and makes the one that
 * reaches 0 fail (-ENOMEM paths). Not thread-safe; tests only. */
extern int urt__ctx_fail_alloc_at;

#endif
