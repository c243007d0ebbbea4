/* Maps (a context's values, copy-on-write) and cells (values that have a
 * destructor, counted so the destructor runs once, when the last map or
 * token holding the value lets go). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ctx_impl.h"

struct ctx_cell urt__ctx_plain; /* a marker: never counted, never freed */
struct ctx_map urt__ctx_empty = {.h = {.kind = CTX_STATIC}};
urt_ctx *urt__ctx_empty_slot = &urt__ctx_empty.h;

/* ---- cells ------------------------------------------------------------- */

struct ctx_cell *urt__ctx_cell_new(void (*dtor)(void *), void *val)
{
	struct ctx_cell *c = urt__ctx_alloc(sizeof *c);
	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->dtor = dtor;
	c->val = val;
	return c;
}

static inline bool cell_counted(const struct ctx_cell *c) { return c && c != &urt__ctx_plain; }

void urt__ctx_cell_retain(struct ctx_cell *c)
{
	if (cell_counted(c))
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void urt__ctx_cell_release(struct ctx_cell *c)
{
	if (!cell_counted(c))
		return;
	/* the sole holder need not pay for a locked RMW: nobody else can
	 * reach the cell to take a reference */
	if (atomic_load_explicit(&c->refs, memory_order_acquire) != 1 &&
	    atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	c->dtor(c->val);
	free(c);
}

void urt__ctx_cell_discard(struct ctx_cell *c)
{
	if (cell_counted(c))
		free(c);
}

/* ---- maps -------------------------------------------------------------- */

static struct ctx_map *map_new(unsigned cap)
{
	struct ctx_map *m = urt__ctx_alloc(sizeof *m + (size_t)cap * (sizeof(void *) + sizeof(struct ctx_cell *)));
	if (!m)
		return NULL;
	atomic_init(&m->h.refs, 1);
	m->h.kind = CTX_MAP;
	m->n = 0;
	m->cap = cap;
	m->nlocal = 0;
	m->inherit = NULL;
	m->own = (struct ctx_cell **)(m->val + cap);
	return m;
}

/* Room for at least need entries, and for every variable that exists now,
 * so later variables rarely force a regrowth. */
static unsigned map_cap_for(unsigned need)
{
	unsigned nv = urt__ctx_nvars();
	if (need < nv)
		need = nv;
	unsigned cap = 8;
	while (cap < need)
		cap *= 2;
	return cap;
}

/* A private copy of m with room for need entries (entries, cells and twin
 * retained). */
static struct ctx_map *map_copy(const struct ctx_map *m, unsigned need)
{
	if (need < m->n)
		need = m->n;
	struct ctx_map *c = map_new(map_cap_for(need));
	if (!c)
		return NULL;
	c->n = m->n;
	c->nlocal = m->nlocal;
	if (m->n) { /* the static empty map has no own[] at all */
		memcpy(c->val, m->val, m->n * sizeof *m->val);
		memcpy(c->own, m->own, m->n * sizeof *m->own);
	}
	for (unsigned i = 0; i < m->n; i++)
		urt__ctx_cell_retain(m->own[i]);
	c->inherit = m->inherit ? ctx_map_retain(m->inherit) : NULL;
	return c;
}

/* Make a private map with room cover ids < upto: new entries hold defaults. */
static void map_cover(struct ctx_map *m, unsigned upto)
{
	for (unsigned i = m->n; i < upto; i++) {
		m->val[i] = urt__ctx_var(i)->def;
		m->own[i] = NULL;
	}
	if (upto > m->n)
		m->n = upto;
}

void urt__ctx_map_release(struct ctx_map *m)
{
	if (m->h.kind == CTX_STATIC)
		return;
	if (atomic_load_explicit(&m->h.refs, memory_order_acquire) != 1 &&
	    atomic_fetch_sub_explicit(&m->h.refs, 1, memory_order_acq_rel) != 1)
		return;
	for (unsigned i = 0; i < m->n; i++)
		urt__ctx_cell_release(m->own[i]);
	if (m->inherit)
		urt__ctx_map_release(m->inherit);
	free(m);
}

/* *mp, made private and big enough for id; on a copy the old reference is
 * dropped only once the caller commits, so it is returned in *drop. */
static int map_writable(struct ctx_map **mp, unsigned id, struct ctx_map **drop)
{
	struct ctx_map *m = *mp;
	*drop = NULL;
	if (!ctx_map_private(m) || id >= m->cap) {
		struct ctx_map *c = map_copy(m, id + 1);
		if (!c)
			return -ENOMEM;
		*drop = m;
		*mp = m = c;
	}
	map_cover(m, id + 1);
	return 0;
}

/* The general case: copies, growth, and the no-inherit twin. */
__attribute__((noinline)) int urt__ctx_put_slow(urt_ctx **slot, const struct urt_ctxvar *v, void *val,
						struct ctx_cell *own, void **oval, struct ctx_cell **oown)
{
	struct ctx_map *m0 = (struct ctx_map *)*slot, *m = m0, *drop;
	bool local = v->flags & URT_CTXVAR_NO_INHERIT;
	/* The first no-inherit value: the map as it is now becomes the twin,
	 * so it must not be written in place. */
	bool new_twin = local && own && !m0->inherit;
	if (new_twin) {
		if (!(m = map_copy(m0, v->id + 1)))
			return -ENOMEM;
		map_cover(m, v->id + 1);
		m->inherit = m0; /* takes over the slot's reference */
		drop = NULL;
	} else if (map_writable(&m, v->id, &drop) < 0) {
		return -ENOMEM;
	}
	if (!local && m->inherit) {
		/* the twin holds every inheritable value too: keep it in step */
		struct ctx_map *t = m->inherit, *tdrop;
		if (map_writable(&t, v->id, &tdrop) < 0) {
			if (m != m0)
				urt__ctx_map_release(m);
			return -ENOMEM;
		}
		void *tv;
		struct ctx_cell *to;
		urt__ctx_cell_retain(own);
		ctx_swap_entry(t, v, val, own, &tv, &to);
		urt__ctx_cell_release(to); /* m still holds it, no dtor here */
		m->inherit = t;
		if (tdrop)
			urt__ctx_map_release(tdrop);
	}
	ctx_swap_entry(m, v, val, own, oval, oown);
	if (local && m->nlocal == 0 && m->inherit) {
		urt__ctx_map_release(m->inherit); /* equal to m now */
		m->inherit = NULL;
	}
	*slot = &m->h;
	if (drop)
		urt__ctx_map_release(drop);
	return 0;
}
