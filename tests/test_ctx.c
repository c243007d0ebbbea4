/* Context variables on one thread, outside any loop: create, get, set,
 * reset and tokens, destructor counts, capture and run, log fields, the
 * variable limit, allocation failures. (Tasks: test_ctx_tasks.c, threads:
 * test_ctx_threads.c.) */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "ctx_internal.h"
#include "urt_ctx.h"

static int dtor_calls;
static void *dtor_last;
static void count_dtor(void *p)
{
	dtor_calls++;
	dtor_last = p;
}

static urt_ctxvar *mkvar(const char *name, void *def, void (*dtor)(void *), unsigned flags)
{
	urt_ctxvar *v = NULL;
	int r = urt_ctxvar_create(&v, name, def, dtor, flags);
	cr_assert_eq(r, 0, "create %s: %d", name, r);
	cr_assert_not_null(v);
	return v;
}

#define P(x) ((void *)(uintptr_t)(x))

/* ---- create ------------------------------------------------------------ */

Test(ctx, create_and_name)
{
	urt_ctxvar *a = mkvar("request_id", NULL, NULL, 0);
	urt_ctxvar *b = mkvar("user", P(7), NULL, URT_CTXVAR_NO_INHERIT);
	cr_assert_neq(a, b);
	cr_assert_str_eq(urt_ctxvar_name(a), "request_id");
	cr_assert_str_eq(urt_ctxvar_name(b), "user");
	cr_assert_null(urt_ctxvar_name(NULL));
	cr_assert_eq(urt_ctxvar_get(b), P(7), "default before any set");
}

Test(ctx, create_name_is_copied)
{
	char buf[16];
	strcpy(buf, "first");
	urt_ctxvar *v = mkvar(buf, NULL, NULL, 0);
	strcpy(buf, "other");
	cr_assert_str_eq(urt_ctxvar_name(v), "first");
	urt_ctxvar *e = mkvar("", NULL, NULL, 0);
	cr_assert_str_eq(urt_ctxvar_name(e), "");
}

Test(ctx, create_bad_input)
{
	urt_ctxvar *v = (urt_ctxvar *)1;
	cr_assert_eq(urt_ctxvar_create(NULL, "x", NULL, NULL, 0), -EINVAL);
	cr_assert_eq(urt_ctxvar_create(&v, NULL, NULL, NULL, 0), -EINVAL);
	cr_assert_null(v, "out cleared on failure");
	cr_assert_eq(urt_ctxvar_create(&v, "x", NULL, NULL, 1u << 9), -EINVAL);
	cr_assert_eq(urt_ctxvar_create(&v, "x", NULL, NULL,
				       URT_CTXVAR_LOG_STRING | URT_CTXVAR_LOG_INT), -EINVAL);
}

Test(ctx, variable_limit)
{
	urt_ctxvar *vars[URT_CTXVAR_MAX];
	for (int i = 0; i < URT_CTXVAR_MAX; i++)
		cr_assert_eq(urt_ctxvar_create(&vars[i], "v", P(i), NULL, 0), 0, "var %d", i);
	urt_ctxvar *over = (urt_ctxvar *)1;
	cr_assert_eq(urt_ctxvar_create(&over, "over", NULL, NULL, 0), -ENOSPC);
	cr_assert_null(over);
	cr_assert_eq(urt_ctxvar_create(&over, "over", NULL, NULL, 0), -ENOSPC, "stays full");
	/* the existing ones, the last included, still work */
	cr_assert_eq(urt_ctxvar_set(vars[URT_CTXVAR_MAX - 1], P(42), NULL), 0);
	cr_assert_eq(urt_ctxvar_get(vars[URT_CTXVAR_MAX - 1]), P(42));
	cr_assert_eq(urt_ctxvar_get(vars[URT_CTXVAR_MAX - 2]), P(URT_CTXVAR_MAX - 2));
	cr_assert_eq(urt_ctxvar_set(vars[0], P(1), NULL), 0);
	cr_assert_eq(urt_ctxvar_get(vars[0]), P(1));
}

/* ---- get / lookup ------------------------------------------------------ */

