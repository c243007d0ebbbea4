/* Cross-thread submission: urt_submit / urt_call_soon from plain threads
 * and from other loops (inbox and MSG_RING), futures with timeouts and
 * cancellation, submissions to closed loops. URT_TEST_THREADS. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "urt_ctx.h"
#include "urt_offload.h"

#define MS URT_NS_PER_MS

/* Generous real-time bound for a condition another thread makes true:
 * long enough for any loaded machine, short of the tests' timeouts. */
#define WAIT_MS 8000

/* A loop on its own thread whose main task lives until told to stop (it
 * polls: a loop cannot know that foreign threads will still submit). */
typedef struct loop_thread {
	pthread_t th;
	_Atomic(urt_loop *) loop;
	atomic_int stop;
	int rc;
} loop_thread;

static void *serve_main(void *arg)
{
	loop_thread *lt = arg;
	atomic_store(&lt->loop, urt_loop_current());
	while (!atomic_load(&lt->stop))
		urt_sleep(MS);
	return NULL;
}

static void *loop_thread_fn(void *arg)
{
	loop_thread *lt = arg;
	lt->rc = urt_run(serve_main, lt, NULL, NULL);
	return NULL;
}

static urt_loop *loop_start(loop_thread *lt)
{
	atomic_store(&lt->loop, NULL);
	atomic_store(&lt->stop, 0);
	cr_assert_eq(pthread_create(&lt->th, NULL, loop_thread_fn, lt), 0);
	while (!atomic_load(&lt->loop))
		usleep(200);
	return atomic_load(&lt->loop);
}

static void loop_stop(loop_thread *lt)
{
	atomic_store(&lt->stop, 1);
	pthread_join(lt->th, NULL);
	cr_expect_eq(lt->rc, 0, "loop: %s", urt_strerror(lt->rc));
}

static void run_here(urt_task_fn fn)
{
	urt_test_baseline b = urt_test_baseline_take();
	int r = urt_run(fn, NULL, NULL, NULL);
	cr_assert_eq(r, 0, "urt_run: %s", urt_strerror(r));
	urt_test_fds_threads_check(b);
}

static void *add_one(void *arg)
{
	cr_assert_not_null(urt_self(), "runs as a task");
	return (void *)((intptr_t)arg + 1);
}

static urt_ctxvar *who;

static void *read_ctx(void *arg)
{
	(void)arg;
	void *v = urt_ctxvar_get(who);
	urt_ctxvar_set(who, (void *)"task", NULL);
	return v;
}

Test(submit, from_a_plain_thread, .timeout = 10)
{
	urt_test_baseline b = urt_test_baseline_take();
	cr_assert_eq(urt_ctxvar_create(&who, "who", NULL, NULL, 0), 0);
	loop_thread lt;
	urt_loop *l = loop_start(&lt);
	urt_future *f;
	cr_assert_eq(urt_submit(l, add_one, (void *)41, &f), 0);
	void *res;
	cr_expect_eq(urt_future_wait(f, UINT64_MAX, &res), 0);
	cr_expect_eq((intptr_t)res, 42);
	cr_expect_eq(urt_future_wait(f, UINT64_MAX, &res), -EINVAL, "waiting twice");
	urt_future_release(f);
	/* the submitter's context goes along, and the task's sets stay there */
	cr_assert_eq(urt_ctxvar_set(who, (void *)"submitter", NULL), 0);
	cr_assert_eq(urt_submit(l, read_ctx, NULL, &f), 0);
	cr_expect_eq(urt_future_wait(f, UINT64_MAX, &res), 0);
	cr_expect_str_eq((char *)res, "submitter");
	cr_expect_str_eq((char *)urt_ctxvar_get(who), "submitter");
	urt_future_release(f);
	loop_stop(&lt);
	urt_test_fds_threads_check(b);
}

Test(submit, bad_input, .timeout = 10)
{
	urt_future *f = NULL;
	cr_expect_eq(urt_submit(NULL, add_one, NULL, &f), -EINVAL);
	cr_expect_eq(urt_call_soon(NULL, add_one, NULL), -EINVAL);
	loop_thread lt;
	urt_loop *l = loop_start(&lt);
	cr_expect_eq(urt_submit(l, NULL, NULL, &f), -EINVAL);
	cr_expect_eq(urt_call_soon(l, NULL, NULL), -EINVAL);
	cr_expect_null(f);
	loop_stop(&lt);
}

