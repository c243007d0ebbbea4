/* The worker pools: urt_to_thread / urt_to_cpu / classes from tasks, the
 * try variant and futures from plain threads, cancellation, deadlines,
 * back-pressure, shutdown. URT_TEST_THREADS: workers share data with the
 * loop, so this also runs under TSan. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "check_offload.h"
#include "urt_ctx.h"
#include "urt_fault.h"
#include "urt_offload.h"

#define MS URT_NS_PER_MS


static void *sleep_ms_job(void *arg)
{
	usleep((useconds_t)(intptr_t)arg * 1000);
	return (void *)((intptr_t)arg + 1);
}

/* A gate jobs block on until the test opens it (no sleeping guesses). */
static atomic_int gate_open, gate_entered, gate_left;

static void *gated_job(void *arg)
{
	atomic_fetch_add(&gate_entered, 1);
	while (!atomic_load(&gate_open))
		usleep(500);
	atomic_fetch_add(&gate_left, 1);
	return arg;
}

/* Generous real-time bound for waiting on a condition another thread makes
 * true: long enough for any loaded machine, short of the test's timeout. */
#define WAIT_MS 8000

static void gate_reset(void)
{
	atomic_store(&gate_open, 0);
	atomic_store(&gate_entered, 0);
	atomic_store(&gate_left, 0);
}

/* ---- responsiveness ------------------------------------------------------ */

static atomic_int ticks;
static atomic_int stop_ticker;

static void *ticker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_ticker)) {
		if (urt_sleep(5 * MS) < 0)
			break;
		atomic_fetch_add(&ticks, 1);
	}
	return NULL;
}

/* Each job blocks until all 8 are in at once and the loop's ticker has
 * ticked 8 times meanwhile: jobs run one after another, or a loop blocked
 * by them, keep that from happening (then the jobs give up at a shared
 * end, WAIT_MS after the start, and fail). No wall-clock guess: a loaded
 * machine only makes it take longer. */
static atomic_int rendezvous_in;
static _Atomic uint64_t rendezvous_end;

static void *rendezvous_job(void *arg)
{
	atomic_fetch_add(&rendezvous_in, 1);
	bool met;
	while (!(met = atomic_load(&rendezvous_in) >= 8 && atomic_load(&ticks) >= 8) &&
	       urt_test_mono_ms() < atomic_load(&rendezvous_end))
		usleep(500);
	return met ? (void *)((intptr_t)arg + 1) : (void *)(intptr_t)-1;
}

static void *offload_rendezvous(void *arg)
{
	void *res = NULL;
	int r = urt_to_thread(rendezvous_job, arg, &res);
	return r == 0 ? res : (void *)(intptr_t)r;
}

static void *eight_blockers_main(void *arg)
{
	(void)arg;
	urt_task *tick_task, *t[8];
	atomic_store(&ticks, 0);
	atomic_store(&stop_ticker, 0);
	atomic_store(&rendezvous_in, 0);
	atomic_store(&rendezvous_end, urt_test_mono_ms() + WAIT_MS);
	cr_assert_eq(urt_spawn(&tick_task, ticker, NULL, NULL), 0);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(urt_spawn(&t[i], offload_rendezvous, (void *)(intptr_t)100, NULL), 0);
	for (int i = 0; i < 8; i++) {
		void *res;
		cr_assert_eq(urt_join(t[i], &res), 0);
		cr_expect_eq((intptr_t)res, 101, "job %d: 8 blocking jobs were not all running at "
			  "once, or the loop was blocked (%d in, %d ticks)", i,
			  atomic_load(&rendezvous_in), atomic_load(&ticks));
	}
	atomic_store(&stop_ticker, 1);
	urt_join(tick_task, NULL);
	return NULL;
}

Test(offload, loop_keeps_ticking_while_jobs_block, .timeout = 20)
{
	urt_test_run_offload(eight_blockers_main, NULL);
}

/* ---- results, errors, bad input ------------------------------------------ */

static void *failing_job(void *arg)
{
	cr_expect_eq(urt_job_error(0), -EINVAL);
	cr_expect_eq(urt_job_error(-EIO), 0);
	return arg;
}

static void *results_main(void *arg)
{
	(void)arg;
	void *res = NULL;
	cr_expect_eq(urt_to_thread(sleep_ms_job, (void *)(intptr_t)0, &res), 0);
	cr_expect_eq((intptr_t)res, 1);
	cr_expect_eq(urt_to_thread(sleep_ms_job, (void *)(intptr_t)0, NULL), 0, "NULL result is fine");
	res = NULL;
	cr_expect_eq(urt_to_thread(failing_job, (void *)(intptr_t)7, &res), -EIO);
	cr_expect_eq((intptr_t)res, 7, "the result comes back with the error");
	res = NULL;
	cr_expect_eq(urt_to_cpu(failing_job, (void *)(intptr_t)8, &res), -EIO);
	cr_expect_eq((intptr_t)res, 8);
	cr_expect_eq(urt_to_thread_class(5, sleep_ms_job, (void *)(intptr_t)1, &res), 0);
	cr_expect_eq((intptr_t)res, 2);
	/* bad input */
	cr_expect_eq(urt_to_thread(NULL, NULL, &res), -EINVAL);
	cr_expect_eq(urt_to_cpu(NULL, NULL, &res), -EINVAL);
	cr_expect_eq(urt_to_thread_class(URT_OFFLOAD_CLASSES, sleep_ms_job, NULL, &res), -EINVAL);
	cr_expect_eq(urt_job_error(-EIO), -EPERM, "not in a job");
	return NULL;
}

Test(offload, results_and_errors_come_back, .timeout = 10)
{
	urt_test_run_offload(results_main, NULL);
}