Test(ctx, get_null_and_default)
{
	cr_assert_null(urt_ctxvar_get(NULL));
	urt_ctxvar *v = mkvar("d", P(99), NULL, 0);
	cr_assert_eq(urt_ctxvar_get(v), P(99));
	void *out = NULL;
	cr_assert_eq(urt_ctxvar_lookup(v, &out), 0, "not set");
	cr_assert_eq(out, P(99));
	cr_assert_eq(urt_ctxvar_lookup(NULL, &out), -EINVAL);
	cr_assert_eq(urt_ctxvar_lookup(v, NULL), -EINVAL);
}

Test(ctx, set_null_is_set)
{
	urt_ctxvar *v = mkvar("d", P(99), NULL, 0);
	cr_assert_eq(urt_ctxvar_set(v, NULL, NULL), 0);
	void *out = P(1);
	cr_assert_eq(urt_ctxvar_lookup(v, &out), 1, "NULL is a value, not 'unset'");
	cr_assert_null(out);
	cr_assert_null(urt_ctxvar_get(v));
}

Test(ctx, variable_created_after_set)
{
	urt_ctxvar *a = mkvar("a", NULL, NULL, 0);
	cr_assert_eq(urt_ctxvar_set(a, P(1), NULL), 0);
	urt_ctxvar *b = mkvar("b", P(5), NULL, 0); /* id beyond the map */
	cr_assert_eq(urt_ctxvar_get(b), P(5));
	cr_assert_eq(urt_ctxvar_set(b, P(6), NULL), 0);
	cr_assert_eq(urt_ctxvar_get(b), P(6));
	cr_assert_eq(urt_ctxvar_get(a), P(1));
}

Test(ctx, sixty_four_variables)
{
	urt_ctxvar *v[64];
	for (int i = 0; i < 64; i++) {
		v[i] = mkvar("many", P(1000 + i), NULL, 0);
		cr_assert_eq(urt_ctxvar_set(v[i], P(i), NULL), 0);
	}
	urt_ctx *snap = urt_ctx_capture();
	for (int i = 0; i < 64; i += 2)
		cr_assert_eq(urt_ctxvar_set(v[i], P(i + 100), NULL), 0); /* copies once */
	for (int i = 0; i < 64; i++) {
		cr_assert_eq(urt_ctxvar_get(v[i]), P(i % 2 ? i : i + 100));
		void *out;
		cr_assert_eq(urt_ctx_lookup(snap, v[i], &out), 1);
		cr_assert_eq(out, P(i), "the captured copy did not change");
	}
	urt_ctx_release(snap);
}

/* ---- set / reset / tokens ---------------------------------------------- */

Test(ctx, set_reset_restores)
{
	urt_ctxvar *v = mkvar("r", P(3), NULL, 0);
	urt_ctx_token t1, t2;
	cr_assert_eq(urt_ctxvar_set(v, P(10), &t1), 0);
	cr_assert_eq(urt_ctxvar_set(v, P(20), &t2), 0);
	cr_assert_eq(urt_ctxvar_get(v), P(20));
	cr_assert_eq(urt_ctxvar_reset(v, &t2), 0);
	cr_assert_eq(urt_ctxvar_get(v), P(10));
	cr_assert_eq(urt_ctxvar_reset(v, &t1), 0);
	cr_assert_eq(urt_ctxvar_get(v), P(3));
	void *out;
	cr_assert_eq(urt_ctxvar_lookup(v, &out), 0, "back to not set, not merely the default");
}

Test(ctx, reset_out_of_order)
{
	/* like Python: a token restores the value from before its own set */
	urt_ctxvar *v = mkvar("r", NULL, NULL, 0);
	urt_ctx_token t1, t2;
	cr_assert_eq(urt_ctxvar_set(v, P(1), &t1), 0);
	cr_assert_eq(urt_ctxvar_set(v, P(2), &t2), 0);
	cr_assert_eq(urt_ctxvar_reset(v, &t1), 0);
	void *out;
	cr_assert_eq(urt_ctxvar_lookup(v, &out), 0);
	cr_assert_eq(urt_ctxvar_reset(v, &t2), 0);
	cr_assert_eq(urt_ctxvar_get(v), P(1));
}