Test(submit, after_close_is_refused, .timeout = 10)
{
	loop_thread lt;
	urt_loop *l = loop_start(&lt);
	loop_stop(&lt);
	urt_future *f = (urt_future *)0x1;
	cr_expect_eq(urt_submit(l, add_one, NULL, &f), -ESHUTDOWN);
	cr_expect_null(f);
	cr_expect_eq(urt_call_soon(l, add_one, NULL), -ESHUTDOWN);
}

/* ---- 8 threads x 10,000 submissions (1,000 under TSan) ----------------------- */

#define SUBMITTERS 8
#ifdef __SANITIZE_THREAD__
/* TSan runs this 10-20x slower: 80,000 round trips took 250 s of the 300 s
 * ctest limit on a loaded 2-CPU machine. A tenth still races 8 threads. */
#define PER_THREAD 1000
#else
#define PER_THREAD 10000
#endif
#define WINDOW 64

static atomic_long ran;

static void *count_job(void *arg)
{
	atomic_fetch_add(&ran, 1);
	return arg;
}

typedef struct submitter {
	pthread_t th;
	urt_loop *loop;
	long sum;      /* of the results it got back */
	int errors;
} submitter;

static void *submitter_fn(void *arg)
{
	submitter *s = arg;
	urt_future *win[WINDOW];
	for (int base = 0; base < PER_THREAD; base += WINDOW) {
		int n = PER_THREAD - base < WINDOW ? PER_THREAD - base : WINDOW;
		for (int i = 0; i < n; i++)
			if (urt_submit(s->loop, count_job, (void *)(intptr_t)(base + i), &win[i]) != 0)
				s->errors++, win[i] = NULL;
		for (int i = 0; i < n; i++) {
			void *res;
			if (!win[i])
				continue;
			if (urt_future_wait(win[i], 10 * URT_NS_PER_SEC, &res) == 0)
				s->sum += (intptr_t)res;
			else
				s->errors++;
			urt_future_release(win[i]);
		}
	}
	return NULL;
}

Test(submit, eight_threads_ten_thousand_each, .timeout = 60)
{
	urt_test_baseline b = urt_test_baseline_take();
	atomic_store(&ran, 0);
	loop_thread lt;
	urt_loop *l = loop_start(&lt);
	submitter s[SUBMITTERS] = {0};
	for (int i = 0; i < SUBMITTERS; i++) {
		s[i].loop = l;
		cr_assert_eq(pthread_create(&s[i].th, NULL, submitter_fn, &s[i]), 0);
	}
	long want = (long)PER_THREAD * (PER_THREAD - 1) / 2;
	for (int i = 0; i < SUBMITTERS; i++) {
		pthread_join(s[i].th, NULL);
		cr_expect_eq(s[i].errors, 0, "thread %d: %d errors", i, s[i].errors);
		cr_expect_eq(s[i].sum, want, "thread %d: sum %ld", i, s[i].sum);
	}
	cr_expect_eq(atomic_load(&ran), (long)SUBMITTERS * PER_THREAD);
	loop_stop(&lt);
	urt_test_fds_threads_check(b);
}

/* ---- futures: timeout, cancel, deadlock ------------------------------------ */

static atomic_int sleepy_started;

static void *sleepy(void *arg)
{
	atomic_store(&sleepy_started, 1);
	int r = urt_sleep((uint64_t)(intptr_t)arg * MS);
	return (void *)(intptr_t)r;
}

/* Runs until the test lets it end. */
static atomic_int held_release;

static void *held(void *arg)
{
	(void)arg;
	while (!atomic_load(&held_release))
		if (urt_sleep(MS) < 0)
			return (void *)1;
	return NULL;
}

