/* The test runner: a clean body gives a clean report; a leaked fd, a
 * leaked task, an unreaped child (urt_process or raw) and a body past its
 * deadline are each reported; the Criterion adapter. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "urt_criterion.h"
#include "urt_process.h"

TestSuite(harness, .timeout = 20);

static bool pid_gone(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d", pid);
	struct stat st;
	return stat(path, &st) < 0;
}

static void *clean_body(void *arg)
{
	urt_sleep(URT_NS_PER_MS);
	/* a child that cannot start leaves nothing behind (no exit-127 child) */
	const char *missing[] = {"urt-no-such-program", NULL};
	urt_process *p;
	if (urt_process_spawn(&p, &(urt_process_opts){.argv = missing}) != -ENOENT)
		return NULL;
	/* a properly waited child and a joined task */
	const char *ok[] = {"true", NULL};
	if (urt_process_spawn(&p, &(urt_process_opts){.argv = ok}) < 0)
		return NULL;
	urt_process_wait(p, URT_NS_PER_SEC, NULL);
	urt_process_release(p);
	return arg;
}

Test(harness, clean_run)
{
	urt_harness_report rep;
	cr_assert_eq(urt_harness_run(clean_body, (void *)0x1234, URT_NS_PER_SEC, NULL, &rep), 0);
	char msg[256];
	urt_harness_format(&rep, msg, sizeof msg);
	cr_expect_eq(urt_harness_clean(&rep), 1, "%s", msg);
	cr_expect_str_eq(msg, "clean");
	cr_expect_eq(rep.result, (void *)0x1234);
	/* the Criterion adapter, on the same body */
	void *r = URT_CR_RUN(clean_body, (void *)0x99, URT_NS_PER_SEC);
	cr_expect_eq(r, (void *)0x99);
}

static int g_fd = -1;

static void *leak_fd(void *arg)
{
	(void)arg;
	g_fd = urt_openat(AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC, 0);
	return NULL;
}

Test(harness, catches_leaked_fd)
{
	urt_harness_report rep;
	cr_assert_eq(urt_harness_run(leak_fd, NULL, URT_NS_PER_SEC, NULL, &rep), 0);
	cr_assert_geq(g_fd, 0);
	cr_expect_eq(urt_harness_clean(&rep), 0);
	cr_expect_eq(rep.fds_left, 1);
	cr_expect_eq(rep.fds[0], g_fd);
	cr_expect_eq(rep.tasks_left, 0);
	cr_expect_eq(rep.children_left, 0);
	char msg[128], want[64];
	urt_harness_format(&rep, msg, sizeof msg);
	snprintf(want, sizeof want, "1 fd left (%d)", g_fd);
	cr_expect_str_eq(msg, want);
	close(g_fd);
}

static void *forever(void *arg)
{
	(void)arg;
	urt_sleep(3600 * URT_NS_PER_SEC);
	return NULL;
}

static void *leak_task(void *arg)
{
	(void)arg;
	urt_task_opts o = {.name = "leaky"};
	urt_spawn(NULL, forever, NULL, &o);
	return NULL;
}

static uint64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

Test(harness, catches_leaked_task)
{
	urt_harness_report rep;
	uint64_t t0 = real_ms();
	cr_assert_eq(urt_harness_run(leak_task, NULL, 5 * URT_NS_PER_SEC, NULL, &rep), 0);
	/* loose (a loaded machine); waiting for it would reach the 5 s limit */
	cr_expect_lt(real_ms() - t0, 4000, "the leaked task was cancelled, not waited for");
	cr_expect_eq(rep.run_result, 0);
	cr_expect_eq(rep.timed_out, 0);
	cr_expect_eq(rep.tasks_left, 1);
	cr_expect_str_eq(rep.task_names[0], "leaky");
	cr_expect_eq(rep.fds_left, 0);
	cr_expect_eq(urt_harness_clean(&rep), 0);
}

static int g_pid;
static urt_process *g_p;

static void *leak_process(void *arg)
{
	(void)arg;
	const char *argv[] = {"sleep", "10", NULL};
	if (urt_process_spawn(&g_p, &(urt_process_opts){.argv = argv}) == 0)
		g_pid = urt_process_pid(g_p);
	return NULL;
}

