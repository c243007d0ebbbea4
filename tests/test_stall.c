/* The stall detector: a task that holds the loop past the threshold is
 * reported once, with its name and a backtrace naming the function that
 * spins; tasks that yield are not; reports are rate-limited but every
 * stall is counted; the watchdog thread lives only while loops do.
 * URT_TEST_THREADS: the watchdog thread reads loop state. */
#include <criterion/criterion.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static uint64_t mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * URT_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Exported (the test links with -rdynamic) so the backtrace names it. */
__attribute__((noinline)) void stall_test_spin_for(uint64_t ns)
{
	uint64_t end = mono() + ns;
	while (mono() < end)
		__asm__ volatile("" ::: "memory");
}

/* A process that stalls loads libgcc's unwinder for backtrace() once:
 * load it before the tests take their mapping baselines. */
static void warm_unwinder(void)
{
	void *pc;
	backtrace(&pc, 1);
}

static char report_path[256];
static int report_fd = -1;

static urt_config stall_cfg(uint64_t threshold_ns)
{
	char dir[128];
	urt_test_tmpdir(dir, sizeof dir);
	snprintf(report_path, sizeof report_path, "%s/stall.txt", dir);
	report_fd = open(report_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(report_fd, 0);
	return (urt_config){.stall_ns = threshold_ns, .stall_fd = report_fd};
}

/* The report file's contents (static buffer). */
static const char *report_text(void)
{
	static char buf[65536];
	ssize_t n = pread(report_fd, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static uint64_t stalls_now(void)
{
	urt_loop_stats s;
	urt_loop_stats_get(NULL, &s);
	return s.stalls;
}

static void *spinner(void *arg)
{
	stall_test_spin_for((uint64_t)(uintptr_t)arg);
	return (void *)(uintptr_t)stalls_now();
}

static void *spawn_named(void *arg)
{
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, spinner, arg, &(urt_task_opts){.name = "spinner"}), 0);
	void *r;
	cr_assert_eq(urt_join(t, &r), 0);
	return r;
}

Test(stall, spinning_task_reported_once_with_backtrace, .init = warm_unwinder)
{
	urt_config cfg = stall_cfg(50 * URT_NS_PER_MS);
	void *stalls = urt_test_run_cfg(spawn_named, (void *)(uintptr_t)(300 * URT_NS_PER_MS), &cfg);
	const char *txt = report_text();
	cr_expect_eq((uintptr_t)stalls, 1, "stalls counted: %lu", (unsigned long)(uintptr_t)stalls);
	cr_expect_eq(count(txt, "urt: stall: task "), 1, "reports:\n%s", txt);
	cr_expect_neq(strstr(txt, "\"spinner\" has held loop "), NULL, "%s", txt);
	cr_expect_neq(strstr(txt, "stall_test_spin_for"), NULL, "backtrace:\n%s", txt);
	close(report_fd);
}

/* The detector cannot tell a task that holds the loop from a loop thread
 * the kernel took the CPU from: the threshold stays well above what a
 * loaded machine does to one 1 ms slice, the yielders run for several
 * thresholds (a detector that ignored yields would report them). */
static void *yielder(void *arg)
{
	(void)arg;
	uint64_t end = mono() + 1000 * URT_NS_PER_MS;
	while (mono() < end) {
		stall_test_spin_for(URT_NS_PER_MS);
		urt_yield();
	}
	return NULL;
}

static void *two_yielders(void *arg)
{
	(void)arg;
	urt_task *a, *b;
	urt_spawn(&a, yielder, NULL, NULL);
	urt_spawn(&b, yielder, NULL, NULL);
	urt_join(a, NULL);
	urt_join(b, NULL);
	return (void *)(uintptr_t)stalls_now();
}

Test(stall, yielding_tasks_not_reported)
{
	urt_config cfg = stall_cfg(250 * URT_NS_PER_MS);
	void *stalls = urt_test_run_cfg(two_yielders, NULL, &cfg);
	cr_expect_eq((uintptr_t)stalls, 0);
	cr_expect_str_empty(report_text());
	close(report_fd);
}

/* Each stall lasts 300 ms against a 40 ms threshold: on a loaded machine
 * the watchdog can wait 100 ms and more for a CPU (150 ms stalls were
 * counted 2 of 3 in one of ~20 runs of the whole suite at -j3, see
 * two_loops_one_watchdog), and the three still end within the second
 * that rate-limits the reports. */
static void *three_stalls(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++) {
		stall_test_spin_for(300 * URT_NS_PER_MS);
		urt_sleep(0); /* a suspension point ends each stall */
	}
	return (void *)(uintptr_t)stalls_now();
}

