/* Tasks: spawn, join, detach, names, ids, stacks, yield order, misuse, and
 * a stack overflow that stops the process naming the task. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

static void *times_two(void *arg)
{
	return (void *)((intptr_t)arg * 2);
}

static void *nothing(void *arg)
{
	(void)arg;
	return NULL;
}

/* ---- spawn / join ------------------------------------------------------- */

static void *spawn_join_main(void *arg)
{
	(void)arg;
	urt_task *t = NULL;
	cr_assert_eq(urt_spawn(&t, times_two, (void *)21, NULL), 0);
	cr_assert_not_null(t);
	void *res = NULL;
	cr_expect_eq(urt_join(t, &res), 0);
	cr_expect_eq((intptr_t)res, 42);
	/* result pointer may be NULL */
	cr_assert_eq(urt_spawn(&t, times_two, (void *)1, NULL), 0);
	cr_expect_eq(urt_join(t, NULL), 0);
	/* a zeroed opts struct means defaults */
	urt_task_opts o;
	memset(&o, 0, sizeof o);
	cr_assert_eq(urt_spawn(&t, times_two, (void *)5, &o), 0);
	cr_expect_eq(urt_join(t, &res), 0);
	cr_expect_eq((intptr_t)res, 10);
	cr_expect_eq(urt_spawn(&t, NULL, NULL, NULL), -EINVAL, "NULL fn");
	cr_expect_eq(urt_spawn(NULL, NULL, NULL, NULL), -EINVAL);
	return NULL;
}

Test(task, spawn_join_result, .timeout = 10)
{
	urt_test_run(spawn_join_main, NULL);
}

/* Spawn does not run the child: it starts on a later tick. */
static int g_flag;

static void *set_flag(void *arg)
{
	(void)arg;
	g_flag = 1;
	return NULL;
}

static void *starts_later_main(void *arg)
{
	(void)arg;
	urt_task *t;
	g_flag = 0;
	cr_assert_eq(urt_spawn(&t, set_flag, NULL, NULL), 0);
	cr_expect_eq(g_flag, 0, "the child ran inside urt_spawn");
	cr_expect_eq(urt_join(t, NULL), 0);
	cr_expect_eq(g_flag, 1);
	return NULL;
}

Test(task, starts_on_a_later_tick, .timeout = 10)
{
	urt_test_run(starts_later_main, NULL);
}

static void *detached_main(void *arg)
{
	(void)arg;
	g_flag = 0;
	cr_assert_eq(urt_spawn(NULL, set_flag, NULL, NULL), 0);
	return NULL;
}

Test(task, spawn_detached_runs, .timeout = 10)
{
	urt_test_run(detached_main, NULL);
	cr_expect_eq(g_flag, 1, "a detached task never ran");
}

/* ---- join / detach misuse ----------------------------------------------- */

static void *join_self(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_join(urt_self(), NULL);
}

static void *misuse_main(void *arg)
{
	(void)arg;
	urt_task *t;
	void *res = NULL;
	/* join self, from main and from a child */
	cr_expect_eq(urt_join(urt_self(), NULL), -EDEADLK);
	cr_assert_eq(urt_spawn(&t, join_self, NULL, NULL), 0);
	cr_expect_eq(urt_join(t, &res), 0);
	cr_expect_eq((intptr_t)res, -EDEADLK);

	/* join twice */
	cr_assert_eq(urt_spawn(&t, nothing, NULL, NULL), 0);
	cr_expect_eq(urt_join(t, NULL), 0);
	cr_expect_eq(urt_join(t, NULL), -EINVAL, "second join of the same task");

	/* join a detached task; detach twice (before it ever ran) */
	cr_assert_eq(urt_spawn(&t, nothing, NULL, NULL), 0);
	cr_expect_eq(urt_detach(t), 0);
	cr_expect_eq(urt_join(t, NULL), -EINVAL, "join of a detached task");
	cr_expect_eq(urt_detach(t), -EINVAL, "detach twice");

	/* detach after join */
	cr_assert_eq(urt_spawn(&t, nothing, NULL, NULL), 0);
	cr_expect_eq(urt_join(t, NULL), 0);
	cr_expect_eq(urt_detach(t), -EINVAL, "detach of a joined task");

	cr_expect_eq(urt_join(NULL, NULL), -EINVAL);
	cr_expect_eq(urt_detach(NULL), -EINVAL);
	return NULL;
}