Test(offload, bad_input_outside_tasks, .timeout = 10)
{
	void *res;
	cr_expect_eq(urt_to_thread(sleep_ms_job, NULL, &res), -EPERM);
	cr_expect_eq(urt_to_cpu(sleep_ms_job, NULL, &res), -EPERM);
	cr_expect_eq(urt_to_thread_class(1, sleep_ms_job, NULL, &res), -EPERM);
	cr_expect_eq(urt_offload_configure(NULL), -EINVAL);
	cr_expect_eq(urt_offload_configure(&(urt_offload_config){.flags = 1u << 20}), -EINVAL);
	cr_expect_eq(urt_offload_class_limit(0, 3), -EINVAL);
	cr_expect_eq(urt_offload_class_limit(URT_OFFLOAD_CLASSES, 3), -EINVAL);
	urt_offload_stats st;
	cr_expect_eq(urt_offload_stats_get(7, &st), -EINVAL);
	cr_expect_eq(urt_offload_stats_get(URT_POOL_CPU, NULL), -EINVAL);
	cr_expect_eq(urt_offload_stats_get(URT_POOL_CPU, &st), 0);
	cr_expect_eq(st.threads, 0, "pools start lazily");
	urt_future *f = (urt_future *)0x1;
	cr_expect_eq(urt_to_thread_try(NULL, NULL, &f), -EINVAL);
	cr_expect_eq(urt_to_thread_try(sleep_ms_job, NULL, NULL), -EINVAL);
	cr_expect_eq(urt_to_cpu_try(NULL, NULL, &f), -EINVAL);
	cr_expect_eq(urt_future_wait(NULL, 0, NULL), -EINVAL);
	cr_expect_eq(urt_future_cancel(NULL), -EINVAL);
	cr_expect_eq(urt_future_done(NULL), -EINVAL);
	urt_future_release(NULL);
	cr_expect_eq(urt_offload_shutdown(), 0, "shutdown of pools never started");
}

/* ---- context ------------------------------------------------------------- */

static urt_ctxvar *req_var;

static void *ctx_job(void *arg)
{
	(void)arg;
	void *seen = urt_ctxvar_get(req_var);
	urt_ctxvar_set(req_var, (void *)"job", NULL); /* stays in the job's copy */
	return seen;
}

static void *ctx_task(void *arg)
{
	cr_assert_eq(urt_ctxvar_set(req_var, arg, NULL), 0);
	void *seen = NULL;
	cr_assert_eq(urt_to_thread(ctx_job, NULL, &seen), 0);
	cr_expect_eq(seen, arg, "the job saw %s, not its submitter's %s", (char *)seen, (char *)arg);
	cr_expect_eq(urt_ctxvar_get(req_var), arg, "the job's set leaked back");
	cr_assert_eq(urt_to_cpu(ctx_job, NULL, &seen), 0);
	cr_expect_eq(seen, arg);
	return NULL;
}

static void *ctx_main(void *arg)
{
	(void)arg;
	urt_task *a, *b;
	cr_assert_eq(urt_spawn(&a, ctx_task, "request-a", NULL), 0);
	cr_assert_eq(urt_spawn(&b, ctx_task, "request-b", NULL), 0);
	urt_join(a, NULL);
	urt_join(b, NULL);
	cr_expect_null(urt_ctxvar_get(req_var), "children's sets stay theirs");
	return NULL;
}

Test(offload, context_propagated_and_isolated, .timeout = 10)
{
	cr_assert_eq(urt_ctxvar_create(&req_var, "request", NULL, NULL, 0), 0);
	urt_test_run_offload(ctx_main, NULL);
}

static void *gated_task(void *arg);

/* An empty context is copied on the worker, not the loop: the copy must
 * still be the job's own, so a set in one job is not seen by the next. */
static void *empty_ctx_main(void *arg)
{
	(void)arg;
	urt_offload_configure(&(urt_offload_config){.blocking_threads = 1});
	for (int i = 0; i < 20; i++) {
		void *seen = (void *)"unset";
		cr_assert_eq(urt_to_thread(ctx_job, NULL, &seen), 0);
		cr_expect_null(seen, "job %d saw a value an earlier job set: %s", i, (char *)seen);
		urt_future *f;
		cr_assert_eq(urt_to_thread_try(ctx_job, NULL, &f), 0);
		seen = (void *)"unset";
		cr_expect_eq(urt_future_wait(f, UINT64_MAX, &seen), 0);
		cr_expect_null(seen, "future job %d saw %s", i, (char *)seen);
		urt_future_release(f);
	}
	cr_expect_null(urt_ctxvar_get(req_var));
	return NULL;
}

Test(offload, empty_context_isolated_on_worker, .timeout = 10)
{
	cr_assert_eq(urt_ctxvar_create(&req_var, "request", NULL, NULL, 0), 0);
	urt_test_run_offload(empty_ctx_main, NULL);
	urt_offload_configure(&(urt_offload_config){.blocking_threads = 64});
}

/* ---- growth: a limit, not a target ------------------------------------------ */

/* ntasks tasks share jobs calls of urt_to_thread(fn); returns the
 * blocking pool's thread count at the end. */
static long churn_left;
static urt_task_fn churn_fn;

static void *churn_task(void *arg)
{
	(void)arg;
	while (churn_left-- > 0) /* one loop thread: no race */
		if (urt_to_thread(churn_fn, NULL, NULL) != 0)
			return (void *)1;
	return NULL;
}