Test(ctx, reset_bad_tokens)
{
	urt_ctxvar *v = mkvar("r", NULL, NULL, 0);
	urt_ctxvar *w = mkvar("w", NULL, NULL, 0);
	urt_ctx_token t, zero;
	memset(&zero, 0, sizeof zero);
	cr_assert_eq(urt_ctxvar_set(v, P(1), &t), 0);
	cr_assert_eq(urt_ctxvar_set(w, P(5), NULL), 0);
	cr_assert_eq(urt_ctxvar_reset(NULL, &t), -EINVAL);
	cr_assert_eq(urt_ctxvar_reset(v, NULL), -EINVAL);
	cr_assert_eq(urt_ctxvar_reset(w, &t), -EINVAL, "token of another variable");
	cr_assert_eq(urt_ctxvar_get(w), P(5), "nothing changed");
	cr_assert_eq(urt_ctxvar_reset(v, &zero), -EINVAL, "never armed");
	cr_assert_eq(urt_ctxvar_get(v), P(1));
	cr_assert_eq(urt_ctxvar_reset(v, &t), 0);
	cr_assert_eq(urt_ctxvar_set(v, P(2), NULL), 0);
	cr_assert_eq(urt_ctxvar_reset(v, &t), -EINVAL, "used twice");
	cr_assert_eq(urt_ctxvar_get(v), P(2), "nothing changed");
	cr_assert_eq(urt_ctx_token_drop(&t), -EINVAL, "used token cannot be dropped");
	cr_assert_eq(urt_ctx_token_drop(NULL), -EINVAL);
}

Test(ctx, set_null_var_invalidates_token)
{
	urt_ctxvar *v = mkvar("r", NULL, NULL, 0);
	urt_ctx_token t;
	cr_assert_eq(urt_ctxvar_set(v, P(1), &t), 0);
	cr_assert_eq(urt_ctxvar_set(NULL, P(1), &t), -EINVAL);
	cr_assert_eq(urt_ctxvar_reset(v, &t), -EINVAL, "a failed set leaves no usable token");
	cr_assert_eq(urt_ctxvar_get(v), P(1));
}

/* ---- destructors ------------------------------------------------------- */

Test(ctx, dtor_on_overwrite_and_reset)
{
	dtor_calls = 0;
	urt_ctxvar *v = mkvar("owned", P(0xdef), count_dtor, 0);
	cr_assert_eq(urt_ctxvar_set(v, P(1), NULL), 0);
	cr_assert_eq(urt_ctxvar_set(v, P(2), NULL), 0);
	cr_assert_eq(dtor_calls, 1);
	cr_assert_eq(dtor_last, P(1), "the overwritten value");
	urt_ctx_token t;
	cr_assert_eq(urt_ctxvar_set(v, P(3), &t), 0);
	cr_assert_eq(dtor_calls, 1, "the token keeps 2 alive");
	cr_assert_eq(urt_ctxvar_reset(v, &t), 0);
	cr_assert_eq(dtor_calls, 2);
	cr_assert_eq(dtor_last, P(3));
	cr_assert_eq(urt_ctxvar_get(v), P(2));
	cr_assert_eq(urt_ctxvar_set(v, NULL, NULL), 0);
	cr_assert_eq(dtor_calls, 3);
	cr_assert_eq(dtor_last, P(2));
	cr_assert_eq(urt_ctxvar_set(v, P(4), &t), 0);
	cr_assert_eq(dtor_calls, 3, "NULL is never destroyed");
	cr_assert_eq(urt_ctxvar_reset(v, &t), 0);
	cr_assert_eq(dtor_calls, 4);
	cr_assert_eq(urt_ctxvar_get(v), NULL);
	urt_ctx_token u;
	cr_assert_eq(urt_ctxvar_set(v, P(5), &u), 0);
	cr_assert_eq(urt_ctxvar_reset(v, &u), 0); /* back to NULL, then not set */
	cr_assert_eq(dtor_calls, 5);
	cr_assert_eq(dtor_last, P(5));
}

Test(ctx, dtor_waits_for_last_context)
{
	dtor_calls = 0;
	urt_ctxvar *v = mkvar("owned", NULL, count_dtor, 0);
	cr_assert_eq(urt_ctxvar_set(v, P(1), NULL), 0);
	urt_ctx *a = urt_ctx_capture();
	urt_ctx *b = urt_ctx_capture();
	cr_assert_eq(urt_ctxvar_set(v, P(2), NULL), 0);
	cr_assert_eq(dtor_calls, 0, "two captures still hold 1");
	urt_ctx_release(a);
	cr_assert_eq(dtor_calls, 0);
	cr_assert_eq(urt_ctx_retain(b), b);
	urt_ctx_release(b);
	cr_assert_eq(dtor_calls, 0, "b had two references");
	urt_ctx_release(b);
	cr_assert_eq(dtor_calls, 1);
	cr_assert_eq(dtor_last, P(1));
	urt_ctx_release(NULL);
	cr_assert_null(urt_ctx_retain(NULL));
}

