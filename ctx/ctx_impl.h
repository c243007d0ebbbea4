/* ctx's private data structures, shared by the files of ctx/ only.
 *
 * Model: a *map* is an immutable-once-shared array of values indexed by
 * variable id, with an atomic reference count. Whoever holds the only
 * reference (refs == 1) may write it in place; anyone else copies it first.
 * A *slot* (task->ctx, a thread's urt__ctx_own) holds a reference to the map
 * that is its current context; urt__ctx_cur points at the active slot.
 * A *box* is what urt_ctx_capture() returns: an identity (for urt_ctx_run)
 * holding a map. Maps and boxes both start with struct urt_ctx.
 */
#ifndef URT_CTX_IMPL_H
#define URT_CTX_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "ctx_internal.h"

#define CTX_LIKELY(x) __builtin_expect(!!(x), 1)
#define CTX_UNLIKELY(x) __builtin_expect(!!(x), 0)

struct urt_ctxvar {
	unsigned id;            /* dense index into every map; first for a short get */
	unsigned flags;         /* URT_CTXVAR_* */
	void *def;              /* value where not set; never destroyed */
	void (*dtor)(void *);   /* destroys set values, may be NULL */
	char name[];            /* copied at creation */
};

enum ctx_kind {
	CTX_STATIC = 0,         /* the shared empty map: never counted, never freed */
	CTX_MAP = 1,
	CTX_BOX = 2,
};

struct urt_ctx {                /* header of maps and boxes */
	atomic_uint refs;       /* references; the object dies when it reaches 0 */
	unsigned kind;          /* enum ctx_kind */
};

/* A value that has a destructor, shared by every map holding it. */
struct ctx_cell {
	atomic_uint refs;       /* maps and tokens holding it */
	void (*dtor)(void *);   /* runs once on val when refs reaches 0 */
	void *val;
};

/* own[] marker for "set, nothing to destroy" (no dtor, or a NULL value). */
extern struct ctx_cell urt__ctx_plain;

struct ctx_map {
	struct urt_ctx h;
	unsigned n;             /* ids < n are stored here, ids >= n read the default */
	unsigned cap;           /* room in val[] and own[] */
	unsigned nlocal;        /* set entries of no-inherit variables */
	struct ctx_map *inherit; /* the same map without no-inherit values (what
				  * spawned tasks get); non-NULL iff nlocal > 0 */
	struct ctx_cell **own;  /* per entry: NULL = not set (val holds the
				 * default), &urt__ctx_plain, or a cell */
	void *val[];            /* per entry: the value get returns */
};

struct ctx_box {
	struct urt_ctx h;
	atomic_int entered;     /* 1 while urt_ctx_run runs in it */
	atomic_flag lock;       /* guards map against a concurrent reader */
	struct ctx_map *map;    /* its context (a counted reference) */
};

extern struct ctx_map urt__ctx_empty;      /* the empty context */
extern urt_ctx *urt__ctx_empty_slot;        /* read-only slot holding it: the
					     * initial urt__ctx_cur of a thread */

/* ---- allocation (goes through the test seam) ---- */
void *urt__ctx_alloc(size_t n);

/* ---- variables (ctx_var.c) ---- */
/* The variable with id i (i below the published count). */
const struct urt_ctxvar *urt__ctx_var(unsigned i);
unsigned urt__ctx_nvars(void);

/* ---- maps and cells (ctx_map.c) ---- */
static inline bool ctx_map_private(const struct ctx_map *m)
{
	return m->h.kind != CTX_STATIC &&
	       atomic_load_explicit(&m->h.refs, memory_order_acquire) == 1;
}
static inline struct ctx_map *ctx_map_retain(struct ctx_map *m)
{
	if (m->h.kind != CTX_STATIC)
		atomic_fetch_add_explicit(&m->h.refs, 1, memory_order_relaxed);
	return m;
}
void urt__ctx_map_release(struct ctx_map *m);
struct ctx_cell *urt__ctx_cell_new(void (*dtor)(void *), void *val);
void urt__ctx_cell_retain(struct ctx_cell *c);
void urt__ctx_cell_release(struct ctx_cell *c);
/* Free a cell that was never published, without running its dtor. */
void urt__ctx_cell_discard(struct ctx_cell *c);

static inline void ctx_swap_entry(struct ctx_map *m, const struct urt_ctxvar *v, void *val,
				  struct ctx_cell *own, void **oval, struct ctx_cell **oown)
{
	unsigned id = v->id;
	*oval = m->val[id];
	*oown = m->own[id];
	m->val[id] = val;
	m->own[id] = own;
	if (v->flags & URT_CTXVAR_NO_INHERIT)
		m->nlocal += (own != NULL) - (*oown != NULL);
}

int urt__ctx_put_slow(urt_ctx **slot, const struct urt_ctxvar *v, void *val, struct ctx_cell *own,
		      void **oval, struct ctx_cell **oown);

/* Replace v's entry in the map held by *slot with (val, own), copying the map
 * first if it is shared and keeping its no-inherit twin in step. On success
 * the map owns the caller's reference to own, and *oval and *oown receive the old
 * entry (with its reference). Returns 0, or -ENOMEM with nothing changed. */
static inline int urt__ctx_put(urt_ctx **slot, const struct urt_ctxvar *v, void *val,
			       struct ctx_cell *own, void **oval, struct ctx_cell **oown)
{
	struct ctx_map *m = (struct ctx_map *)*slot;
	/* fast path: the only holder, id covered, no twin to keep in step */
	if (CTX_LIKELY(v->id < m->n && !m->inherit && !(v->flags & URT_CTXVAR_NO_INHERIT) &&
		       ctx_map_private(m))) {
		ctx_swap_entry(m, v, val, own, oval, oown);
		return 0;
	}
	return urt__ctx_put_slow(slot, v, val, own, oval, oown);
}

/* ---- slots and run frames: ctx_ops.c, ctx_run.c ---- */
extern __thread bool urt__ctx_own_registered __attribute__((tls_model("initial-exec")));
extern __thread struct run_frame *urt__ctx_frames __attribute__((tls_model("initial-exec")));
urt_ctx **urt__ctx_slot_slow(void);

/* The active slot, made writable: redirects a thread that has no context
 * yet to its own slot and arranges for it to be released at thread exit. */
static inline urt_ctx **urt__ctx_slot(void)
{
	urt_ctx **s = urt__ctx_cur;
	if (CTX_UNLIKELY(s == &urt__ctx_empty_slot || !urt__ctx_own_registered))
		s = urt__ctx_slot_slow();
	return s;
}

uint64_t urt__ctx_frame_find(urt_ctx **slot);
/* The urt_ctx_run frame innermost on slot (its serial), or 0. */
static inline uint64_t urt__ctx_frame_of(urt_ctx **slot)
{
	return CTX_LIKELY(!urt__ctx_frames) ? 0 : urt__ctx_frame_find(slot);
}

#endif