Test(submit, future_wait_timeout, .timeout = 10)
{
	loop_thread lt;
	urt_loop *l = loop_start(&lt);
	urt_future *f;
	atomic_store(&held_release, 0);
	cr_assert_eq(urt_submit(l, held, NULL, &f), 0);
	void *res;
	struct timespec a, z;
	clock_gettime(CLOCK_MONOTONIC, &a);
	/* the task cannot end before we let it: only the timeout ends this */
	cr_expect_eq(urt_future_wait(f, 20 * MS, &res), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &z);
	long ms = (z.tv_sec - a.tv_sec) * 1000 + (z.tv_nsec - a.tv_nsec) / 1000000;
	cr_expect_geq(ms, 19, "waited only %ld ms", ms);
	/* loose (a loaded machine): a wait that ignored its timeout would hang */
	cr_expect_lt(ms, 5000);
	cr_expect_eq(urt_future_done(f), 0);
	atomic_store(&held_release, 1);
	cr_expect_eq(urt_future_wait(f, UINT64_MAX, &res), 0, "a timed-out wait can be retried");
	cr_expect_eq((intptr_t)res, 0);
	urt_future_release(f);
	loop_stop(&lt);
}

Test(submit, cancel_running_task, .timeout = 10)
{
	loop_thread lt;
	urt_loop *l = loop_start(&lt);
	urt_future *f;
	atomic_store(&sleepy_started, 0);
	cr_assert_eq(urt_submit(l, sleepy, (void *)5000, &f), 0);
	/* cancel it once it runs (a cancel before its sleep ends that sleep
	 * at once, the same result) */
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; !atomic_load(&sleepy_started) && urt_test_mono_ms() < end;)
		usleep(200);
	cr_assert(atomic_load(&sleepy_started), "the submitted task never ran");
	cr_expect_eq(urt_future_cancel(f), 0);
	void *res;
	cr_expect_eq(urt_future_wait(f, 5 * URT_NS_PER_SEC, &res), -ECANCELED);
	cr_expect_eq((intptr_t)res, -ECANCELED, "the task's urt_sleep saw the cancel");
	cr_expect_eq(urt_future_cancel(f), -EALREADY);
	urt_future_release(f);
	loop_stop(&lt);
}

/* A task that holds its loop (no park, no yield) until told: a cancel
 * message posted meanwhile runs only after it has ended. */
static atomic_int holder_state;

static void *hold_loop(void *arg)
{
	atomic_store(&holder_state, 1);
	while (atomic_load(&holder_state) != 2)
		usleep(200); /* blocking the loop on purpose */
	return arg;
}

Test(submit, cancel_reaches_task_too_late, .timeout = 10)
{
	loop_thread lt;
	urt_loop *l = loop_start(&lt);
	urt_future *f;
	atomic_store(&holder_state, 0);
	cr_assert_eq(urt_submit(l, hold_loop, (void *)7, &f), 0);
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; !atomic_load(&holder_state) && urt_test_mono_ms() < end;)
		usleep(200);
	cr_assert_eq(atomic_load(&holder_state), 1, "the submitted task never ran");
	/* accepted while the task runs: its result must not be reported */
	cr_expect_eq(urt_future_cancel(f), 0);
	atomic_store(&holder_state, 2);
	void *res = NULL;
	cr_expect_eq(urt_future_wait(f, 5 * URT_NS_PER_SEC, &res), -ECANCELED,
		     "cancel returned 0, but the wait reported the task's result");
	cr_expect_eq(urt_future_cancel(f), -EALREADY);
	urt_future_release(f);
	loop_stop(&lt);
}

/* A loop whose task hogs the thread: nothing posted is looked at meanwhile. */
static atomic_int hog_state;
static atomic_int never_ran;

static void *hog_main(void *arg)
{
	loop_thread *lt = arg;
	atomic_store(&lt->loop, urt_loop_current());
	atomic_store(&hog_state, 1);
	while (atomic_load(&hog_state) != 2)
		usleep(200); /* blocking the loop on purpose */
	while (!atomic_load(&lt->stop))
		urt_sleep(MS);
	return NULL;
}

static void *hog_thread(void *arg)
{
	loop_thread *lt = arg;
	lt->rc = urt_run(hog_main, lt, NULL, NULL);
	return NULL;
}

static void *mark_ran(void *arg)
{
	(void)arg;
	atomic_store(&never_ran, 1);
	return NULL;
}