Test(ctx, token_drop_releases_old_value)
{
	dtor_calls = 0;
	urt_ctxvar *v = mkvar("owned", NULL, count_dtor, 0);
	urt_ctx_token t;
	cr_assert_eq(urt_ctxvar_set(v, P(1), NULL), 0);
	cr_assert_eq(urt_ctxvar_set(v, P(2), &t), 0);
	cr_assert_eq(dtor_calls, 0);
	cr_assert_eq(urt_ctx_token_drop(&t), 0);
	cr_assert_eq(dtor_calls, 1);
	cr_assert_eq(dtor_last, P(1));
	cr_assert_eq(urt_ctxvar_reset(v, &t), -EINVAL, "dropped");
	cr_assert_eq(urt_ctxvar_get(v), P(2));
}

Test(ctx, default_never_destroyed)
{
	dtor_calls = 0;
	urt_ctxvar *v = mkvar("owned", P(77), count_dtor, 0);
	urt_ctx_token t;
	cr_assert_eq(urt_ctxvar_set(v, P(1), &t), 0);
	cr_assert_eq(urt_ctxvar_reset(v, &t), 0);
	cr_assert_eq(dtor_calls, 1);
	cr_assert_eq(dtor_last, P(1));
	urt_ctx *c = urt_ctx_capture();
	urt_ctx_release(c);
	cr_assert_eq(dtor_calls, 1);
}

/* ---- capture / run ----------------------------------------------------- */

static urt_ctxvar *run_var;

static void *run_body(void *arg)
{
	void *before = urt_ctxvar_get(run_var);
	cr_assert_eq(urt_ctxvar_set(run_var, arg, NULL), 0);
	return before;
}

Test(ctx, run_sets_stay_in_context)
{
	run_var = mkvar("run", P(0), NULL, 0);
	cr_assert_eq(urt_ctxvar_set(run_var, P(1), NULL), 0);
	urt_ctx *c = urt_ctx_capture();
	cr_assert_not_null(c);
	cr_assert_eq(urt_ctxvar_set(run_var, P(2), NULL), 0);
	void *res = NULL;
	cr_assert_eq(urt_ctx_run(c, run_body, P(3), &res), 0);
	cr_assert_eq(res, P(1), "fn saw c's value, not the caller's");
	cr_assert_eq(urt_ctxvar_get(run_var), P(2), "caller's context restored");
	void *out;
	cr_assert_eq(urt_ctx_lookup(c, run_var, &out), 1);
	cr_assert_eq(out, P(3), "the set inside stayed in c");
	cr_assert_eq(urt_ctx_run(c, run_body, P(4), &res), 0);
	cr_assert_eq(res, P(3), "a second run sees the first one's set");
	cr_assert_eq(urt_ctx_run(c, run_body, P(5), NULL), 0, "result may be NULL");
	urt_ctx_release(c);
}

Test(ctx, captures_are_independent)
{
	run_var = mkvar("run", P(0), NULL, 0);
	urt_ctx *a = urt_ctx_capture(), *b = urt_ctx_capture();
	cr_assert_neq(a, b);
	cr_assert_eq(urt_ctx_run(a, run_body, P(8), NULL), 0);
	void *out;
	cr_assert_eq(urt_ctx_lookup(b, run_var, &out), 0, "b untouched by a's run");
	cr_assert_eq(out, P(0));
	cr_assert_eq(urt_ctxvar_get(run_var), P(0));
	urt_ctx_release(a);
	urt_ctx_release(b);
}

static urt_ctx *nest_ctx;
static void *nest_same(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_ctx_run(nest_ctx, run_body, P(1), NULL);
}