static unsigned churn(urt_task_fn fn, long jobs, int ntasks)
{
	static urt_task *t[2000];
	cr_assert_leq(ntasks, 2000);
	churn_fn = fn;
	churn_left = jobs;
	for (int i = 0; i < ntasks; i++)
		cr_assert_eq(urt_spawn(&t[i], churn_task, NULL, NULL), 0);
	for (int i = 0; i < ntasks; i++) {
		void *r;
		urt_join(t[i], &r);
		cr_expect_null(r);
	}
	urt_offload_stats st;
	urt_offload_stats_get(URT_POOL_BLOCKING, &st);
	return st.threads;
}

static void *trivial_job(void *arg) { return arg; }

static void *many_trivial_main(void *arg)
{
	(void)arg;
	unsigned threads = churn(trivial_job, 20000, 200);
	/* a thread per CPU runs them; a few more at most if the machine is
	 * so loaded that jobs waited over a growth period (the old pool went
	 * to its cap of 64 here) */
	cr_expect_leq(threads, 16, "%u threads for trivial jobs", threads);
	cr_expect_geq(threads, 1);
	return NULL;
}

Test(offload, trivial_jobs_do_not_fill_the_cap, .timeout = 20)
{
	urt_test_run_offload(many_trivial_main, NULL);
}

/* Jobs of a few microseconds of CPU each, queued for far longer than a
 * growth period (1 ms): the workers are short of CPU, not blocked, and
 * more threads would only share the CPUs with them. Without the monitor's
 * churn check the pool grew by one thread per period here (to 16-25). */
static void *cpu_short_job(void *arg)
{
	struct timespec a, b;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do /* 5 us of this thread's CPU time: preemption does not end it early */
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 5000);
	return arg;
}

static void *cpu_short_main(void *arg)
{
	(void)arg;
	/* 100 ms of CPU; the queue holds ~2,000 at a time */
	unsigned threads = churn(cpu_short_job, 20000, 2000);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	/* a thread per CPU; a few more when every worker went without CPU
	 * for a whole period on a loaded machine (up to 8 on 2 CPUs with 3
	 * busy loops beside; 16-25 without the check) */
	cr_expect_leq(threads, 2 * (unsigned)cpus + 6, "%u threads for CPU-short jobs on %ld CPUs",
		      threads, cpus);
	return NULL;
}

Test(offload, cpu_short_jobs_do_not_grow_the_pool, .timeout = 30)
{
	urt_test_run_offload(cpu_short_main, NULL);
}

static void *gated_all_enter_main(void *arg)
{
	(void)arg;
	urt_task *t[6];
	for (intptr_t i = 0; i < 6; i++)
		cr_assert_eq(urt_spawn(&t[i], gated_task, (void *)(i + 1), NULL), 0);
	/* no job finishes until every one started: only growth can start them */
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; atomic_load(&gate_entered) < 6 && urt_test_mono_ms() < end;)
		urt_sleep(MS);
	cr_expect_eq(atomic_load(&gate_entered), 6, "blocked jobs got %d threads", atomic_load(&gate_entered));
	urt_offload_stats st;
	urt_offload_stats_get(URT_POOL_BLOCKING, &st);
	cr_expect_geq(st.threads, 6);
	cr_expect_eq(st.queued, 0);
	atomic_store(&gate_open, 1);
	for (intptr_t i = 0; i < 6; i++) {
		void *r;
		urt_join(t[i], &r);
		cr_expect_eq((intptr_t)r, i + 1);
	}
	return NULL;
}

Test(offload, blocked_jobs_grow_the_pool, .timeout = 20)
{
	gate_reset();
	urt_test_run_offload(gated_all_enter_main, NULL);
}

/* ---- the CPU pool cannot starve the blocking pool ------------------------- */

/* CPU work that goes on until the test lets it end (or WAIT_MS passed). */
static atomic_int spin_release;

static void *spin_job(void *arg)
{
	(void)arg;
	uint64_t end = urt_test_mono_ms() + WAIT_MS;
	volatile uint64_t x = 0;
	while (!atomic_load(&spin_release) && urt_test_mono_ms() < end)
		x++;
	return NULL;
}

static void *cpu_hog(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_to_cpu(spin_job, NULL, NULL);
}

/* A blocking job of ms must finish well before the hogs' CPU work ends
 * (they run until released, or WAIT_MS). */
static void expect_blocking_job_runs(intptr_t ms, const char *what)
{
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, WAIT_MS / 2 * MS), 0);
	cr_expect_eq(urt_to_thread(sleep_ms_job, (void *)ms, NULL), 0, "%s", what);
	urt_deadline_exit(&d);
}

/* End the hogs' CPU work and join them: each job ran to its end. */
static void release_hogs(urt_task **hogs, int n)
{
	atomic_store(&spin_release, 1);
	for (int i = 0; i < n; i++) {
		void *r;
		urt_join(hogs[i], &r);
		cr_expect_eq((intptr_t)r, 0);
	}
}

static void *saturation_main(void *arg)
{
	(void)arg;
	atomic_store(&spin_release, 0);
	urt_task *hogs[6];
	for (int i = 0; i < 6; i++)
		cr_assert_eq(urt_spawn(&hogs[i], cpu_hog, NULL, NULL), 0);
	/* the CPU pool is busy, its queue holds the rest */
	urt_offload_stats st;
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; urt_test_mono_ms() < end; urt_sleep(MS)) {
		urt_offload_stats_get(URT_POOL_CPU, &st);
		if (st.running == 2 && st.queued == 4)
			break;
	}
	cr_expect_eq(st.running, 2, "CPU pool running %u", st.running);
	cr_expect_eq(st.queued, 4);
	/* the CPU jobs run until released: a blocking job queued behind them
	 * would not finish before the deadline */
	expect_blocking_job_runs(10, "a blocking job waited behind CPU work");
	urt_offload_stats_get(URT_POOL_CPU, &st);
	cr_expect_eq(st.running + st.queued, 6, "the CPU work was still held");
	release_hogs(hogs, 6);
	return NULL;
}

