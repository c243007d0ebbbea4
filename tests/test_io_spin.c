/* The I/O spin (urt_config.io_spin_ns): a loop about to sleep with I/O in
 * flight submits, then polls for completions before it sleeps. With it, a
 * loop doing round trips with a peer thread seldom sleeps (each reply
 * comes while it spins, or was there already: a slow loop, as under TSan,
 * finds it there), with each forced ring fallback; it stays off by
 * default and with paused time, never holds a timer past its time, and
 * never keeps another thread's submission waiting. URT_TEST_THREADS. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"
#include "check_offload.h"

#define MS URT_NS_PER_MS
#define ROUND_TRIPS 200

/* The far end of a socketpair on a plain thread: every byte goes straight
 * back, until the socket closes. */
static void *peer(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c;
	while (read(fd, &c, 1) == 1)
		if (write(fd, &c, 1) != 1)
			break;
	return NULL;
}

typedef struct ping {
	urt_loop_stats stats;
	int failures;
} ping;

/* The first two CPUs this thread may use (false: fewer than two). */
static bool two_cpus(int cpu[2])
{
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof set, &set) != 0 || sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return false;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpu[n++] = c;
	return n == 2;
}

static void pin(pthread_t th, int cpu)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	cr_assert_eq(pthread_setaffinity_np(th, sizeof one, &one), 0);
}

/* ROUND_TRIPS one-byte round trips with the peer thread, then the loop's
 * counters. */
static void *ping_main(void *arg)
{
	ping *p = arg;
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, peer, (void *)(intptr_t)sv[1]), 0);
	/* the loop and its peer on two CPUs: on one, the woken peer may run
	 * (and answer) before the loop has even submitted its read, and no
	 * spin is needed */
	int cpu[2];
	cpu_set_t was;
	bool pinned = two_cpus(cpu) && sched_getaffinity(0, sizeof was, &was) == 0;
	if (pinned) {
		pin(pthread_self(), cpu[0]);
		pin(th, cpu[1]);
	}
	for (int i = 0; i < ROUND_TRIPS; i++) {
		char out = (char)i, in = 0;
		if (urt_write(sv[0], &out, 1, -1) != 1 || urt_read(sv[0], &in, 1, -1) != 1 || in != out)
			p->failures++;
	}
	if (pinned) /* this is the test's thread: as it was */
		cr_assert_eq(sched_setaffinity(0, sizeof was, &was), 0);
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(th, NULL);
	close(sv[0]);
	close(sv[1]);
	urt_loop_stats_get(NULL, &p->stats);
	return NULL;
}

static ping run_ping(const urt_config *cfg)
{
	ping p = {0};
	cr_assert_eq(urt_run(ping_main, &p, cfg, NULL), 0);
	cr_expect_eq(p.failures, 0);
	return p;
}

/* A spin long enough for any loaded machine: the peer answers within
 * microseconds of the write, unless it is preempted. */
static void expect_caught(unsigned flags)
{
	int cpu[2];
	if (!two_cpus(cpu))
		cr_skip_test("one CPU: the I/O spin is off there");
	ping p = run_ping(&(urt_config){.io_spin_ns = 500 * MS, .flags = flags});
	cr_expect_lt(p.stats.waits, ROUND_TRIPS / 4, "%llu waits in %d round trips (flags %#x)",
		     (unsigned long long)p.stats.waits, ROUND_TRIPS, flags);
	cr_expect_gt(p.stats.io_spins, 0, "the spin never caught a reply (flags %#x)", flags);
}

Test(io_spin, catches_the_reply, .timeout = 60) { expect_caught(0); }

Test(io_spin, catches_the_reply_with_every_ring_fallback, .timeout = 60)
{
	expect_caught(URT_CFG_NO_DEFER_TASKRUN);
	expect_caught(URT_CFG_NO_DEFER_TASKRUN | URT_CFG_NO_COOP_TASKRUN);
	expect_caught(URT_CFG_NO_SINGLE_ISSUER | URT_CFG_NO_DEFER_TASKRUN | URT_CFG_NO_COOP_TASKRUN |
		      URT_CFG_NO_REGISTERED_FD | URT_CFG_NO_EXT_ARG);
}