Test(stall, reports_rate_limited_stalls_all_counted, .init = warm_unwinder)
{
	urt_config cfg = stall_cfg(40 * URT_NS_PER_MS);
	void *stalls = urt_test_run_cfg(three_stalls, NULL, &cfg);
	cr_expect_eq((uintptr_t)stalls, 3, "stalls counted: %lu", (unsigned long)(uintptr_t)stalls);
	cr_expect_eq(count(report_text(), "urt: stall: task "), 1, "one report per second:\n%s",
		     report_text());
	close(report_fd);
}

static void *thread_count_body(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_test_thread_count();
}

Test(stall, watchdog_thread_only_while_loops_run)
{
	int before = urt_test_thread_count();
	urt_config on = {.stall_ns = 50 * URT_NS_PER_MS};
	void *during = urt_test_run_cfg(thread_count_body, NULL, &on);
	cr_expect_eq((intptr_t)during, before + 1, "one watchdog thread while the loop runs");
	cr_expect_eq(urt_test_thread_count(), before, "joined when the last loop ended");
	urt_config off = {.stall_ns = UINT64_MAX};
	during = urt_test_run_cfg(thread_count_body, NULL, &off);
	cr_expect_eq((intptr_t)during, before, "no watchdog when the detector is off");
}

Test(stall, off_by_config_and_env, .init = warm_unwinder)
{
	urt_config cfg = stall_cfg(UINT64_MAX);
	void *stalls = urt_test_run_cfg(spawn_named, (void *)(uintptr_t)(120 * URT_NS_PER_MS), &cfg);
	cr_expect_eq((uintptr_t)stalls, 0);
	cr_expect_str_empty(report_text());
	close(report_fd);

	setenv("URT_STALL_MS", "0", 1);
	int before = urt_test_thread_count();
	void *during = urt_test_run(thread_count_body, NULL);
	cr_expect_eq((intptr_t)during, before, "URT_STALL_MS=0 turns it off");
	setenv("URT_STALL_MS", "30", 1); /* used when stall_ns is 0 */
	cfg = stall_cfg(0);
	/* long enough to be caught by a watchdog short of CPU (three_stalls) */
	stalls = urt_test_run_cfg(spawn_named, (void *)(uintptr_t)(300 * URT_NS_PER_MS), &cfg);
	cr_expect_eq((uintptr_t)stalls, 1);
	unsetenv("URT_STALL_MS");
	close(report_fd);
}

/* Two loops on two threads share one watchdog; both stalls are caught.
 * Each spins 400 ms against a 40 ms threshold: with both loops spinning on
 * a 2-CPU machine that also runs other tests, the watchdog can wait
 * 100 ms and more for a CPU (150 ms spins missed one stall in ~25 runs). */
static void *loop_thread(void *arg)
{
	urt_config cfg = {.stall_ns = 40 * URT_NS_PER_MS, .stall_fd = report_fd};
	void *r = NULL;
	int rc = urt_run(spawn_named, arg, &cfg, &r);
	return rc == 0 ? r : (void *)(uintptr_t)99;
}

Test(stall, two_loops_one_watchdog, .init = warm_unwinder)
{
	urt_config unused = stall_cfg(0);
	(void)unused;
	pthread_t th[2];
	for (int i = 0; i < 2; i++) /* glibc keeps joined threads' stacks: map them first */
		pthread_create(&th[i], NULL, thread_count_body, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	urt_test_baseline b = urt_test_baseline_take();
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, loop_thread, (void *)(uintptr_t)(400 * URT_NS_PER_MS));
	for (int i = 0; i < 2; i++) {
		void *r;
		pthread_join(th[i], &r);
		cr_expect_eq((uintptr_t)r, 1, "loop %d stalls %lu", i, (unsigned long)(uintptr_t)r);
	}
	cr_expect_eq(count(report_text(), "urt: stall: task "), 2, "%s", report_text());
	urt_test_baseline_check(b);
	close(report_fd);
}
