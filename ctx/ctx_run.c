/* Explicit contexts: capture, run a function inside one, read one.
 *
 * urt_ctx_run swaps the context held by the active slot instead of pointing
 * urt__ctx_cur elsewhere: core re-activates &task->ctx whenever a task
 * resumes, so a task that blocks inside urt_ctx_run keeps running in c.
 * Tokens must still tell the run's context from the slot's own one, so each
 * run is a frame (on the thread's list; a task's frames stay on its thread)
 * with a serial that set records in the token. */
#include <errno.h>
#include <stdlib.h>
#include "ctx_impl.h"

struct run_frame {
	struct run_frame *next, *prev; /* this thread's live frames, newest first */
	urt_ctx **slot;                /* the slot the run swapped */
	uint64_t serial;               /* unique on this thread, > 0 */
};

__thread struct run_frame *urt__ctx_frames __attribute__((tls_model("initial-exec")));
static __thread uint64_t frame_serial __attribute__((tls_model("initial-exec")));

uint64_t urt__ctx_frame_find(urt_ctx **slot)
{
	/* frames of one slot nest, so the newest one on it is the innermost */
	for (struct run_frame *f = urt__ctx_frames; f; f = f->next)
		if (f->slot == slot)
			return f->serial;
	return 0;
}

static void frame_push(struct run_frame *f)
{
	f->prev = NULL;
	f->next = urt__ctx_frames;
	if (urt__ctx_frames)
		urt__ctx_frames->prev = f;
	urt__ctx_frames = f;
}

/* Frames of different tasks interleave, so a frame may leave from the middle. */
static void frame_pop(struct run_frame *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		urt__ctx_frames = f->next;
	if (f->next)
		f->next->prev = f->prev;
}

static void box_lock(struct ctx_box *b)
{
	while (atomic_flag_test_and_set_explicit(&b->lock, memory_order_acquire))
		;
}

static void box_unlock(struct ctx_box *b) { atomic_flag_clear_explicit(&b->lock, memory_order_release); }

URT_API urt_ctx *urt_ctx_capture(void)
{
	struct ctx_box *b = urt__ctx_alloc(sizeof *b);
	if (!b)
		return NULL;
	atomic_init(&b->h.refs, 1);
	b->h.kind = CTX_BOX;
	atomic_init(&b->entered, 0);
	atomic_flag_clear(&b->lock);
	b->map = ctx_map_retain((struct ctx_map *)*urt__ctx_cur);
	return &b->h;
}

URT_API int urt_ctx_run(urt_ctx *c, void *(*fn)(void *), void *arg, void **result)
{
	if (!c || c->kind != CTX_BOX || !fn)
		return -EINVAL;
	struct ctx_box *b = (struct ctx_box *)c;
	int idle = 0;
	if (!atomic_compare_exchange_strong_explicit(&b->entered, &idle, 1, memory_order_acquire,
						     memory_order_relaxed))
		return -EBUSY;
	urt_ctx_retain(c); /* fn may drop the caller's reference */
	urt_ctx **slot = urt__ctx_slot();
	urt_ctx *saved = *slot;
	/* the box keeps its reference: a reader may take it meanwhile, and the
	 * run's first set copies instead of writing what the reader sees */
	box_lock(b);
	*slot = &ctx_map_retain(b->map)->h;
	box_unlock(b);
	struct run_frame f = {.slot = slot, .serial = ++frame_serial};
	frame_push(&f);

	void *r = fn(arg);

	frame_pop(&f);
	struct ctx_map *done = (struct ctx_map *)*slot;
	*slot = saved;
	box_lock(b);
	struct ctx_map *old = b->map;
	b->map = done;
	box_unlock(b);
	urt__ctx_map_release(old);
	atomic_store_explicit(&b->entered, 0, memory_order_release);
	urt_ctx_release(c);
	if (result)
		*result = r;
	return 0;
}

void *urt__ctx_run_scratch(void *(*fn)(void *), void *arg)
{
	urt_ctx **slot = urt__ctx_slot();
	urt_ctx *saved = *slot;
	/* a second reference: fn's first set copies instead of writing saved */
	*slot = &ctx_map_retain((struct ctx_map *)saved)->h;
	struct run_frame f = {.slot = slot, .serial = ++frame_serial};
	frame_push(&f); /* fn's tokens belong to this run only */
	void *r = fn(arg);
	frame_pop(&f);
	struct ctx_map *done = (struct ctx_map *)*slot;
	*slot = saved;
	urt__ctx_map_release(done);
	return r;
}

bool urt__ctx_current_is_empty(void) { return *urt__ctx_cur == &urt__ctx_empty.h; }

URT_API int urt_ctx_lookup(urt_ctx *c, const urt_ctxvar *v, void **out)
{
	if (!c || !v || !out || c->kind == CTX_STATIC)
		return -EINVAL;
	struct ctx_box *b = c->kind == CTX_BOX ? (struct ctx_box *)c : NULL;
	if (b)
		box_lock(b);
	const struct ctx_map *m = b ? b->map : (const struct ctx_map *)c;
	int set = 0;
	*out = v->def;
	if (v->id < m->n) {
		*out = m->val[v->id];
		set = m->own[v->id] != NULL;
	}
	if (b)
		box_unlock(b);
	return set;
}