Test(io_spin, off_by_default, .timeout = 60)
{
	ping p = run_ping(NULL);
	cr_expect_eq(p.stats.io_spins, 0);
	cr_expect_gt(p.stats.waits, 0, "no spin: a loop waiting for its peer sleeps");
}

Test(io_spin, off_with_paused_time, .timeout = 60)
{
	ping p = run_ping(&(urt_config){.io_spin_ns = 500 * MS, .flags = URT_CFG_PAUSED_TIME});
	cr_expect_eq(p.stats.io_spins, 0);
}

/* Nanoseconds this thread has spent runnable but not running (the
 * scheduler's run_delay), 0 if the kernel does not say. */
static uint64_t run_delay_ns(void)
{
	unsigned long long cpu = 0, delay = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	if (f) {
		if (fscanf(f, "%llu %llu", &cpu, &delay) != 2)
			delay = 0;
		fclose(f);
	}
	return delay;
}

/* A read that stays in flight, a spin of 10 s, and sleeps of 20 ms: each
 * sleep ends on time (the spin stops at the next timer, and the wait after
 * it is what is left, not another 20 ms: five sleeps took >= 200 ms when
 * the wait was not shortened by the time spun). The spinning thread may
 * be preempted on a loaded machine: the time it waited for a CPU is not
 * counted. */
static void *timer_main(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(pipe(p), 0);
	urt_task *rt;
	cr_assert_eq(urt_spawn(&rt, urt_test_read_byte, (void *)(intptr_t)p[0], NULL), 0);
	uint64_t t0 = urt_now(), d0 = run_delay_ns();
	for (int i = 0; i < 5; i++)
		cr_assert_eq(urt_sleep(20 * MS), 0);
	uint64_t preempted = run_delay_ns() - d0, took = urt_now() - t0 - preempted;
	cr_expect_lt(took, 180 * MS, "five 20 ms sleeps took %llu ms (and %llu ms preempted)",
		     (unsigned long long)(took / MS), (unsigned long long)(preempted / MS));
	cr_assert_eq(write(p[1], "x", 1), 1);
	void *got = NULL;
	cr_expect_eq(urt_join(rt, &got), 0);
	cr_expect_eq((intptr_t)got, 1);
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(io_spin, never_holds_a_timer_past_its_time, .timeout = 60)
{
	cr_assert_eq(urt_run(timer_main, NULL, &(urt_config){.io_spin_ns = 10 * URT_NS_PER_SEC}, NULL), 0);
}

/* A loop spinning (10 s, no timer to cut it short) with a read in flight
 * answers submissions from another thread at once, each time. */
typedef struct spinner {
	_Atomic(urt_loop *) loop;
	int pipe[2];
} spinner;

static void *spinner_main(void *arg)
{
	spinner *s = arg;
	atomic_store(&s->loop, urt_loop_current());
	return urt_test_read_byte((void *)(intptr_t)s->pipe[0]); /* until the test writes */
}

static void *spinner_thread(void *arg)
{
	cr_assert_eq(urt_run(spinner_main, arg, &(urt_config){.io_spin_ns = 10 * URT_NS_PER_SEC}, NULL), 0);
	return NULL;
}

Test(io_spin, never_keeps_a_submission_waiting, .timeout = 60)
{
	spinner s = {0};
	cr_assert_eq(pipe(s.pipe), 0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, spinner_thread, &s), 0);
	while (!atomic_load(&s.loop))
		usleep(200);
	urt_test_submit_round_trips(atomic_load(&s.loop), 50, URT_NS_PER_SEC);
	cr_assert_eq(write(s.pipe[1], "x", 1), 1);
	cr_assert_eq(pthread_join(th, NULL), 0);
	close(s.pipe[0]);
	close(s.pipe[1]);
}