Test(task, join_detach_misuse, .timeout = 10)
{
	urt_test_run(misuse_main, NULL);
}

/* Two joiners: the first claims the task, the second is refused. */
static urt_task *g_target;

static void *sleeper_5ms(void *arg)
{
	(void)arg;
	urt_sleep(5 * URT_NS_PER_MS);
	return (void *)(intptr_t)77;
}

static void *joiner(void *arg)
{
	(void)arg;
	void *res = NULL;
	int r = urt_join(g_target, &res);
	return (void *)(intptr_t)(r == 0 ? (intptr_t)res : r);
}

static void *two_joiners_main(void *arg)
{
	(void)arg;
	urt_task *j1, *j2;
	cr_assert_eq(urt_spawn(&g_target, sleeper_5ms, NULL, NULL), 0);
	cr_assert_eq(urt_spawn(&j1, joiner, NULL, NULL), 0);
	cr_assert_eq(urt_spawn(&j2, joiner, NULL, NULL), 0);
	void *r1, *r2;
	cr_expect_eq(urt_join(j1, &r1), 0);
	cr_expect_eq(urt_join(j2, &r2), 0);
	cr_expect_eq((intptr_t)r1, 77, "first joiner");
	cr_expect_eq((intptr_t)r2, -EINVAL, "second joiner of a claimed task");
	return NULL;
}

Test(task, second_joiner_einval, .timeout = 10)
{
	urt_test_run(two_joiners_main, NULL);
}

/* Detaching a task somebody waits on with wait_all must not lose it:
 * detach while it is still running, then it finishes on its own. */
static void *detach_running_main(void *arg)
{
	(void)arg;
	urt_task *t;
	g_flag = 0;
	cr_assert_eq(urt_spawn(&t, sleeper_5ms, NULL, NULL), 0);
	urt_yield();
	cr_expect_eq(urt_detach(t), 0);
	return NULL;
}

Test(task, detach_while_parked, .timeout = 10)
{
	urt_test_run(detach_running_main, NULL);
}

/* ---- names and ids ------------------------------------------------------ */

static void *name_of_self(void *arg)
{
	(void)arg;
	return (void *)urt_task_name(urt_self());
}

static void *names_main(void *arg)
{
	(void)arg;
	char buf[64];
	urt_task *t;
	urt_task_opts o;
	memset(&o, 0, sizeof o);

	cr_assert_eq(urt_spawn(&t, nothing, NULL, NULL), 0);
	cr_expect_str_eq(urt_task_name(t), "task", "opts NULL");
	urt_join(t, NULL);

	cr_assert_eq(urt_spawn(&t, nothing, NULL, &o), 0);
	cr_expect_str_eq(urt_task_name(t), "task", "name NULL");
	urt_join(t, NULL);

	strcpy(buf, "worker-1");
	o.name = buf;
	cr_assert_eq(urt_spawn(&t, name_of_self, NULL, &o), 0);
	strcpy(buf, "clobbered"); /* the name is copied */
	cr_expect_str_eq(urt_task_name(t), "worker-1");
	void *res = NULL;
	urt_join(t, &res);
	cr_expect_str_eq((const char *)res, "worker-1");

	memset(buf, 'n', 40);
	buf[40] = '\0';
	cr_assert_eq(urt_spawn(&t, nothing, NULL, &o), 0);
	const char *n = urt_task_name(t);
	cr_expect_eq(strlen(n), 31, "long names keep 31 bytes, got %zu", strlen(n));
	cr_expect_eq(strncmp(n, buf, 31), 0);
	urt_join(t, NULL);

	o.name = "";
	cr_assert_eq(urt_spawn(&t, nothing, NULL, &o), 0);
	cr_expect_str_eq(urt_task_name(t), "");
	urt_join(t, NULL);

	cr_expect_not_null(urt_task_name(urt_self()));
	return NULL;
}

Test(task, names, .timeout = 10)
{
	urt_test_run(names_main, NULL);
}

