/* The current context: get, set, reset through the active slot; what a
 * spawned task starts with; a thread's own context and its end. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include "ctx_impl.h"

enum { TOK_ARMED = 0x7c7a0b1e, TOK_DEAD = 0 };

/* Before a thread sets anything its slot is the shared read-only one. */
__thread urt_ctx **urt__ctx_cur __attribute__((tls_model("initial-exec"))) = &urt__ctx_empty_slot;
__thread urt_ctx *urt__ctx_own __attribute__((tls_model("initial-exec"))) = &urt__ctx_empty.h;
__thread bool urt__ctx_own_registered __attribute__((tls_model("initial-exec")));

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;

/* Thread exit (pthreads run key destructors while TLS is still there):
 * drop the thread's own context, so its values are destroyed. */
static void own_release(void *unused)
{
	(void)unused;
	struct ctx_map *m = (struct ctx_map *)urt__ctx_own;
	urt__ctx_own = &urt__ctx_empty.h;
	urt__ctx_cur = &urt__ctx_empty_slot;
	urt__ctx_own_registered = false;
	urt__ctx_map_release(m);
}

static void key_create(void)
{
	if (pthread_key_create(&exit_key, own_release) != 0)
		exit_key = (pthread_key_t)-1; /* then own contexts are not released at exit */
}

static void own_register(void)
{
	pthread_once(&key_once, key_create);
	if (exit_key != (pthread_key_t)-1)
		pthread_setspecific(exit_key, &urt__ctx_own);
	urt__ctx_own_registered = true;
}

__attribute__((noinline)) urt_ctx **urt__ctx_slot_slow(void)
{
	urt_ctx **s = urt__ctx_cur;
	if (s == &urt__ctx_empty_slot)
		s = urt__ctx_cur = &urt__ctx_own;
	if (!urt__ctx_own_registered)
		own_register();
	return s;
}

URT_API void *urt_ctxvar_get(const urt_ctxvar *v)
{
	if (CTX_UNLIKELY(!v))
		return NULL;
	const struct ctx_map *m = (const struct ctx_map *)*urt__ctx_cur;
	unsigned id = v->id;
	return id < m->n ? m->val[id] : v->def;
}

URT_API int urt_ctxvar_lookup(const urt_ctxvar *v, void **out)
{
	if (!v || !out)
		return -EINVAL;
	const struct ctx_map *m = (const struct ctx_map *)*urt__ctx_cur;
	if (v->id < m->n) {
		*out = m->val[v->id];
		return m->own[v->id] != NULL;
	}
	*out = v->def;
	return 0;
}

URT_API int urt_ctxvar_set(urt_ctxvar *v, void *value, urt_ctx_token *tok)
{
	if (tok)
		tok->state = TOK_DEAD;
	if (CTX_UNLIKELY(!v))
		return -EINVAL;
	struct ctx_cell *own = &urt__ctx_plain;
	if (v->dtor && value && !(own = urt__ctx_cell_new(v->dtor, value)))
		return -ENOMEM;
	urt_ctx **slot = urt__ctx_slot();
	void *oval;
	struct ctx_cell *oown;
	if (CTX_UNLIKELY(urt__ctx_put(slot, v, value, own, &oval, &oown) < 0)) {
		urt__ctx_cell_discard(own);
		return -ENOMEM;
	}
	if (tok) {
		tok->var = v;
		tok->slot = slot;
		tok->frame = urt__ctx_frame_of(slot);
		tok->old_val = oval;
		tok->old_own = oown;
		tok->state = TOK_ARMED;
	} else {
		urt__ctx_cell_release(oown);
	}
	return 0;
}

URT_API int urt_ctxvar_reset(urt_ctxvar *v, urt_ctx_token *tok)
{
	if (!v || !tok || tok->state != TOK_ARMED || tok->var != v)
		return -EINVAL;
	urt_ctx **slot = urt__ctx_slot();
	if (tok->slot != slot || tok->frame != urt__ctx_frame_of(slot))
		return -EINVAL;
	void *oval;
	struct ctx_cell *oown;
	if (urt__ctx_put(slot, v, tok->old_val, tok->old_own, &oval, &oown) < 0)
		return -ENOMEM;
	tok->state = TOK_DEAD;
	urt__ctx_cell_release(oown);
	return 0;
}

URT_API int urt_ctx_token_drop(urt_ctx_token *tok)
{
	if (!tok || tok->state != TOK_ARMED)
		return -EINVAL;
	tok->state = TOK_DEAD;
	urt__ctx_cell_release(tok->old_own);
	return 0;
}

/* ---- references -------------------------------------------------------- */

static struct ctx_map *box_map_get(struct ctx_box *b)
{
	while (atomic_flag_test_and_set_explicit(&b->lock, memory_order_acquire))
		;
	struct ctx_map *m = ctx_map_retain(b->map);
	atomic_flag_clear_explicit(&b->lock, memory_order_release);
	return m;
}

urt_ctx *urt__ctx_for_spawn(urt_ctx *given)
{
	if (given)
		return given->kind == CTX_BOX ? &box_map_get((struct ctx_box *)given)->h
					      : &ctx_map_retain((struct ctx_map *)given)->h;
	struct ctx_map *m = (struct ctx_map *)*urt__ctx_cur;
	if (m->inherit)
		m = m->inherit;
	return &ctx_map_retain(m)->h;
}

URT_API urt_ctx *urt_ctx_retain(urt_ctx *c)
{
	if (c && c->kind != CTX_STATIC)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

URT_API void urt_ctx_release(urt_ctx *c)
{
	if (!c || c->kind == CTX_STATIC)
		return;
	if (c->kind == CTX_MAP) {
		urt__ctx_map_release((struct ctx_map *)c);
		return;
	}
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	struct ctx_box *b = (struct ctx_box *)c;
	urt__ctx_map_release(b->map);
	free(b);
}
