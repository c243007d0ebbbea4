/* Recycled job records, per thread. A task's job is allocated and freed on
 * its loop's thread (call_in_pool, job_done, job_interrupt), so a plain
 * thread-local free list serves it without locks; it takes malloc (whose
 * per-thread cache holds only a few records of a size, far fewer than the
 * jobs a loop keeps in flight) off the loop's path. The list is bounded
 * and freed when the thread exits. */
#include "offload_internal.h"
#include "ctx_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define JOB_CACHE_MAX 1024 /* records kept per thread */

/* what a completion writes and job_done reads fits one cache line */
_Static_assert(offsetof(struct urt__job, wait) + sizeof(void *) <= 64, "urt__job's first line");

/* initial-exec, as every thread-local on a per-job path: in liburt.so the
 * default model calls __tls_get_addr on each access (core/loop.c) */
static __thread struct urt__job *cache __attribute__((tls_model("initial-exec"))); /* linked through next */
static __thread unsigned cache_n __attribute__((tls_model("initial-exec")));
static __thread bool cache_registered __attribute__((tls_model("initial-exec"))); /* exit destructor armed */
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_drain(void *unused)
{
	(void)unused;
	while (cache) {
		struct urt__job *j = cache;
		cache = j->next;
		free(j);
	}
	cache_n = 0;
}

static void cache_key_make(void) { (void)pthread_key_create(&cache_key, cache_drain); }

/* A job's record is JOB_BYTES, 64-byte aligned. Zeroed with eight
 * vector stores: a memset of it compiles to rep stos, whose start-up
 * costs more than the stores themselves (and callgrind counts 15
 * instructions for it). */
#define JOB_BYTES ((sizeof(struct urt__job) + 63) & ~(size_t)63)
typedef char job_v16 __attribute__((vector_size(16)));
static inline void job_zero(struct urt__job *j)
{
	job_v16 *v = __builtin_assume_aligned(j, 64), zero = {0};
#if defined(__x86_64__)
	__asm__("" : "+x"(zero)); /* an unknown value: not turned back into memset */
#elif defined(__aarch64__)
	__asm__("" : "+w"(zero));
#endif
	for (size_t i = 0; i < JOB_BYTES / sizeof *v; i++)
		v[i] = zero;
}

struct urt__job *urt__job_alloc(void)
{
	if (urt__fault(URT_FAULT_ALLOC))
		return NULL;
	struct urt__job *j = cache;
	if (!j) { /* on cache lines of its own: see struct urt__job */
		j = aligned_alloc(64, JOB_BYTES);
		if (j)
			job_zero(j);
		return j;
	}
	cache = j->next;
	cache_n--;
	job_zero(j);
	return j;
}

void urt__job_recycle(struct urt__job *j)
{
	if (cache_n >= JOB_CACHE_MAX) {
		free(j);
		return;
	}
	if (!cache_registered) {
		pthread_once(&cache_once, cache_key_make);
		/* any non-NULL value: the destructor runs at thread exit */
		if (pthread_setspecific(cache_key, &cache_once) != 0) {
			free(j);
			return;
		}
		cache_registered = true;
	}
	j->next = cache;
	cache = j;
	cache_n++;
}

int urt__job_capture(struct urt__job *job)
{
	if (urt__ctx_current_is_empty()) {
		/* a worker's own context is empty too (its jobs never write
		 * it): the job runs in a scratch copy of that, no capture */
		job->ctx_on_worker = true;
		return 0;
	}
	job->ctx = urt_ctx_capture();
	return job->ctx ? 0 : -ENOMEM;
}