Test(ctx, run_nested_same_is_busy)
{
	run_var = mkvar("run", NULL, NULL, 0);
	nest_ctx = urt_ctx_capture();
	void *res;
	cr_assert_eq(urt_ctx_run(nest_ctx, nest_same, NULL, &res), 0);
	cr_assert_eq((intptr_t)res, -EBUSY);
	void *out;
	cr_assert_eq(urt_ctx_lookup(nest_ctx, run_var, &out), 0, "the inner run did nothing");
	cr_assert_eq(urt_ctx_run(nest_ctx, run_body, P(2), NULL), 0, "free again afterwards");
	urt_ctx_release(nest_ctx);
}

static urt_ctx *inner_ctx;
static void *nest_other(void *arg)
{
	cr_assert_eq(urt_ctxvar_set(run_var, arg, NULL), 0);
	cr_assert_eq(urt_ctx_run(inner_ctx, run_body, P(20), NULL), 0);
	return urt_ctxvar_get(run_var);
}

Test(ctx, run_nested_other)
{
	run_var = mkvar("run", NULL, NULL, 0);
	urt_ctx *outer = urt_ctx_capture();
	inner_ctx = urt_ctx_capture();
	void *res;
	cr_assert_eq(urt_ctx_run(outer, nest_other, P(10), &res), 0);
	cr_assert_eq(res, P(10), "inner run did not leak into outer");
	void *out;
	cr_assert_eq(urt_ctx_lookup(inner_ctx, run_var, &out), 1);
	cr_assert_eq(out, P(20));
	cr_assert_eq(urt_ctx_lookup(outer, run_var, &out), 1);
	cr_assert_eq(out, P(10));
	cr_assert_null(urt_ctxvar_get(run_var));
	urt_ctx_release(outer);
	urt_ctx_release(inner_ctx);
}

static void *release_inside(void *arg)
{
	urt_ctx_release(arg); /* the caller's only reference */
	return urt_ctxvar_set(run_var, P(1), NULL) == 0 ? P(1) : NULL;
}

Test(ctx, run_survives_release_inside)
{
	run_var = mkvar("run", NULL, NULL, 0);
	urt_ctx *c = urt_ctx_capture();
	void *res;
	cr_assert_eq(urt_ctx_run(c, release_inside, c, &res), 0);
	cr_assert_eq(res, P(1));
}