Test(offload, cpu_saturation_does_not_delay_blocking_jobs, .timeout = 20)
{
	cr_assert_eq(urt_offload_configure(&(urt_offload_config){.cpu_threads = 2}), 0);
	urt_test_run_offload(saturation_main, NULL);
}

/* Long CPU work in the blocking pool (it belongs in the CPU pool, but it
 * happens) holds its workers as surely as a blocking call: once it has had
 * 10 ms of CPU the pool grows, so a short job queued behind it runs. */
static void *blocking_hog(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_to_thread(spin_job, NULL, NULL);
}

static void *long_cpu_main(void *arg)
{
	(void)arg;
	atomic_store(&spin_release, 0);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	enum { MAX_HOGS = 9 };
	int n = cpus + 1 < MAX_HOGS ? (int)cpus + 1 : MAX_HOGS;
	urt_task *hogs[MAX_HOGS];
	for (int i = 0; i < n; i++)
		cr_assert_eq(urt_spawn(&hogs[i], blocking_hog, NULL, NULL), 0);
	urt_sleep(MS); /* the hogs' jobs are queued first */
	expect_blocking_job_runs(1, "a short job waited behind long CPU jobs");
	release_hogs(hogs, n);
	return NULL;
}

Test(offload, long_cpu_jobs_grow_the_pool, .timeout = 20)
{
	urt_test_run_offload(long_cpu_main, NULL);
}

/* ---- back-pressure --------------------------------------------------------- */

static atomic_int try_result;

static void *try_from_plain_thread(void *arg)
{
	(void)arg;
	urt_future *f = NULL;
	atomic_store(&try_result, urt_to_thread_try(sleep_ms_job, NULL, &f));
	if (f)
		urt_future_release(f);
	return NULL;
}

static void *gated_task(void *arg)
{
	void *res = NULL;
	int r = urt_to_thread(gated_job, arg, &res);
	return r == 0 ? res : (void *)(intptr_t)r;
}

static void *queue_full_main(void *arg)
{
	(void)arg;
	urt_task *tick_task, *t[6];
	atomic_store(&ticks, 0);
	cr_assert_eq(urt_spawn(&tick_task, ticker, NULL, NULL), 0);
	for (intptr_t i = 0; i < 6; i++)
		cr_assert_eq(urt_spawn(&t[i], gated_task, (void *)(i + 100), NULL), 0);
	urt_offload_stats st;
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; urt_test_mono_ms() < end; urt_sleep(MS)) {
		urt_offload_stats_get(URT_POOL_BLOCKING, &st);
		if (atomic_load(&gate_entered) >= 1 && st.running == 1 && st.queued == 2 &&
		    st.waiting == 3)
			break;
	}
	cr_expect_eq(st.running, 1);
	cr_expect_eq(st.queued, 2, "queued %u", st.queued);
	cr_expect_eq(st.waiting, 3, "3 tasks parked for room, got %u", st.waiting);
	/* a plain thread is refused instead */
	pthread_t th;
	pthread_create(&th, NULL, try_from_plain_thread, NULL);
	pthread_join(th, NULL);
	cr_expect_eq(atomic_load(&try_result), -EAGAIN);
	/* parked tasks leave the loop running (were it blocked, so would we) */
	int before = atomic_load(&ticks);
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; atomic_load(&ticks) <= before && urt_test_mono_ms() < end;)
		urt_sleep(MS);
	cr_expect_gt(atomic_load(&ticks), before, "the loop thread must not block");
	atomic_store(&gate_open, 1);
	for (intptr_t i = 0; i < 6; i++) {
		void *r;
		urt_join(t[i], &r);
		cr_expect_eq((intptr_t)r, i + 100);
	}
	cr_expect_eq(atomic_load(&gate_left), 6);
	atomic_store(&stop_ticker, 1);
	urt_join(tick_task, NULL);
	return NULL;
}

Test(offload, full_queue_parks_tasks_and_refuses_threads, .timeout = 20)
{
	gate_reset();
	cr_assert_eq(urt_offload_configure(&(urt_offload_config){.blocking_threads = 1, .queue_bound = 2}), 0);
	urt_test_run_offload(queue_full_main, NULL);
}

/* ---- classes ----------------------------------------------------------------- */

static atomic_int in_class, class_peak, class_release;

/* Held until the test releases the class (or WAIT_MS passed). */
static void *class_job(void *arg)
{
	int n = atomic_fetch_add(&in_class, 1) + 1;
	int peak = atomic_load(&class_peak);
	while (n > peak && !atomic_compare_exchange_weak(&class_peak, &peak, n))
		;
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; !atomic_load(&class_release) && urt_test_mono_ms() < end;)
		usleep(500);
	atomic_fetch_sub(&in_class, 1);
	return arg;
}

static void *class_task(void *arg)
{
	return (void *)(intptr_t)urt_to_thread_class(3, class_job, arg, NULL);
}

