/* The idle spin (urt_config.idle_spin_ns): after running messages from
 * other threads, a loop with nothing in flight polls its inbox before it
 * sleeps. It must catch the next message, never delay a timer past its
 * time, stay off with I/O in flight, on one CPU or when turned off, and
 * never keep a loop from ending. URT_TEST_THREADS. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "check_offload.h"

#define MS URT_NS_PER_MS
#define ROUND_TRIPS 200

/* A loop on its own thread with the given config; its main task sleeps
 * until stop is set, optionally with a read pending on a pipe (I/O in
 * flight), and leaves its loop's stats in stats. */
typedef struct spin_loop {
	pthread_t th;
	urt_config cfg;
	bool one_cpu;     /* pin the loop's thread to one CPU before urt_run */
	bool pending_io;  /* keep a read on a pipe in flight */
	uint64_t nap_ns;  /* the main task's sleep (a timer bounds the spin); 0 = 5 ms */
	_Atomic(urt_loop *) loop;
	atomic_int stop;
	urt_loop_stats stats;
	int rc;
} spin_loop;

static void *spin_main(void *arg)
{
	spin_loop *s = arg;
	int p[2] = {-1, -1};
	urt_task *rt = NULL;
	if (s->pending_io) {
		cr_assert_eq(pipe(p), 0);
		cr_assert_eq(urt_spawn(&rt, urt_test_read_byte, (void *)(intptr_t)p[0], NULL), 0);
	}
	atomic_store(&s->loop, urt_loop_current());
	while (!atomic_load(&s->stop))
		urt_sleep(s->nap_ns ? s->nap_ns : 5 * MS);
	if (rt) {
		cr_assert_eq(write(p[1], "x", 1), 1);
		void *got = NULL;
		cr_expect_eq(urt_join(rt, &got), 0);
		cr_expect_eq((intptr_t)got, 1, "the pending read got its byte");
		close(p[0]);
		close(p[1]);
	}
	urt_loop_stats_get(NULL, &s->stats);
	return NULL;
}

static void *spin_thread(void *arg)
{
	spin_loop *s = arg;
	if (s->one_cpu) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(sched_getcpu(), &one);
		cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
	}
	s->rc = urt_run(spin_main, s, &s->cfg, NULL);
	return NULL;
}

static urt_loop *start(spin_loop *s)
{
	cr_assert_eq(pthread_create(&s->th, NULL, spin_thread, s), 0);
	while (!atomic_load(&s->loop))
		usleep(200);
	return atomic_load(&s->loop);
}

static void finish(spin_loop *s)
{
	atomic_store(&s->stop, 1);
	cr_assert_eq(pthread_join(s->th, NULL), 0);
	cr_expect_eq(s->rc, 0);
}

static void round_trips(urt_loop *l, int n) { urt_test_submit_round_trips(l, n, UINT64_MAX); }

static bool two_cpus(void)
{
	cpu_set_t cpus;
	return sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) >= 2;
}

/* A spin long enough for any loaded machine (the submitter posts again
 * within microseconds of its wake-up, but may be preempted; no timer
 * shortens the spin): it catches most of the next submissions. */
Test(idle_spin, catches_the_next_submission, .timeout = 60)
{
	if (!two_cpus())
		cr_skip_test("needs two CPUs (the spin is off on one)");
	spin_loop s = {.cfg = {.idle_spin_ns = 500 * MS}, .nap_ns = 2 * URT_NS_PER_SEC};
	round_trips(start(&s), ROUND_TRIPS);
	finish(&s);
	cr_expect_geq(s.stats.idle_spins, ROUND_TRIPS / 2, "idle_spins %llu of %d round trips",
		      (unsigned long long)s.stats.idle_spins, ROUND_TRIPS);
}

Test(idle_spin, off_when_turned_off, .timeout = 60)
{
	spin_loop s = {.cfg = {.idle_spin_ns = UINT64_MAX}};
	round_trips(start(&s), ROUND_TRIPS);
	finish(&s);
	cr_expect_eq(s.stats.idle_spins, 0);
}

/* I/O completions are only seen by entering the ring: no spin may delay them. */
Test(idle_spin, off_with_io_in_flight, .timeout = 60)
{
	spin_loop s = {.cfg = {.idle_spin_ns = 200 * MS}, .pending_io = true};
	round_trips(start(&s), ROUND_TRIPS);
	finish(&s);
	cr_expect_eq(s.stats.idle_spins, 0);
}

/* On one CPU the spinning loop would only keep the submitter from running. */
Test(idle_spin, off_on_one_cpu, .timeout = 60)
{
	spin_loop s = {.cfg = {.idle_spin_ns = 200 * MS}, .one_cpu = true};
	round_trips(start(&s), 50);
	finish(&s);
	cr_expect_eq(s.stats.idle_spins, 0);
}

/* A spin of 30 s must neither hold a 20 ms sleeper past its time by much
 * nor keep the loop from ending once its tasks are done. */
static atomic_uint_fast64_t slept_ms;

static void *sleeper(void *arg)
{
	(void)arg;
	uint64_t t0 = urt_test_mono_ms();
	cr_expect_eq(urt_sleep(20 * MS), 0);
	atomic_store(&slept_ms, urt_test_mono_ms() - t0);
	return NULL;
}

static void *spawn_sleeper(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_spawn(NULL, sleeper, NULL, NULL);
}

Test(idle_spin, bounded_by_timers_and_loop_end, .timeout = 60)
{
	spin_loop s = {.cfg = {.idle_spin_ns = 30 * URT_NS_PER_SEC}};
	urt_loop *l = start(&s);
	uint64_t t0 = urt_test_mono_ms();
	urt_future *f;
	cr_assert_eq(urt_submit(l, spawn_sleeper, NULL, &f), 0); /* the loop spins after this */
	void *res = (void *)1;
	cr_assert_eq(urt_future_wait(f, UINT64_MAX, &res), 0);
	cr_expect_eq((intptr_t)res, 0);
	urt_future_release(f);
	while (!atomic_load(&slept_ms) && urt_test_mono_ms() - t0 < 20000)
		usleep(1000);
	cr_expect(atomic_load(&slept_ms) >= 20 && atomic_load(&slept_ms) < 10000,
		  "a 20 ms sleep took %llu ms", (unsigned long long)atomic_load(&slept_ms));
	round_trips(l, 3);
	finish(&s);
	cr_expect_lt(urt_test_mono_ms() - t0, 20000, "the loop took too long to end");
}
