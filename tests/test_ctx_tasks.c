/* Context variables in tasks: the thread-local trap side by side with a
 * context variable, inheritance and isolation, opt-out variables, tokens
 * across tasks, destructors on exit and cancel, explicit contexts, and a
 * task blocking inside urt_ctx_run. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "check.h"
#include "urt_ctx.h"

#define P(x) ((void *)(uintptr_t)(x))
#define MS URT_NS_PER_MS

static int dtor_calls;
static void count_dtor(void *p)
{
	(void)p;
	dtor_calls++;
}

static urt_ctxvar *mkvar(const char *name, void *def, void (*dtor)(void *), unsigned flags)
{
	urt_ctxvar *v = NULL;
	cr_assert_eq(urt_ctxvar_create(&v, name, def, dtor, flags), 0);
	return v;
}

/* urt_test_run after one unchecked warm-up run: the allocator (ASan's maps a
 * region per size class on first use) then holds what fn needs, so the
 * baseline check sees only what this run leaves behind. */
static void *run_checked(urt_task_fn fn, void *arg)
{
	void *r;
	cr_assert_eq(urt_run(fn, arg, NULL, &r), 0);
	dtor_calls = 0;
	return urt_test_run(fn, arg);
}

static void *join(urt_task *t)
{
	void *r = NULL;
	cr_assert_eq(urt_join(t, &r), 0);
	return r;
}

/* ---- the trap: a __thread variable leaks between tasks, a context
 * variable does not ---------------------------------------------------- */

static __thread uintptr_t tls_request;
static urt_ctxvar *request;

/* A "request handler": remember the request id, wait for I/O, then read it
 * back. Returns 1 if it read back someone else's id. */
static void *handler_tls(void *arg)
{
	tls_request = (uintptr_t)arg;
	urt_sleep(2 * MS); /* the other handler runs meanwhile */
	return P(tls_request != (uintptr_t)arg);
}

static void *handler_ctx(void *arg)
{
	cr_assert_eq(urt_ctxvar_set(request, arg, NULL), 0);
	urt_sleep(2 * MS);
	return P(urt_ctxvar_get(request) != arg);
}

static void *two_handlers(void *arg)
{
	urt_task_fn fn = (urt_task_fn)arg;
	urt_task *a, *b;
	cr_assert_eq(urt_spawn(&a, fn, P(1), NULL), 0);
	cr_assert_eq(urt_spawn(&b, fn, P(2), NULL), 0);
	uintptr_t wrong = (uintptr_t)join(a) + (uintptr_t)join(b);
	return P(wrong);
}

Test(ctx_tasks, trap_side_by_side, .timeout = 10)
{
	request = mkvar("request", NULL, NULL, 0);
	uintptr_t tls_wrong = (uintptr_t)run_checked(two_handlers, (void *)handler_tls);
	uintptr_t ctx_wrong = (uintptr_t)run_checked(two_handlers, (void *)handler_ctx);
	cr_assert_gt(tls_wrong, 0, "the test must see the thread-local leak");
	cr_assert_eq(ctx_wrong, 0, "a context variable must not leak");
}

enum { NTASKS = 10000 };

static void *many_handler(void *arg)
{
	if (urt_ctxvar_set(request, arg, NULL) != 0)
		return P(1);
	urt_yield(); /* every other task sets its own meanwhile */
	urt_sleep(1 * MS);
	return P(urt_ctxvar_get(request) != arg);
}

static void *many_main(void *arg)
{
	(void)arg;
	static urt_task *t[NTASKS];
	urt_task_opts o = {.stack_size = 16384};
	for (uintptr_t i = 0; i < NTASKS; i++)
		cr_assert_eq(urt_spawn(&t[i], many_handler, P(i + 1), &o), 0, "spawn %zu", (size_t)i);
	uintptr_t wrong = 0;
	for (int i = 0; i < NTASKS; i++)
		wrong += (uintptr_t)join(t[i]);
	cr_assert_null(urt_ctxvar_get(request), "the main task saw none of it");
	return P(wrong);
}

Test(ctx_tasks, ten_thousand_tasks, .timeout = 30)
{
	request = mkvar("request", NULL, NULL, 0);
	cr_assert_eq((uintptr_t)run_checked(many_main, NULL), 0);
}