static void *class_main(void *arg)
{
	(void)arg;
	urt_task *t[8];
	for (int i = 0; i < 8; i++)
		cr_assert_eq(urt_spawn(&t[i], class_task, NULL, NULL), 0);
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; atomic_load(&in_class) < 2 && urt_test_mono_ms() < end;)
		urt_sleep(MS);
	cr_expect_eq(atomic_load(&in_class), 2, "class 3 running %d", atomic_load(&in_class));
	/* other classes do not queue behind class 3, held until released */
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, WAIT_MS / 2 * MS), 0);
	cr_expect_eq(urt_to_thread(sleep_ms_job, (void *)(intptr_t)1, NULL), 0,
		     "another class waited behind class 3");
	urt_deadline_exit(&d);
	atomic_store(&class_release, 1);
	for (int i = 0; i < 8; i++) {
		void *r;
		urt_join(t[i], &r);
		cr_expect_eq((intptr_t)r, 0);
	}
	cr_expect_eq(atomic_load(&class_peak), 2, "class 3 peaked at %d running", atomic_load(&class_peak));
	return NULL;
}

Test(offload, class_cap_limits_concurrency, .timeout = 20)
{
	cr_assert_eq(urt_offload_class_limit(3, 2), 0);
	atomic_store(&class_release, 0);
	urt_test_run_offload(class_main, NULL);
}

/* ---- cancellation and deadlines --------------------------------------------- */

static atomic_int heap_job_done;

static void *static_result_job(void *arg)
{
	gated_job(NULL);
	atomic_store(&heap_job_done, 1);
	return arg;
}

static void *cancel_main(void *arg)
{
	(void)arg;
	urt_task *running, *queued;
	cr_assert_eq(urt_spawn(&running, gated_task, (void *)1, NULL), 0);
	while (atomic_load(&gate_entered) < 1)
		urt_sleep(MS);
	/* pool cap 1: this one is still queued */
	cr_assert_eq(urt_spawn(&queued, gated_task, (void *)2, NULL), 0);
	urt_sleep(5 * MS);
	uint64_t t0 = urt_test_mono_ms();
	cr_assert_eq(urt_cancel(running), 0);
	cr_assert_eq(urt_cancel(queued), 0);
	void *r;
	urt_join(running, &r);
	cr_expect_eq((intptr_t)r, -ECANCELED);
	urt_join(queued, &r);
	cr_expect_eq((intptr_t)r, -ECANCELED);
	/* the job runs until the gate opens below: a cancel that waited for it
	 * would hang (the bound is loose for a loaded machine) */
	cr_expect_lt(urt_test_mono_ms() - t0, WAIT_MS / 2, "cancel must not wait for the job");
	urt_offload_stats st;
	urt_offload_stats_get(URT_POOL_BLOCKING, &st);
	cr_expect_eq(st.running, 1, "the running job runs on");
	cr_expect_eq(st.queued, 0, "the queued one was withdrawn");
	atomic_store(&gate_open, 1);
	/* the loop's urt_run waits for the job; let it finish here anyway */
	while (atomic_load(&gate_left) < 1)
		urt_sleep(MS);
	urt_sleep(5 * MS);
	cr_expect_eq(atomic_load(&gate_entered), 1, "the withdrawn job never ran");
	return NULL;
}

Test(offload, cancel_waiting_task, .timeout = 20)
{
	gate_reset();
	cr_assert_eq(urt_offload_configure(&(urt_offload_config){.blocking_threads = 1}), 0);
	urt_test_run_offload(cancel_main, NULL);
}

static void *deadline_main(void *arg)
{
	(void)arg;
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, 20 * MS), 0);
	/* the job runs until the gate opens: only the deadline ends the wait */
	cr_expect_eq(urt_to_thread(gated_job, NULL, NULL), -ETIME);
	cr_expect_eq(urt_to_thread(sleep_ms_job, NULL, NULL), -ETIME, "already expired");
	urt_deadline_exit(&d);
	atomic_store(&gate_open, 1);
	return NULL;
}

Test(offload, deadline_interrupts_wait, .timeout = 10)
{
	gate_reset();
	urt_test_run_offload(deadline_main, NULL);
}

/* ---- shutdown ------------------------------------------------------------------ */

static void *abandoning_task(void *arg)
{
	return (void *)(intptr_t)urt_to_thread(static_result_job, arg, NULL);
}

static void *abandon_main(void *arg)
{
	(void)arg;
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, abandoning_task, NULL, NULL), 0);
	while (atomic_load(&gate_entered) < 1)
		urt_sleep(MS);
	urt_cancel(t);
	void *r;
	urt_join(t, &r);
	cr_expect_eq((intptr_t)r, -ECANCELED);
	return NULL; /* the job is still running: urt_run must wait for it */
}

static void *open_gate_later(void *arg)
{
	(void)arg;
	usleep(80000);
	atomic_store(&gate_open, 1);
	return NULL;
}

Test(offload, run_returns_after_jobs_in_flight, .timeout = 10)
{
	gate_reset();
	atomic_store(&heap_job_done, 0);
	uint64_t t0 = urt_test_mono_ms(); /* before the gate's 80 ms start */
	pthread_t th;
	pthread_create(&th, NULL, open_gate_later, NULL);
	urt_test_baseline b = urt_test_baseline_take();
	cr_assert_eq(urt_run(abandon_main, NULL, NULL, NULL), 0);
	cr_expect_eq(atomic_load(&heap_job_done), 1, "urt_run returned while its job ran");
	cr_expect_geq(urt_test_mono_ms() - t0, 80);
	pthread_join(th, NULL);
	cr_assert_eq(urt_offload_shutdown(), 0);
	urt_test_fds_threads_check(b);
}

static void *shutdown_from_job(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_offload_shutdown();
}

static void *keep_alive_main(void *arg)
{
	(void)arg;
	void *r;
	cr_expect_eq(urt_to_thread(shutdown_from_job, NULL, &r), 0);
	cr_expect_eq((intptr_t)r, -EDEADLK);
	urt_offload_stats st;
	urt_offload_stats_get(URT_POOL_BLOCKING, &st);
	cr_expect_eq(st.threads, 1, "the worker went before its keep-alive");
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; st.threads && urt_test_mono_ms() < end;) {
		urt_sleep(5 * MS);
		urt_offload_stats_get(URT_POOL_BLOCKING, &st);
	}
	cr_expect_eq(st.threads, 0, "the idle worker outlived its keep-alive");
	cr_expect_geq(st.done, 1);
	return NULL;
}

