/* urt ctx: per-task context variables (Python's contextvars, in C).
 *
 * A context maps variables to values. Every task has its own context, a
 * copy of its spawner's taken at urt_spawn (O(1): shared by reference count,
 * copied on the first write), so a child's sets are invisible to its parent
 * and its siblings. Outside tasks every thread has its own context, and so
 * does a loop thread between tasks.
 *
 * Ownership of values: a value set with urt_ctxvar_set() on a variable that
 * has a destructor belongs to urt from the moment the set succeeds; the
 * destructor runs exactly once (never for NULL), on whichever thread drops
 * the last reference: when the value is overwritten or reset in the last
 * context holding it, when that context's task ends, when the last captured
 * context holding it is released, or when its thread exits (a pthread; the
 * main thread's own context is not torn down at exit()). A token from
 * urt_ctxvar_set() keeps the previous value alive until it is reset or
 * dropped. Defaults are never destroyed. Destructors must not set or reset
 * context variables.
 *
 * Reads are lock-free and O(1): variables have dense ids and a context is an
 * array indexed by them. Contexts may be shared between threads (reference
 * counts are atomic); a variable's value is shared by every context that
 * holds it, so what it points to must be safe to read from those threads.
 */
#ifndef URT_CTX_H
#define URT_CTX_H

#include <stdint.h>
#include "urt_core.h" /* URT_API, the urt_ctx typedef */

#ifdef __cplusplus
extern "C" {
#endif

/* How many variables a process can create (ids are dense, never reused). */
#define URT_CTXVAR_MAX 1024

typedef struct urt_ctxvar urt_ctxvar;

/* Flags for urt_ctxvar_create(). */
enum {
	URT_CTXVAR_NO_INHERIT = 1u << 0, /* spawned tasks start without this variable's value */
	URT_CTXVAR_LOG_STRING = 1u << 1, /* a log field: the value is a NUL-terminated string */
	URT_CTXVAR_LOG_INT = 1u << 2,    /* a log field: the value is an intptr_t */
};

/* What urt_ctxvar_set() hands back so urt_ctxvar_reset() can undo it.
 * Caller storage (usually on the stack); every field is private. */
typedef struct urt_ctx_token {
	const void *var;   /* the variable it was made for */
	const void *slot;  /* the context it was made in */
	uint64_t frame;    /* the urt_ctx_run() it was made in, 0 if none */
	void *old_val;     /* the value to restore */
	void *old_own;     /* the reference keeping old_val alive */
	unsigned state;    /* armed, or used/invalid */
} urt_ctx_token;

/* ---- variables --------------------------------------------------------- */

/* Create a variable. name is copied (NULL: -EINVAL). get returns
 * default_value where the variable is not set. dtor (may be NULL) destroys
 * the values set on it, never the default. Variables live as long as the
 * process (keep them in globals, as with Python's ContextVar).
 * Returns 0 and *out; -EINVAL (NULL out or name, unknown flags, both LOG
 * flags); -ENOSPC once URT_CTXVAR_MAX variables exist; -ENOMEM. */
URT_API int urt_ctxvar_create(urt_ctxvar **out, const char *name, void *default_value,
			      void (*dtor)(void *), unsigned flags);

/* The variable's name; NULL for NULL. */
URT_API const char *urt_ctxvar_name(const urt_ctxvar *v);

/* The variable's value in the current context, or its default if it is not
 * set. NULL for a NULL variable. Lock-free, a handful of instructions. */
URT_API void *urt_ctxvar_get(const urt_ctxvar *v);

/* Like get, and tells whether the variable is set: returns 1 (set) or 0
 * (not set: *out is the default); -EINVAL for NULL v or out. */
URT_API int urt_ctxvar_lookup(const urt_ctxvar *v, void **out);

/* Set v to value in the current context (copying the context first if it is
 * shared). If tok is non-NULL it receives what urt_ctxvar_reset() needs, and
 * keeps the previous value alive until then (or urt_ctx_token_drop()).
 * Returns 0; -EINVAL (NULL v); -ENOMEM (nothing changed, the caller still
 * owns value, tok is invalid). */
URT_API int urt_ctxvar_set(urt_ctxvar *v, void *value, urt_ctx_token *tok);

/* Restore v to what it was before the set that made tok (set or not set),
 * in the same context that set it. Returns 0; -EINVAL (NULL v or tok, a
 * token of another variable, of another task, thread or urt_ctx_run(), or
 * already used or dropped: nothing changed); -ENOMEM (nothing changed, tok
 * still usable). */
URT_API int urt_ctxvar_reset(urt_ctxvar *v, urt_ctx_token *tok);

/* Give up a token without resetting: releases the previous value it kept.
 * Returns 0; -EINVAL (NULL, already used or dropped). */
URT_API int urt_ctx_token_drop(urt_ctx_token *tok);

/* ---- explicit contexts ------------------------------------------------- */

/* A new context holding a copy of the current one (every variable, also the
 * no-inherit ones), O(1). The caller owns the reference. NULL only when
 * out of memory. Usable from any thread. */
URT_API urt_ctx *urt_ctx_capture(void);

/* Take another reference to c; returns c (NULL for NULL). Thread-safe. */
URT_API urt_ctx *urt_ctx_retain(urt_ctx *c);

/* Drop a reference; the last one frees c and the values only it held.
 * NULL is a no-op. Thread-safe. */
URT_API void urt_ctx_release(urt_ctx *c);

/* Run fn(arg) with c as the current context, then restore the caller's;
 * sets made inside stay in c afterwards (Python's Context.run). Works in a
 * task (fn may block: c stays current for the task across suspensions) and
 * on any thread. *result (if non-NULL) gets fn's return value.
 * Returns 0; -EINVAL (NULL c or fn, c not from urt_ctx_capture); -EBUSY if c
 * is already being run somewhere (also nested in itself). */
URT_API int urt_ctx_run(urt_ctx *c, void *(*fn)(void *), void *arg, void **result);

/* Read v in context c without entering it: returns 1 (set, *out = value),
 * 0 (not set, *out = default); -EINVAL (NULL c, v or out). Thread-safe. */
URT_API int urt_ctx_lookup(urt_ctx *c, const urt_ctxvar *v, void **out);

/* Spawning with a context: urt_task_opts.ctx = c starts the task with a
 * snapshot of c as it is at urt_spawn (every variable, also no-inherit
 * ones). Unlike Python's create_task(context=), the task's sets stay its
 * own and do not change c, so one captured context can seed tasks on any
 * number of loops without a race. */

#ifdef __cplusplus
}
#endif
#endif