/* ---- inheritance and isolation ----------------------------------------- */

static urt_ctxvar *x, *loc;

static void *child_sets(void *arg)
{
	void *seen = urt_ctxvar_get(x);
	cr_assert_eq(urt_ctxvar_set(x, arg, NULL), 0);
	urt_yield();
	cr_assert_eq(urt_ctxvar_get(x), arg);
	return seen;
}

static void *read_x(void *arg)
{
	(void)arg;
	return urt_ctxvar_get(x);
}

static void *inherit_main(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_ctxvar_get(x), P(1), "the main task inherits the thread's context");
	cr_assert_eq(urt_ctxvar_set(x, P(10), NULL), 0);
	urt_task *a, *b, *c;
	cr_assert_eq(urt_spawn(&a, child_sets, P(20), NULL), 0);
	cr_assert_eq(urt_spawn(&b, child_sets, P(30), NULL), 0);
	cr_assert_eq(urt_ctxvar_set(x, P(11), NULL), 0); /* after spawning: not seen */
	cr_assert_eq(join(a), P(10), "child started with the parent's value at spawn");
	cr_assert_eq(join(b), P(10), "a sibling's set is invisible");
	cr_assert_eq(urt_ctxvar_get(x), P(11), "children's sets are invisible to the parent");
	cr_assert_eq(urt_spawn(&c, read_x, NULL, NULL), 0);
	cr_assert_eq(join(c), P(11));
	return NULL;
}

Test(ctx_tasks, inheritance_and_isolation, .timeout = 10)
{
	x = mkvar("x", NULL, NULL, 0);
	cr_assert_eq(urt_ctxvar_set(x, P(1), NULL), 0); /* the loop thread's own context */
	run_checked(inherit_main, NULL);
	cr_assert_eq(urt_ctxvar_get(x), P(1), "the thread's context after urt_run is its own");
}

static void *read_both(void *arg)
{
	(void)arg;
	void *out;
	int set = urt_ctxvar_lookup(loc, &out);
	return P((set ? 100 : 0) + (uintptr_t)urt_ctxvar_get(x));
}

static void *no_inherit_main(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_ctxvar_set(x, P(3), NULL), 0);
	cr_assert_eq(urt_ctxvar_set(loc, P(4), NULL), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, read_both, NULL, NULL), 0);
	cr_assert_eq(join(t), P(3), "x inherited, loc not");
	cr_assert_eq(urt_ctxvar_get(loc), P(4), "the parent keeps it");
	/* explicit context: all of it */
	urt_ctx *c = urt_ctx_capture();
	urt_task_opts o = {.ctx = c};
	cr_assert_eq(urt_spawn(&t, read_both, NULL, &o), 0);
	cr_assert_eq(join(t), P(103));
	urt_ctx_release(c);
	return NULL;
}

Test(ctx_tasks, no_inherit, .timeout = 10)
{
	x = mkvar("x", NULL, NULL, 0);
	loc = mkvar("loc", NULL, NULL, URT_CTXVAR_NO_INHERIT);
	run_checked(no_inherit_main, NULL);
}

/* ---- explicit contexts ------------------------------------------------- */

static void *explicit_main(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_ctxvar_set(x, P(5), NULL), 0);
	urt_ctx *c = urt_ctx_capture();
	cr_assert_eq(urt_ctxvar_set(x, P(6), NULL), 0);
	urt_task_opts o = {.name = "explicit", .ctx = c};
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, child_sets, P(7), &o), 0);
	cr_assert_eq(join(t), P(5), "started in c, not in the spawner's context");
	void *out;
	cr_assert_eq(urt_ctx_lookup(c, x, &out), 1);
	cr_assert_eq(out, P(5), "the task's set stayed its own (a snapshot)");
	cr_assert_eq(urt_ctxvar_get(x), P(6));
	urt_ctx_release(c); /* the task held its own reference meanwhile */
	return NULL;
}

Test(ctx_tasks, spawn_with_context, .timeout = 10)
{
	x = mkvar("x", NULL, NULL, 0);
	run_checked(explicit_main, NULL);
}