Test(offload, idle_workers_exit_after_keep_alive, .timeout = 10)
{
	cr_assert_eq(urt_offload_configure(&(urt_offload_config){.keep_alive_ns = 300 * MS}), 0);
	urt_test_run_offload(keep_alive_main, NULL);
}

/* Two shutdowns at once, and a submission right after the first returns
 * (allowed: it starts the pool again): the second must still stop the
 * worker that submission started, not wait out its keep-alive (10 s).
 * The second is held in a signal handler from the moment both wait until
 * the first has returned and its job has run: the order is forced, not
 * left to the scheduler. */
static atomic_int handler_holding, handler_release;

static void hold_in_handler(int sig)
{
	(void)sig;
	atomic_store(&handler_holding, 1);
	while (!atomic_load(&handler_release))
		nanosleep(&(struct timespec){.tv_nsec = 100 * 1000}, NULL);
}

struct shutdown_thread {
	pthread_t th;
	atomic_int tid, done;
	int r;
};

static void *shutdown_thread_main(void *arg)
{
	struct shutdown_thread *s = arg;
	atomic_store(&s->tid, urt_test_tid());
	s->r = urt_offload_shutdown();
	atomic_store(&s->done, 1);
	return NULL;
}

/* Start a thread that calls urt_offload_shutdown and see it wait. */
static void shutdown_thread_start(struct shutdown_thread *s)
{
	cr_assert_eq(pthread_create(&s->th, NULL, shutdown_thread_main, s), 0);
	while (!atomic_load(&s->tid))
		usleep(500);
	int seen = urt_test_wait_in_syscall(atomic_load(&s->tid), SYS_futex, -1, WAIT_MS);
	if (seen < 0)
		usleep(50 * 1000); /* /proc cannot tell: a generous guess */
	else
		cr_assert_eq(seen, 1, "the shutdown did not wait for the running job");
	cr_assert_not(atomic_load(&s->done));
}

static bool wait_flag_ms(atomic_int *flag, uint64_t ms)
{
	for (uint64_t end = urt_test_mono_ms() + ms; !atomic_load(flag) && urt_test_mono_ms() < end;)
		usleep(500);
	return atomic_load(flag);
}