Test(ctx, run_and_lookup_bad_input)
{
	run_var = mkvar("run", NULL, NULL, 0);
	urt_ctx *c = urt_ctx_capture();
	void *out;
	cr_assert_eq(urt_ctx_run(NULL, run_body, NULL, NULL), -EINVAL);
	cr_assert_eq(urt_ctx_run(c, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(urt_ctx_lookup(NULL, run_var, &out), -EINVAL);
	cr_assert_eq(urt_ctx_lookup(c, NULL, &out), -EINVAL);
	cr_assert_eq(urt_ctx_lookup(c, run_var, NULL), -EINVAL);
	urt_ctx_release(c);
}

static urt_ctx_token run_tok;
static void *set_with_token(void *arg)
{
	return (void *)(intptr_t)urt_ctxvar_set(run_var, arg, &run_tok);
}
static void *reset_outer_token(void *arg)
{
	return (void *)(intptr_t)urt_ctxvar_reset(run_var, arg);
}

Test(ctx, tokens_do_not_cross_run)
{
	run_var = mkvar("run", NULL, NULL, 0);
	urt_ctx *c = urt_ctx_capture();
	void *res;
	/* made inside the run, used outside: another context */
	cr_assert_eq(urt_ctx_run(c, set_with_token, P(1), &res), 0);
	cr_assert_eq((intptr_t)res, 0);
	cr_assert_eq(urt_ctxvar_reset(run_var, &run_tok), -EINVAL);
	/* even in a later run of the same context: the token belonged to that run */
	cr_assert_eq(urt_ctx_run(c, reset_outer_token, &run_tok, &res), 0);
	cr_assert_eq((intptr_t)res, -EINVAL);
	cr_assert_eq(urt_ctx_token_drop(&run_tok), 0);
	/* made outside, used inside */
	urt_ctx_token t;
	cr_assert_eq(urt_ctxvar_set(run_var, P(2), &t), 0);
	cr_assert_eq(urt_ctx_run(c, reset_outer_token, &t, &res), 0);
	cr_assert_eq((intptr_t)res, -EINVAL);
	cr_assert_eq(urt_ctxvar_get(run_var), P(2), "nothing changed");
	cr_assert_eq(urt_ctxvar_reset(run_var, &t), 0, "still good where it was made");
	cr_assert_null(urt_ctxvar_get(run_var));
	urt_ctx_release(c);
}

/* ---- what a spawned task gets (the core contract, checked directly) ---- */

Test(ctx, for_spawn_drops_no_inherit)
{
	dtor_calls = 0;
	urt_ctxvar *keep = mkvar("keep", NULL, NULL, 0);
	urt_ctxvar *mine = mkvar("mine", P(9), count_dtor, URT_CTXVAR_NO_INHERIT);
	cr_assert_eq(urt_ctxvar_set(keep, P(1), NULL), 0);
	cr_assert_eq(urt_ctxvar_set(mine, P(2), NULL), 0);
	cr_assert_eq(urt_ctxvar_set(keep, P(3), NULL), 0); /* after the no-inherit set */
	urt_ctx *child = urt__ctx_for_spawn(NULL);
	cr_assert_not_null(child);
	void *out;
	cr_assert_eq(urt_ctx_lookup(child, keep, &out), 1);
	cr_assert_eq(out, P(3));
	cr_assert_eq(urt_ctx_lookup(child, mine, &out), 0);
	cr_assert_eq(out, P(9));
	cr_assert_eq(urt_ctxvar_get(mine), P(2), "the spawner still has it");
	cr_assert_eq(urt_ctxvar_set(keep, P(4), NULL), 0);
	cr_assert_eq(urt_ctx_lookup(child, keep, &out), 1);
	cr_assert_eq(out, P(3), "a snapshot");
	urt_ctx *child2 = urt__ctx_for_spawn(NULL);
	cr_assert_eq(urt_ctx_lookup(child2, keep, &out), 1);
	cr_assert_eq(out, P(4));

	/* explicit context: everything, the no-inherit ones included */
	urt_ctx *c = urt_ctx_capture();
	urt_ctx *child3 = urt__ctx_for_spawn(c);
	cr_assert_eq(urt_ctx_lookup(child3, mine, &out), 1);
	cr_assert_eq(out, P(2));

	/* the last no-inherit value gone: children get the full map again */
	urt_ctx_token t;
	cr_assert_eq(urt_ctxvar_set(mine, P(5), &t), 0);
	cr_assert_eq(urt_ctx_token_drop(&t), 0);
	cr_assert_eq(dtor_calls, 0, "c and child3 still hold 2");
	urt_ctx_release(c);
	urt_ctx_release(child3);
	cr_assert_eq(dtor_calls, 1);
	urt_ctx_token u;
	cr_assert_eq(urt_ctxvar_set(keep, P(6), &u), 0);
	cr_assert_eq(urt_ctxvar_reset(keep, &u), 0);
	urt_ctx *child4 = urt__ctx_for_spawn(NULL);
	cr_assert_eq(urt_ctx_lookup(child4, mine, &out), 0);
	cr_assert_eq(urt_ctx_lookup(child4, keep, &out), 1);
	cr_assert_eq(out, P(4));
	urt_ctx_release(child);
	urt_ctx_release(child2);
	urt_ctx_release(child4);
	cr_assert_eq(urt_ctxvar_set(mine, NULL, NULL), 0);
	cr_assert_eq(dtor_calls, 2);
}

Test(ctx, for_spawn_empty_never_null)
{
	urt_ctx *c = urt__ctx_for_spawn(NULL);
	cr_assert_not_null(c);
	urt_ctx_release(c);
}

/* ---- log fields -------------------------------------------------------- */

Test(ctx, log_fields)
{
	urt_ctxvar *req = mkvar("req", NULL, NULL, URT_CTXVAR_LOG_STRING);
	urt_ctxvar *plain = mkvar("plain", P(5), NULL, 0);
	urt_ctxvar *n = mkvar("n", NULL, NULL, URT_CTXVAR_LOG_INT);
	urt_ctxvar *region = mkvar("region", "eu", NULL, URT_CTXVAR_LOG_STRING);
	(void)plain;
	(void)region;
	struct urt_ctx_field f[8];
	cr_assert_eq(urt__ctx_log_fields(f, 8), 1, "only the non-NULL default");
	cr_assert_str_eq(f[0].name, "region");
	cr_assert_eq(f[0].kind, URT_CTXVAR_LOG_STRING);
	cr_assert_str_eq((const char *)f[0].value, "eu");

	cr_assert_eq(urt_ctxvar_set(n, P(0), NULL), 0); /* 0 is a set integer */
	cr_assert_eq(urt_ctxvar_set(req, "r-17", NULL), 0);
	cr_assert_eq(urt__ctx_log_fields(f, 8), 3);
	cr_assert_str_eq(f[0].name, "req");
	cr_assert_str_eq((const char *)f[0].value, "r-17");
	cr_assert_str_eq(f[1].name, "n");
	cr_assert_eq(f[1].kind, URT_CTXVAR_LOG_INT);
	cr_assert_eq(f[1].value, 0);
	cr_assert_str_eq(f[2].name, "region");
	cr_assert_eq(urt__ctx_log_fields(f, 2), 2, "max respected");
	cr_assert_eq(urt__ctx_log_fields(f, 0), 0);

	cr_assert_eq(urt_ctxvar_set(req, NULL, NULL), 0); /* a NULL string is no field */
	cr_assert_eq(urt__ctx_log_fields(f, 8), 2);
	cr_assert_str_eq(f[0].name, "n");
}

/* ---- allocation failures ----------------------------------------------- */

Test(ctx, enomem_leaves_state_intact)
{
	dtor_calls = 0;
	urt_ctxvar *v = mkvar("owned", NULL, count_dtor, 0);
	urt_ctxvar *loc = mkvar("local", NULL, NULL, URT_CTXVAR_NO_INHERIT);
	urt_ctxvar *w = mkvar("plain", P(0), NULL, 0);
	int failures = 0, v_sets = 0;
	void *wexp = P(0);
	for (int n = 1; n <= 12; n++) {
		urt_ctx *hold = urt_ctx_capture(); /* forces copies on write */
		cr_assert_not_null(hold);
		urt__ctx_fail_alloc_at = n;
		urt_ctx_token t;
		int r = urt_ctxvar_set(v, P(100 + n), &t);
		if (r == 0) {
			int r2 = urt_ctxvar_set(loc, P(n), NULL);
			int r3 = urt_ctxvar_set(w, P(n), NULL);
			cr_assert(r2 == 0 || r2 == -ENOMEM);
			cr_assert(r3 == 0 || r3 == -ENOMEM);
			failures += (r2 < 0) + (r3 < 0);
			if (r3 == 0)
				wexp = P(n);
			cr_assert_eq(urt_ctxvar_get(w), wexp, "a failed set changed nothing");
			urt__ctx_fail_alloc_at = 0;
			v_sets++;
			cr_assert_eq(urt_ctxvar_reset(v, &t), 0);
			cr_assert_eq(dtor_calls, v_sets);
			cr_assert_eq(urt_ctxvar_set(w, P(n), NULL), 0);
			wexp = P(n);
		} else {
			failures++;
			cr_assert_eq(r, -ENOMEM);
			cr_assert_eq(urt_ctxvar_reset(v, &t), -EINVAL, "no token from a failed set");
			cr_assert_null(urt_ctxvar_get(v), "nothing changed");
			urt__ctx_fail_alloc_at = 0;
			cr_assert_eq(urt_ctxvar_set(w, P(n), NULL), 0);
			wexp = P(n);
		}
		urt_ctx_release(hold);
	}
	cr_assert_gt(failures, 2, "the seam did inject failures");
	cr_assert_gt(v_sets, 2, "and some sets got through");
	cr_assert_eq(dtor_calls, v_sets, "each value that was set destroyed exactly once");
	cr_assert_eq(urt_ctxvar_set(loc, NULL, NULL), 0);
	/* every value set on v was destroyed once, by reset (failed sets own nothing) */
	void *out;
	cr_assert_eq(urt_ctxvar_lookup(v, &out), 0);
	urt__ctx_fail_alloc_at = 1;
	cr_assert_null(urt_ctx_capture(), "capture reports ENOMEM as NULL");
	urt_ctxvar *x = (urt_ctxvar *)1;
	urt__ctx_fail_alloc_at = 1;
	cr_assert_eq(urt_ctxvar_create(&x, "x", NULL, NULL, 0), -ENOMEM);
	cr_assert_null(x);
}
