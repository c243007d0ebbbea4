/* Variables: creation, the id registry, and the list of log-field variables.
 * Ids are dense and never reused, so a context can be an array. The registry
 * is append-only: writers take a mutex, readers load the published count
 * (acquire) and read entries below it without a lock. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "ctx_impl.h"

#define LOG_FLAGS (URT_CTXVAR_LOG_STRING | URT_CTXVAR_LOG_INT)
#define ALL_FLAGS (URT_CTXVAR_NO_INHERIT | LOG_FLAGS)

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct urt_ctxvar *vars[URT_CTXVAR_MAX]; /* by id */
static atomic_uint nvars;                               /* published entries of vars[] */
static const struct urt_ctxvar *logvars[URT_CTXVAR_MAX]; /* log fields, creation order */
atomic_uint urt__ctx_nlogvars;

int urt__ctx_fail_alloc_at;

void *urt__ctx_alloc(size_t n)
{
	if (CTX_UNLIKELY(urt__ctx_fail_alloc_at > 0) && --urt__ctx_fail_alloc_at == 0)
		return NULL;
	return malloc(n);
}

const struct urt_ctxvar *urt__ctx_var(unsigned i) { return vars[i]; }

unsigned urt__ctx_nvars(void) { return atomic_load_explicit(&nvars, memory_order_acquire); }

URT_API int urt_ctxvar_create(urt_ctxvar **out, const char *name, void *default_value,
			      void (*dtor)(void *), unsigned flags)
{
	if (out)
		*out = NULL;
	if (!out || !name || (flags & ~ALL_FLAGS) || (flags & LOG_FLAGS) == LOG_FLAGS)
		return -EINVAL;
	size_t len = strlen(name);
	struct urt_ctxvar *v = urt__ctx_alloc(sizeof *v + len + 1);
	if (!v)
		return -ENOMEM;
	v->flags = flags;
	v->def = default_value;
	v->dtor = dtor;
	memcpy(v->name, name, len + 1);

	pthread_mutex_lock(&reg_lock);
	unsigned n = atomic_load_explicit(&nvars, memory_order_relaxed);
	if (n >= URT_CTXVAR_MAX) {
		pthread_mutex_unlock(&reg_lock);
		free(v);
		return -ENOSPC;
	}
	v->id = n;
	vars[n] = v;
	atomic_store_explicit(&nvars, n + 1, memory_order_release);
	if (flags & LOG_FLAGS) {
		unsigned k = atomic_load_explicit(&urt__ctx_nlogvars, memory_order_relaxed);
		logvars[k] = v;
		atomic_store_explicit(&urt__ctx_nlogvars, k + 1, memory_order_release);
	}
	pthread_mutex_unlock(&reg_lock);
	*out = v;
	return 0;
}

URT_API const char *urt_ctxvar_name(const urt_ctxvar *v) { return v ? v->name : NULL; }

unsigned urt__ctx_log_fields(struct urt_ctx_field *out, unsigned max)
{
	unsigned nlog = atomic_load_explicit(&urt__ctx_nlogvars, memory_order_acquire);
	const struct ctx_map *m = (const struct ctx_map *)*urt__ctx_cur;
	unsigned k = 0;
	for (unsigned i = 0; i < nlog && k < max; i++) {
		const struct urt_ctxvar *v = logvars[i];
		void *val = v->def;
		bool set = false;
		if (v->id < m->n) {
			val = m->val[v->id];
			set = m->own[v->id] != NULL;
		}
		if (!val && (!set || (v->flags & URT_CTXVAR_LOG_STRING)))
			continue;
		out[k].name = v->name;
		out[k].kind = v->flags & LOG_FLAGS;
		out[k].value = (intptr_t)val;
		k++;
	}
	return k;
}