Test(submit, cancel_before_start, .timeout = 10)
{
	loop_thread lt = {0};
	atomic_store(&hog_state, 0);
	cr_assert_eq(pthread_create(&lt.th, NULL, hog_thread, &lt), 0);
	while (atomic_load(&hog_state) != 1)
		usleep(200);
	urt_future *f;
	cr_assert_eq(urt_submit(atomic_load(&lt.loop), mark_ran, NULL, &f), 0);
	cr_expect_eq(urt_future_cancel(f), 0);
	atomic_store(&hog_state, 2);
	cr_expect_eq(urt_future_wait(f, 5 * URT_NS_PER_SEC, NULL), -ECANCELED);
	cr_expect_eq(atomic_load(&never_ran), 0);
	urt_future_release(f);
	loop_stop(&lt);
}

static void *wait_own_loop(void *arg)
{
	(void)arg;
	urt_future *f;
	cr_assert_eq(urt_submit(urt_loop_current(), add_one, (void *)1, &f), 0);
	cr_expect_eq(urt_future_wait(f, 0, NULL), -EDEADLK);
	cr_expect_eq(urt_future_wait(f, UINT64_MAX, NULL), -EDEADLK);
	/* the submitted task runs once this one lets the loop tick (a bound
	 * in ticks, not time: a fixed sleep can expire in the same tick that
	 * spawns it, before it ran, on a slow machine or under valgrind) */
	for (int i = 0; i < 1000 && !urt_future_done(f); i++)
		urt_sleep(MS);
	void *res = NULL;
	cr_expect_eq(urt_future_wait(f, UINT64_MAX, &res), 0, "done by now: no deadlock");
	cr_expect_eq((intptr_t)res, 2);
	urt_future_release(f);
	return NULL;
}

Test(submit, wait_on_own_loop_is_edeadlk, .timeout = 10)
{
	run_here(wait_own_loop);
}

/* A released, never-waited future: the task still runs. */
static atomic_int soon_ran;

static void *soon_fn(void *arg)
{
	atomic_fetch_add(&soon_ran, (int)(intptr_t)arg);
	return NULL;
}

Test(submit, call_soon_and_release_unwaited, .timeout = 10)
{
	urt_test_baseline b = urt_test_baseline_take();
	atomic_store(&soon_ran, 0);
	loop_thread lt;
	urt_loop *l = loop_start(&lt);
	cr_expect_eq(urt_call_soon(l, soon_fn, (void *)1), 0);
	urt_future *f;
	cr_assert_eq(urt_submit(l, soon_fn, (void *)10, &f), 0);
	urt_future_release(f);
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; atomic_load(&soon_ran) != 11 && urt_test_mono_ms() < end;)
		usleep(1000);
	cr_expect_eq(atomic_load(&soon_ran), 11);
	loop_stop(&lt);
	urt_test_fds_threads_check(b);
}

/* ---- loop to loop ----------------------------------------------------------- */

static urt_loop *peer;

static void *loop_to_loop_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		urt_future *f;
		cr_assert_eq(urt_submit(peer, add_one, (void *)(intptr_t)i, &f), 0);
		void *res = NULL;
		int r;
		while ((r = urt_future_wait(f, 0, &res)) == -ETIMEDOUT)
			urt_sleep(10000); /* poll without blocking this loop */
		cr_assert_eq(r, 0);
		cr_assert_eq((intptr_t)res, i + 1);
		urt_future_release(f);
	}
	cr_expect_eq(urt_call_soon(peer, soon_fn, (void *)1), 0);
	return NULL;
}

static void loop_to_loop(unsigned flags)
{
	cr_assert_eq(urt_offload_configure(&(urt_offload_config){.flags = flags}), 0);
	atomic_store(&soon_ran, 0);
	loop_thread lt;
	peer = loop_start(&lt);
	run_here(loop_to_loop_main);
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; atomic_load(&soon_ran) != 1 && urt_test_mono_ms() < end;)
		usleep(1000);
	cr_expect_eq(atomic_load(&soon_ran), 1);
	loop_stop(&lt);
	urt_future *f;
	cr_expect_eq(urt_submit(peer, add_one, NULL, &f), -ESHUTDOWN);
}

Test(submit, loop_to_loop_inbox, .timeout = 10) { loop_to_loop(0); }
Test(submit, loop_to_loop_msg_ring, .timeout = 10) { loop_to_loop(URT_OFFLOAD_MSG_RING); }