Test(harness, catches_unreaped_urt_process)
{
	urt_harness_report rep;
	cr_assert_eq(urt_harness_run(leak_process, NULL, URT_NS_PER_SEC, NULL, &rep), 0);
	cr_assert_gt(g_pid, 0);
	cr_expect_eq(rep.children_left, 1);
	cr_expect_eq(rep.children[0], g_pid);
	cr_expect(pid_gone(g_pid), "the loop's end killed and reaped it");
	cr_expect_eq(rep.fds_left, 0, "reaping closed its pidfd");
	cr_expect_eq(urt_process_release(g_p), 0);
}

static void *leak_zombie(void *arg)
{
	(void)arg;
	char *argv[] = {"true", NULL};
	extern char **environ;
	posix_spawnp(&g_pid, "true", NULL, NULL, argv, environ); /* never waited */
	/* wait until it has exited, without reaping it: a zombie */
	siginfo_t si;
	waitid(P_PID, (id_t)g_pid, &si, WEXITED | WNOWAIT);
	return NULL;
}

Test(harness, catches_zombie)
{
	urt_harness_report rep;
	cr_assert_eq(urt_harness_run(leak_zombie, NULL, 10 * URT_NS_PER_SEC, NULL, &rep), 0);
	cr_expect_eq(rep.children_left, 1);
	cr_expect_eq(rep.children[0], g_pid);
	char msg[128], want[64];
	urt_harness_format(&rep, msg, sizeof msg);
	snprintf(want, sizeof want, "1 child left (%d)", g_pid);
	cr_expect_str_eq(msg, want);
	cr_expect_eq(waitpid(g_pid, NULL, 0), g_pid);
}

static void *slow_body(void *arg)
{
	(void)arg;
	urt_task_opts o = {.name = "helper"};
	urt_spawn(NULL, forever, NULL, &o);
	urt_sleep(10 * URT_NS_PER_SEC);
	return (void *)1;
}

Test(harness, deadline)
{
	urt_harness_report rep;
	uint64_t t0 = real_ms();
	cr_assert_eq(urt_harness_run(slow_body, NULL, 50 * URT_NS_PER_MS, NULL, &rep), 0);
	uint64_t took = real_ms() - t0;
	cr_expect_geq(took, 50);
	cr_expect_lt(took, 5000, "the 10 s body ran on"); /* loose: a loaded machine */
	cr_expect_eq(rep.timed_out, 1);
	cr_expect_null(rep.result);
	cr_expect_eq(rep.tasks_left, 2, "the body and its helper");
	char msg[128];
	urt_harness_format(&rep, msg, sizeof msg);
	cr_expect_str_eq(msg, "timed out; 2 tasks left (body, helper)");
	cr_expect_eq(urt_harness_format(&rep, msg, 8), (int)strlen("timed out; 2 tasks left (body, helper)"));
	cr_expect_str_eq(msg, "timed o", "truncated");
	/* under paused time the same deadline is virtual */
	urt_config cfg = {.flags = URT_CFG_PAUSED_TIME};
	t0 = real_ms();
	cr_assert_eq(urt_harness_run(slow_body, NULL, 60 * URT_NS_PER_SEC, &cfg, &rep), 0);
	cr_expect_lt(real_ms() - t0, 5000, "the 10 s sleep took real time"); /* loose */
	cr_expect_eq(rep.timed_out, 0, "10 s of virtual sleep fits in 60 s");
	cr_expect_eq(rep.result, (void *)1);
	cr_expect_eq(rep.tasks_left, 1);
}

static void *nested(void *arg)
{
	urt_harness_report rep;
	*(int *)arg = urt_harness_run(clean_body, NULL, URT_NS_PER_SEC, NULL, &rep);
	return NULL;
}

Test(harness, bad_input)
{
	urt_harness_report rep;
	cr_expect_eq(urt_harness_run(NULL, NULL, 1, NULL, &rep), -EINVAL);
	cr_expect_eq(urt_harness_run(clean_body, NULL, 1, NULL, NULL), -EINVAL);
	cr_expect_eq(urt_harness_clean(NULL), -EINVAL);
	cr_expect_eq(urt_harness_format(NULL, NULL, 0), -EINVAL);
	int r = 0;
	urt_test_run(nested, &r);
	cr_expect_eq(r, -EBUSY, "inside a loop");
}
