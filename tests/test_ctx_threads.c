/* Context variables across plain threads: each thread has its own context,
 * a thread's values die with it, and captured contexts are shared between
 * threads by reference (capture here, run there). URT_TEST_THREADS */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "urt_ctx.h"

#define P(x) ((void *)(uintptr_t)(x))

static urt_ctxvar *var;
static pthread_barrier_t bar;
static atomic_int dtor_calls;
static void count_dtor(void *p)
{
	(void)p;
	atomic_fetch_add(&dtor_calls, 1);
}

static void *own_thread(void *arg)
{
	if (urt_ctxvar_get(var) != P(0))
		return P(1); /* a new thread starts empty */
	if (urt_ctxvar_set(var, arg, NULL) != 0)
		return P(2);
	pthread_barrier_wait(&bar); /* both have set */
	pthread_barrier_wait(&bar); /* the main thread has looked */
	return urt_ctxvar_get(var) == arg ? NULL : P(3);
}

Test(ctx_threads, each_thread_has_its_own)
{
	cr_assert_eq(urt_ctxvar_create(&var, "t", P(0), NULL, 0), 0);
	cr_assert_eq(urt_ctxvar_set(var, P(99), NULL), 0);
	pthread_barrier_init(&bar, NULL, 3);
	pthread_t a, b;
	pthread_create(&a, NULL, own_thread, P(1));
	pthread_create(&b, NULL, own_thread, P(2));
	pthread_barrier_wait(&bar);
	cr_assert_eq(urt_ctxvar_get(var), P(99), "the threads' sets are not ours");
	pthread_barrier_wait(&bar);
	void *ra, *rb;
	pthread_join(a, &ra);
	pthread_join(b, &rb);
	cr_assert_null(ra, "thread a: failure %p", ra);
	cr_assert_null(rb, "thread b: failure %p", rb);
	pthread_barrier_destroy(&bar);
}

static void *set_and_exit(void *arg)
{
	urt_ctx_token t;
	urt_ctxvar_set(var, arg, NULL);
	urt_ctxvar_set(var, P(2), NULL); /* destroys arg */
	urt_ctxvar_set(var, P(3), &t);
	urt_ctx_token_drop(&t);          /* destroys 2 */
	return NULL;                     /* thread exit destroys 3 */
}

Test(ctx_threads, thread_exit_destroys_values)
{
	cr_assert_eq(urt_ctxvar_create(&var, "owned", NULL, count_dtor, 0), 0);
	pthread_t t;
	pthread_create(&t, NULL, set_and_exit, P(1));
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&dtor_calls), 3);
}

/* ---- capture on one thread, run on others ------------------------------ */

static urt_ctx *shared;

static void *read_and_set(void *arg)
{
	void *seen = urt_ctxvar_get(var);
	urt_ctxvar_set(var, arg, NULL);
	return seen;
}

static void *worker_run(void *arg)
{
	void *res = NULL;
	int r = urt_ctx_run(shared, read_and_set, arg, &res);
	if (r != 0)
		return P(0xbad);
	return res;
}

Test(ctx_threads, capture_here_run_there)
{
	cr_assert_eq(urt_ctxvar_create(&var, "job", P(0), NULL, 0), 0);
	cr_assert_eq(urt_ctxvar_set(var, P(5), NULL), 0);
	shared = urt_ctx_capture();
	cr_assert_not_null(shared);
	pthread_t t;
	pthread_create(&t, NULL, worker_run, P(6));
	void *seen;
	pthread_join(t, &seen);
	cr_assert_eq(seen, P(5), "the worker ran in the submitter's context");
	void *out;
	cr_assert_eq(urt_ctx_lookup(shared, var, &out), 1);
	cr_assert_eq(out, P(6), "its set is in the context afterwards");
	cr_assert_eq(urt_ctxvar_get(var), P(5), "the submitter's own context is untouched");
	urt_ctx_release(shared);
}

static atomic_int inside;
static void *hold(void *arg)
{
	(void)arg;
	atomic_store(&inside, 1);
	pthread_barrier_wait(&bar); /* let the other thread try */
	pthread_barrier_wait(&bar);
	return NULL;
}

static void *run_holding(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_ctx_run(shared, hold, NULL, NULL);
}

Test(ctx_threads, run_busy_across_threads)
{
	cr_assert_eq(urt_ctxvar_create(&var, "job", P(0), NULL, 0), 0);
	shared = urt_ctx_capture();
	pthread_barrier_init(&bar, NULL, 2);
	pthread_t t;
	pthread_create(&t, NULL, run_holding, NULL);
	pthread_barrier_wait(&bar);
	cr_assert_eq(atomic_load(&inside), 1);
	cr_assert_eq(urt_ctx_run(shared, read_and_set, P(1), NULL), -EBUSY,
		     "entered on the other thread");
	void *out;
	cr_assert_eq(urt_ctx_lookup(shared, var, &out), 0, "readable meanwhile");
	pthread_barrier_wait(&bar);
	void *r;
	pthread_join(t, &r);
	cr_assert_eq((intptr_t)r, 0);
	cr_assert_eq(urt_ctx_run(shared, read_and_set, P(1), NULL), 0, "free again");
	urt_ctx_release(shared);
	pthread_barrier_destroy(&bar);
}

enum { NTHREADS = 4, ROUNDS = 2000 };

static void *hammer(void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	for (int i = 0; i < ROUNDS; i++) {
		urt_ctx *c = urt_ctx_retain(shared);
		void *out;
		if (urt_ctx_lookup(c, var, &out) != 1 || out != P(7))
			return P(1);
		urt_ctx_token t;
		if (urt_ctxvar_set(var, P(me), &t) != 0 || urt_ctxvar_get(var) != P(me))
			return P(2);
		urt_ctx *mine = urt_ctx_capture();
		if (urt_ctxvar_reset(var, &t) != 0)
			return P(3);
		if (urt_ctx_lookup(mine, var, &out) != 1 || out != P(me))
			return P(4);
		urt_ctx_release(mine);
		urt_ctx_release(c);
	}
	return NULL;
}

Test(ctx_threads, shared_context_refcounts)
{
	atomic_store(&dtor_calls, 0);
	cr_assert_eq(urt_ctxvar_create(&var, "shared", NULL, count_dtor, 0), 0);
	cr_assert_eq(urt_ctxvar_set(var, P(7), NULL), 0);
	shared = urt_ctx_capture();
	cr_assert_eq(urt_ctxvar_set(var, NULL, NULL), 0); /* only `shared` holds 7 now */
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, hammer, P(100 + i));
	for (int i = 0; i < NTHREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		cr_assert_null(r, "thread %d: failure %p", i, r);
	}
	int before = atomic_load(&dtor_calls);
	urt_ctx_release(shared);
	cr_assert_eq(atomic_load(&dtor_calls), before + 1, "7 destroyed by the last release");
	cr_assert_eq(before, NTHREADS * ROUNDS, "every thread value destroyed once");
}