Test(offload, concurrent_shutdowns_return_promptly, .timeout = 30)
{
	gate_reset();
	struct sigaction sa = {.sa_handler = hold_in_handler, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	urt_future *held;
	cr_assert_eq(urt_to_thread_try(gated_job, NULL, &held), 0);
	while (atomic_load(&gate_entered) < 1)
		usleep(500);
	struct shutdown_thread a = {0}, b = {0};
	shutdown_thread_start(&a);
	shutdown_thread_start(&b);
	cr_assert_eq(pthread_kill(b.th, SIGUSR1), 0);
	cr_assert(wait_flag_ms(&handler_holding, WAIT_MS));
	atomic_store(&gate_open, 1); /* the last worker ends: a returns, b is held */
	cr_assert(wait_flag_ms(&a.done, WAIT_MS), "the first shutdown did not return");
	cr_expect_eq(a.r, 0);
	urt_future *f;
	void *res = NULL;
	cr_assert_eq(urt_to_thread_try(urt_test_identity, (void *)(intptr_t)7, &f), 0);
	cr_expect_eq(urt_future_wait(f, UINT64_MAX, &res), 0);
	cr_expect_eq((intptr_t)res, 7);
	urt_future_release(f);
	atomic_store(&handler_release, 1);
	cr_expect(wait_flag_ms(&b.done, 3000),
		  "the second shutdown waited for a worker that its stop no longer applied to");
	pthread_join(a.th, NULL);
	pthread_join(b.th, NULL);
	cr_expect_eq(b.r, 0);
	cr_expect_eq(urt_future_wait(held, UINT64_MAX, NULL), 0);
	urt_future_release(held);
	cr_assert_eq(urt_offload_shutdown(), 0);
}

/* ---- futures from plain threads ------------------------------------------------ */

Test(offload, try_variant_and_future, .timeout = 10)
{
	gate_reset();
	urt_test_baseline b = urt_test_baseline_take();
	urt_future *f;
	cr_assert_eq(urt_to_thread_try(gated_job, (void *)(intptr_t)31, &f), 0);
	void *res = NULL;
	cr_expect_eq(urt_future_wait(f, 0, &res), -ETIMEDOUT, "0 just looks");
	cr_expect_eq(urt_future_done(f), 0);
	atomic_store(&gate_open, 1);
	cr_expect_eq(urt_future_wait(f, UINT64_MAX, &res), 0);
	cr_expect_eq((intptr_t)res, 31);
	cr_expect_eq(urt_future_done(f), 1);
	cr_expect_eq(urt_future_wait(f, 0, &res), -EINVAL, "waiting twice");
	cr_expect_eq(urt_future_cancel(f), -EALREADY);
	urt_future_release(f);

	cr_assert_eq(urt_to_cpu_try(failing_job, (void *)(intptr_t)5, &f), 0);
	cr_expect_eq(urt_future_wait(f, UINT64_MAX, &res), -EIO);
	cr_expect_eq((intptr_t)res, 5);
	urt_future_release(f);

	/* released without waiting: the job finishes unobserved */
	cr_assert_eq(urt_to_thread_try(sleep_ms_job, (void *)(intptr_t)5, &f), 0);
	urt_future_release(f);
	cr_assert_eq(urt_offload_shutdown(), 0);
	urt_test_fds_threads_check(b);
}

Test(offload, cancel_futures, .timeout = 10)
{
	gate_reset();
	cr_assert_eq(urt_offload_configure(&(urt_offload_config){.blocking_threads = 1}), 0);
	urt_future *run, *queued;
	cr_assert_eq(urt_to_thread_try(gated_job, (void *)1, &run), 0);
	while (atomic_load(&gate_entered) < 1)
		usleep(500);
	cr_assert_eq(urt_to_thread_try(gated_job, (void *)2, &queued), 0);
	cr_expect_eq(urt_future_cancel(queued), 0);
	cr_expect_eq(urt_future_cancel(queued), -EALREADY, "withdrawn: done");
	void *res = (void *)-1;
	cr_expect_eq(urt_future_wait(queued, 0, &res), -ECANCELED, "withdrawn at once");
	cr_expect_null(res);
	cr_expect_eq(urt_future_cancel(run), 0);
	cr_expect_eq(urt_future_cancel(run), 0, "idempotent");
	cr_expect_eq(urt_future_wait(run, 20 * MS, &res), -ETIMEDOUT, "the running job goes on");
	atomic_store(&gate_open, 1);
	cr_expect_eq(urt_future_wait(run, UINT64_MAX, &res), -ECANCELED);
	cr_expect_eq(atomic_load(&gate_entered), 1, "the cancelled queued job never ran");
	urt_future_release(run);
	urt_future_release(queued);
	cr_assert_eq(urt_offload_shutdown(), 0);
}

/* ---- futures: long timeouts, cancel against finish ---------------------------- */

static void *open_gate_soon(void *arg)
{
	(void)arg;
	usleep(30000);
	atomic_store(&gate_open, 1);
	return NULL;
}

Test(offload, future_wait_huge_timeout, .timeout = 10)
{
	gate_reset();
	urt_future *f;
	cr_assert_eq(urt_to_thread_try(gated_job, (void *)(intptr_t)9, &f), 0);
	pthread_t th;
	pthread_create(&th, NULL, open_gate_soon, NULL);
	void *res = NULL;
	/* now + timeout overflows: that must not read as "already past" */
	cr_expect_eq(urt_future_wait(f, UINT64_MAX - 1, &res), 0);
	cr_expect_eq((intptr_t)res, 9);
	pthread_join(th, NULL);
	urt_future_release(f);
	cr_assert_eq(urt_offload_shutdown(), 0);
}

/* Cancel races the job's end: whichever the future records first wins,
 * and the caller's answer agrees with the wait's. */
Test(offload, future_cancel_agrees_with_wait, .timeout = 30)
{
	int cancelled = 0, late = 0;
	for (int i = 0; i < 3000; i++) {
		urt_future *f;
		cr_assert_eq(urt_to_thread_try(urt_test_identity, (void *)(intptr_t)i, &f), 0);
		if (i & 1)
			usleep(1); /* vary where the cancel lands */
		int c = urt_future_cancel(f);
		void *res = NULL;
		int w = urt_future_wait(f, UINT64_MAX, &res);
		if (c == 0) {
			cr_assert_eq(w, -ECANCELED, "cancel said 0, the wait %d (job %d)", w, i);
			cancelled++;
		} else {
			cr_assert_eq(c, -EALREADY);
			cr_assert_eq(w, 0, "job %d", i);
			cr_assert_eq((intptr_t)res, i);
			late++;
		}
		urt_future_release(f);
	}
	cr_log_info("cancelled %d, too late %d", cancelled, late);
	cr_assert_eq(urt_offload_shutdown(), 0);
}

/* ---- capped classes do not fill the queue for class 0 ------------------------- */

static void *class5_task(void *arg)
{
	return (void *)(intptr_t)urt_to_thread_class(5, gated_job, arg, NULL);
}

static void *class_bound_main(void *arg)
{
	(void)arg;
	/* class 5 capped at 1, queue bound 2: one runs, two queue behind the
	 * cap, the fourth parks for room in its class */
	urt_task *t[4];
	for (int i = 0; i < 4; i++)
		cr_assert_eq(urt_spawn(&t[i], class5_task, NULL, NULL), 0);
	urt_offload_stats st;
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; urt_test_mono_ms() < end; urt_sleep(MS)) {
		urt_offload_stats_get(URT_POOL_BLOCKING, &st);
		if (atomic_load(&gate_entered) == 1 && st.queued == 2 && st.waiting == 1)
			break;
	}
	cr_expect_eq(st.queued, 2, "queued %u", st.queued);
	cr_expect_eq(st.waiting, 1, "waiting %u", st.waiting);
	/* class 0 has its own room: workers are free, it must run now */
	urt_future *f = NULL;
	cr_expect_eq(urt_to_thread_try(sleep_ms_job, (void *)(intptr_t)1, &f), 0,
		     "class 0 refused behind a capped class");
	if (f) {
		cr_expect_eq(urt_future_wait(f, WAIT_MS * MS, NULL), 0);
		urt_future_release(f);
	}
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, WAIT_MS / 2 * MS), 0);
	cr_expect_eq(urt_to_thread(sleep_ms_job, (void *)(intptr_t)1, NULL), 0,
		     "class 0 parked behind a capped class");
	urt_deadline_exit(&d);
	atomic_store(&gate_open, 1);
	for (int i = 0; i < 4; i++) {
		void *r;
		urt_join(t[i], &r);
		cr_expect_eq((intptr_t)r, 0);
	}
	cr_expect_eq(atomic_load(&gate_left), 4);
	return NULL;
}