static void *blocking_in_run(void *arg)
{
	cr_assert_eq(urt_ctxvar_set(x, arg, NULL), 0);
	urt_sleep(2 * MS); /* other tasks run, each in its own context */
	return urt_ctxvar_get(x);
}

static void *run_task(void *arg)
{
	urt_ctx *c = arg;
	void *res = NULL;
	cr_assert_eq(urt_ctx_run(c, blocking_in_run, P(50), &res), 0);
	cr_assert_eq(urt_ctxvar_get(x), P(8), "the task's own context is back");
	return res;
}

static void *noisy(void *arg)
{
	for (int i = 0; i < 5; i++) {
		urt_ctxvar_set(x, arg, NULL);
		urt_sleep(MS / 2);
	}
	return NULL;
}

static void *run_main(void *arg)
{
	(void)arg;
	urt_ctx *c = urt_ctx_capture();
	cr_assert_eq(urt_ctxvar_set(x, P(8), NULL), 0);
	urt_task *a, *n;
	cr_assert_eq(urt_spawn(&n, noisy, P(9), NULL), 0);
	cr_assert_eq(urt_spawn(&a, run_task, c, NULL), 0);
	cr_assert_eq(join(a), P(50), "c stayed current across the sleep");
	join(n);
	void *out;
	cr_assert_eq(urt_ctx_lookup(c, x, &out), 1);
	cr_assert_eq(out, P(50));
	cr_assert_eq(urt_ctxvar_get(x), P(8));
	urt_ctx_release(c);
	return NULL;
}

Test(ctx_tasks, run_across_suspension, .timeout = 10)
{
	x = mkvar("x", NULL, NULL, 0);
	run_checked(run_main, NULL);
}

/* ---- tokens across tasks ----------------------------------------------- */

static void *reset_foreign(void *arg)
{
	return (void *)(intptr_t)urt_ctxvar_reset(x, arg);
}

static void *token_main(void *arg)
{
	(void)arg;
	urt_ctx_token tok;
	cr_assert_eq(urt_ctxvar_set(x, P(1), &tok), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, reset_foreign, &tok, NULL), 0);
	cr_assert_eq((intptr_t)join(t), -EINVAL, "a token from another task");
	cr_assert_eq(urt_ctxvar_get(x), P(1), "nothing changed");
	cr_assert_eq(urt_ctxvar_reset(x, &tok), 0, "still good in its own task");
	cr_assert_null(urt_ctxvar_get(x));
	cr_assert_eq(urt_ctxvar_reset(x, &tok), -EINVAL, "used twice");
	return NULL;
}

Test(ctx_tasks, token_from_another_task, .timeout = 10)
{
	x = mkvar("x", NULL, NULL, 0);
	run_checked(token_main, NULL);
}

/* ---- destructors ------------------------------------------------------- */

static urt_ctxvar *owned;

static void *set_owned_and_wait(void *arg)
{
	cr_assert_eq(urt_ctxvar_set(owned, arg, NULL), 0);
	int r = urt_sleep(10 * URT_NS_PER_SEC); /* cancelled long before */
	return P(r == -ECANCELED);
}

static void *set_owned_and_exit(void *arg)
{
	cr_assert_eq(urt_ctxvar_set(owned, arg, NULL), 0);
	return NULL;
}

static void *dtor_main(void *arg)
{
	(void)arg;
	urt_task *a, *b;
	cr_assert_eq(urt_spawn(&a, set_owned_and_exit, P(1), NULL), 0);
	cr_assert_eq(urt_spawn(&b, set_owned_and_wait, P(2), NULL), 0);
	join(a);
	urt_yield();
	cr_assert_eq(dtor_calls, 1, "task exit destroyed its value");
	cr_assert_eq(urt_cancel(b), 0);
	void *r = NULL;
	cr_assert_eq(urt_join(b, &r), -ECANCELED);
	cr_assert_eq(r, P(1), "b saw the cancel");
	cr_assert_eq(dtor_calls, 2, "a cancelled task's value is destroyed too");
	return NULL;
}

Test(ctx_tasks, dtor_on_exit_and_cancel, .timeout = 10)
{
	owned = mkvar("owned", NULL, count_dtor, 0);
	dtor_calls = 0;
	run_checked(dtor_main, NULL);
	cr_assert_eq(dtor_calls, 2, "exactly once each");
}