static void *ids_main(void *arg)
{
	(void)arg;
	enum { N = 200 };
	static urt_task *ts[N];
	static uint64_t ids[N + 1];
	for (int i = 0; i < N; i++) {
		cr_assert_eq(urt_spawn(&ts[i], nothing, NULL, NULL), 0);
		ids[i] = urt_task_id(ts[i]);
	}
	ids[N] = urt_task_id(urt_self());
	for (int i = 0; i <= N; i++) {
		cr_expect_gt(ids[i], 0);
		for (int j = 0; j < i; j++)
			cr_expect_neq(ids[i], ids[j], "ids %d and %d are equal", i, j);
	}
	for (int i = 0; i < N; i++)
		urt_join(ts[i], NULL);
	/* records are reused, ids are not */
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, nothing, NULL, NULL), 0);
	uint64_t id = urt_task_id(t);
	for (int i = 0; i <= N; i++)
		cr_expect_neq(id, ids[i], "a reused record kept an old id");
	urt_join(t, NULL);
	return (void *)(uintptr_t)ids[N];
}

Test(task, ids_unique_positive, .timeout = 10)
{
	uint64_t a = (uintptr_t)urt_test_run(ids_main, NULL);
	uint64_t b = (uintptr_t)urt_test_run(ids_main, NULL);
	cr_expect_neq(a, b, "ids are unique per process, across loops");
}

/* ---- stacks ------------------------------------------------------------- */

static volatile int g_sink;

__attribute__((noinline)) static int recurse(int depth)
{
	volatile char pad[512];
	pad[0] = (char)depth;
	pad[511] = (char)depth;
	if (depth == 0)
		return pad[0];
	int r = recurse(depth - 1);
	g_sink = pad[511];
	return r + 1;
}

static void *deep(void *arg)
{
	int depth = (int)(intptr_t)arg;
	return (void *)(intptr_t)recurse(depth);
}

static void *big_stack_main(void *arg)
{
	(void)arg;
	urt_task_opts o;
	memset(&o, 0, sizeof o);
	o.stack_size = 4u << 20;
	o.name = "deep";
	urt_task *t;
	/* ~3 MiB of frames: far beyond the 64 KiB default */
	cr_assert_eq(urt_spawn(&t, deep, (void *)(intptr_t)5000, &o), 0);
	void *res = NULL;
	cr_expect_eq(urt_join(t, &res), 0);
	cr_expect_eq((intptr_t)res, 5000);

	/* a big local array in a task with a custom stack */
	o.stack_size = 256u << 10;
	cr_assert_eq(urt_spawn(&t, deep, (void *)(intptr_t)200, &o), 0);
	cr_expect_eq(urt_join(t, &res), 0);
	cr_expect_eq((intptr_t)res, 200);
	return NULL;
}

Test(task, custom_stack_deep_recursion, .timeout = 10)
{
	urt_test_run(big_stack_main, NULL);
}

static void *default_stack_main(void *arg)
{
	(void)arg;
	urt_task *t;
	/* ~40 KiB of frames fit the 64 KiB default */
	cr_assert_eq(urt_spawn(&t, deep, (void *)(intptr_t)60, NULL), 0);
	void *res = NULL;
	cr_expect_eq(urt_join(t, &res), 0);
	cr_expect_eq((intptr_t)res, 60);
	return NULL;
}

/* A stack size whose rounding to pages would wrap is -ENOMEM, not a
 * mapping that is all guard page. */
static void *huge_stack(void *arg)
{
	(void)arg;
	urt_task *t;
	cr_expect_eq(urt_spawn(&t, nothing, NULL, &(urt_task_opts){.stack_size = SIZE_MAX - 100}), -ENOMEM);
	cr_expect_eq(urt_spawn(&t, nothing, NULL, &(urt_task_opts){.stack_size = SIZE_MAX}), -ENOMEM);
	return NULL;
}

Test(task, huge_stack_size_enomem, .timeout = 10)
{
	urt_test_run(huge_stack, NULL);
	cr_expect_eq(urt_run(nothing, NULL, &(urt_config){.stack_size = SIZE_MAX}, NULL), -ENOMEM);
}

Test(task, config_stack_size, .timeout = 10)
{
	urt_config cfg;
	memset(&cfg, 0, sizeof cfg);
	urt_test_run_cfg(default_stack_main, NULL, &cfg);
	cfg.stack_size = 1u << 20; /* the loop's default for every task */
	cfg.stack_pool = 2;
	urt_test_run_cfg(big_stack_main, NULL, &cfg);
}

/* A task that recurses without bound must stop the process with a message
 * naming the task, not corrupt memory silently. */
static volatile int g_stop;

__attribute__((noinline)) static int unbounded(int n)
{
	volatile char pad[256];
	pad[0] = (char)n;
	if (g_stop)
		return pad[0];
	return unbounded(n + 1) + pad[0];
}