Test(offload, capped_class_does_not_fill_class0_queue, .timeout = 20)
{
	gate_reset();
	cr_assert_eq(urt_offload_configure(&(urt_offload_config){.queue_bound = 2}), 0);
	cr_assert_eq(urt_offload_class_limit(5, 1), 0);
	urt_test_run_offload(class_bound_main, NULL);
}

/* ---- an abandoned job keeps its task's stack ---------------------------------- */

/* A task's frames sit at the top of its stack: two tasks whose first
 * frames are this close share one stack (separate ones are separate
 * mappings of at least 16 KiB apart). */
static bool same_stack(uintptr_t a, uintptr_t b)
{
	return (a > b ? a - b : b - a) < 4096;
}

static void *frame_task(void *arg)
{
	(void)arg;
	return __builtin_frame_address(0);
}

/* Stops waiting for its job at its deadline while the job still runs
 * (gated): the job may write into this task's stack until it ends. */
static void *abandoning_frame_task(void *arg)
{
	urt_deadline d;
	cr_assert_eq(urt_deadline_enter(&d, 5 * MS), 0);
	*(intptr_t *)arg = urt_to_thread(gated_job, NULL, NULL);
	urt_deadline_exit(&d);
	return __builtin_frame_address(0);
}

static uintptr_t frame_of_new_task(urt_task_fn fn, void *arg)
{
	urt_task *t;
	void *r;
	cr_assert_eq(urt_spawn(&t, fn, arg, NULL), 0);
	cr_assert_eq(urt_join(t, &r), 0);
	return (uintptr_t)r;
}

static void *stack_kept_main(void *arg)
{
	(void)arg;
	intptr_t r = 1;
	uintptr_t a = frame_of_new_task(abandoning_frame_task, &r);
	cr_expect_eq(r, -ETIME);
	cr_expect_eq(atomic_load(&gate_left), 0, "the job still runs");
	/* the pool hands out its last stack first: without the pin, that
	 * is the abandoning task's, which the job may still write into */
	uintptr_t b = frame_of_new_task(frame_task, NULL);
	cr_expect_not(same_stack(a, b), "a new task got the stack an abandoned job may write into");
	atomic_store(&gate_open, 1);
	/* once the job has come back, the stack is pooled again (not lost) */
	bool back = false;
	for (uint64_t end = urt_test_mono_ms() + WAIT_MS; !back && urt_test_mono_ms() < end;) {
		urt_sleep(MS);
		back = atomic_load(&gate_left) == 1 && same_stack(a, frame_of_new_task(frame_task, NULL));
	}
	cr_expect(back, "the abandoned job's stack never came back to the pool");
	return NULL;
}

Test(offload, abandoned_job_keeps_task_stack, .timeout = 20)
{
	gate_reset();
	urt_test_run_offload(stack_kept_main, NULL);
}

/* ---- a loop abandoned with submissions in its inbox --------------------------- */

#ifdef URT_FAULT_INJECTION
/* Each link of a chain submits the next one to its own loop, starts a read
 * that stays in flight (so the tick enters the ring) and ends. With the
 * ring broken, every tick fails: the loop winds down and is abandoned while
 * a link's spawn message waits in its inbox, posted after the last tick
 * took the inbox. Its submitter must hear -ESHUTDOWN, not wait for ever. */
#define CHAIN_MAX 64
static urt_future *chain[CHAIN_MAX];
static atomic_int chain_started;
static int chain_pipe[2];

static void *chain_link(void *arg)
{
	intptr_t i = (intptr_t)arg;
	atomic_fetch_add(&chain_started, 1);
	if (i + 1 < CHAIN_MAX)
		cr_assert_eq(urt_submit(urt_loop_current(), chain_link, (void *)(i + 1), &chain[i + 1]), 0);
	cr_assert_eq(urt_spawn(NULL, urt_test_read_byte, (void *)(intptr_t)chain_pipe[0], NULL), 0);
	return arg;
}

static void *chain_main(void *arg)
{
	(void)arg;
	/* keeps the run going once the main task has ended */
	cr_assert_eq(urt_spawn(NULL, urt_test_read_byte, (void *)(intptr_t)chain_pipe[0], NULL), 0);
	cr_assert_eq(urt_fault_set(URT_FAULT_ENTER, -1, -EFAULT), 0);
	cr_assert_eq(urt_submit(urt_loop_current(), chain_link, NULL, &chain[0]), 0);
	return NULL;
}

Test(offload, abandoned_loop_fails_pending_submissions, .timeout = 30)
{
	cr_assert_eq(pipe(chain_pipe), 0);
	int r = urt_run(chain_main, NULL, &(urt_config){.stall_ns = UINT64_MAX}, NULL);
	urt_fault_set(URT_FAULT_ENTER, 0, -1);
	cr_assert_eq(r, -EFAULT);
	cr_assert_null(urt_loop_current(), "the loop was abandoned");
	int started = atomic_load(&chain_started);
	cr_assert_lt(started, CHAIN_MAX, "the chain outran the broken ring");
	void *res = NULL;
	for (int i = 0; i < started; i++) {
		cr_expect_eq(urt_future_wait(chain[i], UINT64_MAX, &res), 0, "link %d", i);
		cr_expect_eq((intptr_t)res, i);
		urt_future_release(chain[i]);
	}
	cr_expect_eq(urt_future_wait(chain[started], 2000 * MS, &res), -ESHUTDOWN,
		     "the submission left in the abandoned loop's inbox");
	urt_future_release(chain[started]);
	close(chain_pipe[0]);
	close(chain_pipe[1]);
}
#endif