static void *overflow_task(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)unbounded(0);
}

static void *overflow_main(void *arg)
{
	(void)arg;
	urt_task_opts o;
	memset(&o, 0, sizeof o);
	o.name = "overflower-7";
	urt_task *t;
	if (urt_spawn(&t, overflow_task, NULL, &o) == 0)
		urt_join(t, NULL);
	return NULL;
}

Test(task, stack_overflow_names_the_task, .timeout = 20)
{
	int errp[2];
	cr_assert_eq(pipe(errp), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(errp[1], 2);
		close(errp[0]);
		close(errp[1]);
		urt_run(overflow_main, NULL, NULL, NULL);
		_exit(0); /* reaching this is the failure */
	}
	close(errp[1]);
	char out[8192];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof out - 1 && (k = read(errp[0], out + n, sizeof out - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(errp[0]);
	int st = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFSIGNALED(st), "child was not killed by a signal (status %#x); stderr:\n%s", st, out);
	if (WIFSIGNALED(st))
		cr_expect(WTERMSIG(st) == SIGABRT || WTERMSIG(st) == SIGSEGV, "signal %d", WTERMSIG(st));
	cr_expect_not_null(strstr(out, "overflower-7"), "stderr does not name the task:\n%s", out);
}

/* ---- yield -------------------------------------------------------------- */

static char g_trace[64];
static size_t g_ntrace;

static void *tracer(void *arg)
{
	char c = (char)(intptr_t)arg;
	for (int i = 0; i < 3; i++) {
		g_trace[g_ntrace++] = c;
		cr_expect_eq(urt_yield(), 0);
	}
	return NULL;
}

static void *yield_main(void *arg)
{
	(void)arg;
	urt_task *t[3];
	g_ntrace = 0;
	memset(g_trace, 0, sizeof g_trace);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(urt_spawn(&t[i], tracer, (void *)(intptr_t)('A' + i), NULL), 0);
	for (int i = 0; i < 3; i++)
		urt_join(t[i], NULL);
	cr_expect_str_eq(g_trace, "ABCABCABC", "ready tasks must run in FIFO order");

	/* the yielder lets every other ready task run once, then resumes */
	g_ntrace = 0;
	memset(g_trace, 0, sizeof g_trace);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(urt_spawn(&t[i], tracer, (void *)(intptr_t)('a' + i), NULL), 0);
	g_trace[g_ntrace++] = 'M';
	cr_expect_eq(urt_yield(), 0);
	g_trace[g_ntrace++] = 'M';
	cr_expect_str_eq(g_trace, "MabM");
	for (int i = 0; i < 2; i++)
		urt_join(t[i], NULL);
	cr_expect_str_eq(g_trace, "MabMabab");

	/* yield with nothing else ready returns at once */
	cr_expect_eq(urt_yield(), 0);
	return NULL;
}

Test(task, yield_fifo, .timeout = 10)
{
	urt_test_run(yield_main, NULL);
}

Test(task, outside_a_loop)
{
	urt_task *t = NULL;
	cr_expect_eq(urt_spawn(&t, nothing, NULL, NULL), -EPERM);
	cr_expect_eq(urt_spawn(NULL, nothing, NULL, NULL), -EPERM);
	cr_expect_eq(urt_yield(), -EPERM);
	cr_expect_null(urt_self());
}

/* Many short-lived tasks: records and stacks are pooled, nothing leaks. */
static void *churn_main(void *arg)
{
	(void)arg;
	for (int round = 0; round < 20; round++) {
		urt_task *ts[100];
		for (int i = 0; i < 100; i++)
			cr_assert_eq(urt_spawn(&ts[i], times_two, (void *)(intptr_t)i, NULL), 0);
		for (int i = 0; i < 100; i++) {
			void *res;
			cr_assert_eq(urt_join(ts[i], &res), 0);
			cr_assert_eq((intptr_t)res, 2 * i);
		}
	}
	return NULL;
}

Test(task, churn, .timeout = 10)
{
	urt_test_run(churn_main, NULL);
}

/* ---- yield's hand-over ------------------------------------------------- */

/* A task that finishes hands the loop to the next ready one; when that
 * one was suspended in urt_yield, the switch itself releases the finished
 * task's stack (urt_yield tail-calls the switch). Here 100 tasks suspended
 * in urt_yield end one after the other, each handing over to the next: a
 * stack not released there would stay mapped (the next exit overwrites
 * the loop's one "dead" slot), and urt_test_run checks the mappings are
 * back to where they were. */
static int g_quick;

static void *yield_once(void *arg)
{
	(void)arg;
	cr_assert_eq(urt_yield(), 0);
	g_quick++;
	return NULL;
}

static void *exits_into_yield_main(void *arg)
{
	(void)arg;
	urt_task *t[100];
	g_quick = 0;
	for (int round = 0; round < 3; round++) {
		/* joined ones (freed by the join) and detached ones (freed
		 * with the stack) */
		for (int i = 0; i < 100; i++)
			cr_assert_eq(urt_spawn(i % 2 ? &t[i] : NULL, yield_once, NULL, NULL), 0);
		cr_assert_eq(urt_yield(), 0); /* each runs up to its yield */
		cr_assert_eq(urt_yield(), 0); /* each returns and ends */
		cr_assert_eq(g_quick, 100 * (round + 1));
		for (int i = 1; i < 100; i += 2)
			cr_assert_eq(urt_join(t[i], NULL), 0);
	}
	urt_loop_stats st;
	cr_assert_eq(urt_loop_stats_get(NULL, &st), 0);
	cr_expect_eq(st.alive, 1, "only main is left");
	return NULL;
}

Test(task, exits_into_yielders_release_stacks, .timeout = 20)
{
	urt_test_run(exits_into_yield_main, NULL);
}

/* Cancel a task while it waits in the ready queue inside urt_yield: the
 * hand-over that resumes it returns -ECANCELED, from then on; the
 * canceller's own yields still return 0. */
static int g_yres[8];

static void *yield_victim(void *arg)
{
	(void)arg;
	for (int i = 0; i < 8; i++)
		g_yres[i] = urt_yield();
	return NULL;
}

static void *cancel_queued_main(void *arg)
{
	(void)arg;
	urt_task *v;
	memset(g_yres, 0x55, sizeof g_yres);
	cr_assert_eq(urt_spawn(&v, yield_victim, NULL, NULL), 0);
	cr_assert_eq(urt_yield(), 0); /* v runs up to its first yield, hands back */
	cr_assert_eq(urt_yield(), 0); /* its first yield returned 0, it yields again */
	cr_expect_eq(g_yres[0], 0);
	cr_assert_eq(urt_cancel(v), 0); /* v is queued, inside urt_yield */
	cr_expect_eq(urt_yield(), 0, "the canceller is not cancelled");
	cr_expect_eq(g_yres[1], -ECANCELED, "the hand-over resumed a cancelled yield");
	cr_expect_eq(urt_join(v, NULL), -ECANCELED);
	for (int i = 2; i < 8; i++)
		cr_expect_eq(g_yres[i], -ECANCELED, "yield %d", i);
	return NULL;
}

Test(task, yield_cancelled_while_queued, .timeout = 10)
{
	urt_test_run(cancel_queued_main, NULL);
}

/* Tasks that only yield (to each other, or alone) must still let the loop
 * poll: the timer of a sleeping task fires and ends the spin. With no
 * budget on hand-overs this would spin forever (the test's timeout). */
static volatile int g_woke;

static void *sleeper(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_sleep(URT_NS_PER_MS), 0);
	g_woke = 1;
	return NULL;
}

static void *spinner(void *arg)
{
	(void)arg;
	while (!g_woke)
		cr_assert_eq(urt_yield(), 0);
	return NULL;
}

static void *yielders_poll_main(void *arg)
{
	int n = (int)(intptr_t)arg;
	urt_task *s, *y[2];
	g_woke = 0;
	cr_assert_eq(urt_spawn(&s, sleeper, NULL, NULL), 0);
	for (int i = 0; i < n; i++)
		cr_assert_eq(urt_spawn(&y[i], spinner, NULL, NULL), 0);
	cr_assert_eq(urt_join(s, NULL), 0);
	for (int i = 0; i < n; i++)
		cr_assert_eq(urt_join(y[i], NULL), 0);
	return NULL;
}

Test(task, yield_ping_pong_lets_the_loop_poll, .timeout = 20)
{
	urt_test_run(yielders_poll_main, (void *)2);
}

Test(task, yield_alone_lets_the_loop_poll, .timeout = 20)
{
	urt_test_run(yielders_poll_main, (void *)1);
}
