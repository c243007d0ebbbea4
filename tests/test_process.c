/* Subprocesses: spawn (each stdio mode, env, cwd), exit codes and signals,
 * waits with deadlines (IORING_OP_WAITID and the pidfd-poll fallback), and
 * bad input. Pipes and concurrency are in test_process_io.c. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "urt_process.h"
#include "uring_internal.h" /* t->wait_what, the ring probe */

TestSuite(process, .timeout = 20);

/* The wait path under test: 0 = IORING_OP_WAITID, URT_PROC_WAIT_POLL = poll. */
static unsigned g_flags;

static int spawn_argv(urt_process **p, const char *const *argv)
{
	urt_process_opts o = {.argv = argv, .flags = g_flags};
	return urt_process_spawn(p, &o);
}

static bool pid_gone(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d", pid);
	struct stat st;
	return stat(path, &st) < 0;
}

/* ---- exit status --------------------------------------------------------- */

static void *exit_codes(void *arg)
{
	(void)arg;
	for (int code = 0; code < 256; code += 85) {
		char cmd[32];
		snprintf(cmd, sizeof cmd, "exit %d", code);
		const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
		urt_process *p;
		cr_assert_eq(spawn_argv(&p, argv), 0);
		urt_process_status st;
		cr_expect_eq(urt_process_wait(p, 5 * URT_NS_PER_SEC, &st), 0);
		cr_expect_eq(st.exited, 1);
		cr_expect_eq(st.code, code);
		cr_expect_eq(st.signal, 0);
		cr_expect_eq(urt_process_release(p), 0, "already reaped: nothing killed");
	}
	return NULL;
}

static void *killed_by_signal(void *arg)
{
	(void)arg;
	const char *self_kill[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
	urt_process *p;
	cr_assert_eq(spawn_argv(&p, self_kill), 0);
	urt_process_status st;
	cr_expect_eq(urt_process_wait(p, 5 * URT_NS_PER_SEC, &st), 0);
	cr_expect_eq(st.exited, 0);
	cr_expect_eq(st.signal, SIGTERM);
	urt_process_release(p);

	/* a signal we send: it must not be blocked or ignored in the child
	 * even though the parent blocks it */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	const char *sleeper[] = {"sleep", "10", NULL};
	cr_assert_eq(spawn_argv(&p, sleeper), 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	cr_expect_eq(urt_process_signal(p, 0), 0, "signal 0 probes a live child");
	cr_expect_eq(urt_process_signal(p, SIGUSR1), 0);
	cr_expect_eq(urt_process_wait(p, 5 * URT_NS_PER_SEC, &st), 0);
	cr_expect_eq(st.signal, SIGUSR1);
	cr_expect_eq(urt_process_signal(p, SIGTERM), -ESRCH, "reaped: no signal");
	cr_expect_eq(urt_process_signal(p, -1), -EINVAL);
	cr_expect_eq(urt_process_signal(p, 100000), -EINVAL);
	urt_process_release(p);
	return NULL;
}

ParameterizedTestParameters(process, status)
{
	static unsigned modes[] = {0, URT_PROC_WAIT_POLL};
	return cr_make_param_array(unsigned, modes, 2);
}

ParameterizedTest(unsigned *mode, process, status)
{
	g_flags = *mode;
	urt_test_run(exit_codes, NULL);
	urt_test_run(killed_by_signal, NULL);
}

/* ---- which wait path runs ------------------------------------------------ */

static bool kernel_has_waitid(void)
{
	struct io_uring_probe *pr = io_uring_get_probe();
	bool ok = pr && io_uring_opcode_supported(pr, 50 /* IORING_OP_WAITID */);
	io_uring_free_probe(pr);
	return ok;
}

static urt_process *g_p;

static void *waiter(void *arg)
{
	(void)arg;
	urt_process_status st;
	return (void *)(intptr_t)urt_process_wait(g_p, 5 * URT_NS_PER_SEC, &st);
}

/* The waiting task's park label names the mechanism. */
static void *wait_path(void *arg)
{
	const char *want = arg;
	const char *argv[] = {"sleep", "10", NULL};
	cr_assert_eq(spawn_argv(&g_p, argv), 0);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, waiter, NULL, NULL), 0);
	urt_sleep(2 * URT_NS_PER_MS);
	/* a second waiter is refused while the first one waits */
	cr_expect_eq(urt_process_wait(g_p, URT_NS_PER_SEC, NULL), -EBUSY);
	cr_expect_eq(urt_process_try_wait(g_p, NULL), -EBUSY);
	cr_expect_eq(urt_process_release(g_p), -EBUSY, "release under a waiter");
	cr_expect_str_eq(t->wait_what, want);
	cr_expect_eq(urt_process_signal(g_p, SIGKILL), 0);
	void *r;
	cr_expect_eq(urt_join(t, &r), 0);
	cr_expect_eq((intptr_t)r, 0);
	urt_process_release(g_p);
	return NULL;
}

Test(process, uses_waitid_op)
{
	if (!kernel_has_waitid())
		cr_skip_test("kernel has no IORING_OP_WAITID");
	g_flags = 0;
	urt_test_run(wait_path, "waitid");
}

Test(process, poll_fallback_forced)
{
	g_flags = URT_PROC_WAIT_POLL;
	urt_test_run(wait_path, "poll");
}

/* ---- deadlines and cancellation ------------------------------------------ */

static void *deadlines(void *arg)
{
	(void)arg;
	const char *argv[] = {"sleep", "10", NULL};
	urt_process *p;
	cr_assert_eq(spawn_argv(&p, argv), 0);
	int pid = urt_process_pid(p);
	urt_process_status st = {.code = 77};
	/* a deadline in the past: at once */
	uint64_t t0 = urt_now();
	cr_expect_eq(urt_process_wait(p, 0, &st), -ETIME);
	/* loose (a loaded machine): waiting for the child would take 10 s */
	cr_expect_lt(urt_now() - t0, 5 * URT_NS_PER_SEC);
	cr_expect_eq(st.code, 77, "status untouched on -ETIME");
	/* a real deadline: the child keeps running */
	t0 = urt_now();
	cr_expect_eq(urt_process_wait(p, 30 * URT_NS_PER_MS, &st), -ETIME);
	cr_expect_geq(urt_now() - t0, 30 * URT_NS_PER_MS);
	cr_expect_eq(urt_process_signal(p, 0), 0, "still alive after -ETIME");
	cr_expect_eq(urt_process_try_wait(p, &st), -EAGAIN);
	/* the enclosing deadline applies too */
	urt_deadline d;
	urt_deadline_enter(&d, 20 * URT_NS_PER_MS);
	cr_expect_eq(urt_process_wait(p, UINT64_MAX, &st), -ETIME);
	urt_deadline_exit(&d);
	/* kill on deadline */
	cr_expect_eq(urt_process_wait_kill(p, 20 * URT_NS_PER_MS, &st), -ETIME);
	cr_expect_eq(st.signal, SIGKILL);
	cr_expect(pid_gone(pid), "killed child reaped");
	cr_expect_eq(urt_process_wait(p, URT_NS_PER_SEC, &st), -ECHILD, "waiting after reaping");
	cr_expect_eq(urt_process_try_wait(p, &st), -ECHILD);
	cr_expect_eq(urt_process_release(p), 0);
	/* wait_kill on a child that ends in time */
	const char *quick[] = {"/bin/sh", "-c", "exit 4", NULL};
	cr_assert_eq(spawn_argv(&p, quick), 0);
	cr_expect_eq(urt_process_wait_kill(p, 5 * URT_NS_PER_SEC, &st), 0);
	cr_expect_eq(st.code, 4);
	cr_expect_eq(urt_process_wait(p, URT_NS_PER_SEC, &st), -ECHILD, "waiting twice");
	urt_process_release(p);
	return NULL;
}

static int g_pid;

/* Waits, is cancelled, and leaves the child to the loop's end. */
static void *cancelled_waiter(void *arg)
{
	const char *argv[] = {"sleep", "10", NULL};
	urt_process *p;
	cr_assert_eq(spawn_argv(&p, argv), 0);
	g_pid = urt_process_pid(p);
	*(urt_process **)arg = p;
	return (void *)(intptr_t)urt_process_wait(p, UINT64_MAX, NULL);
}

/* Waits with wait_kill, is cancelled: the child dies with the wait. */
static void *cancelled_killer(void *arg)
{
	const char *argv[] = {"sleep", "10", NULL};
	urt_process *p;
	cr_assert_eq(spawn_argv(&p, argv), 0);
	g_pid = urt_process_pid(p);
	urt_process_status st;
	int r = urt_process_wait_kill(p, UINT64_MAX, &st);
	cr_expect_eq(st.signal, SIGKILL);
	cr_expect(pid_gone(g_pid), "child reaped before wait_kill returned");
	cr_expect_eq(urt_process_release(p), 0);
	(void)arg;
	return (void *)(intptr_t)r;
}

static void *cancel_main(void *arg)
{
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, (urt_task_fn)arg, &g_p, NULL), 0);
	urt_sleep(10 * URT_NS_PER_MS);
	cr_expect(!pid_gone(g_pid), "child started");
	urt_cancel(t);
	void *r;
	cr_expect_eq(urt_join(t, &r), -ECANCELED);
	cr_expect_eq((intptr_t)r, -ECANCELED);
	return NULL;
}

ParameterizedTestParameters(process, deadline_and_cancel)
{
	static unsigned modes[] = {0, URT_PROC_WAIT_POLL};
	return cr_make_param_array(unsigned, modes, 2);
}

ParameterizedTest(unsigned *mode, process, deadline_and_cancel)
{
	g_flags = *mode;
	urt_test_run(deadlines, NULL);
	urt_test_run(cancel_main, (void *)cancelled_killer);
	/* plain wait cancelled, record never released: the loop's end reaps */
	g_p = NULL;
	urt_test_baseline b = urt_test_baseline_take();
	cr_assert_eq(urt_run(cancel_main, (void *)cancelled_waiter, NULL, NULL), 0);
	cr_expect(pid_gone(g_pid), "no zombie after the loop ended");
	cr_assert_not_null(g_p);
	cr_expect_eq(urt_process_release(g_p), 0, "already reaped by the loop");
	urt_test_baseline_check(b);
}

/* release() of a running child kills and reaps it. */
static void *release_running(void *arg)
{
	(void)arg;
	const char *argv[] = {"sleep", "10", NULL};
	urt_process *p;
	cr_assert_eq(spawn_argv(&p, argv), 0);
	int pid = urt_process_pid(p);
	cr_expect_eq(urt_process_release(p), 1, "had to kill it");
	cr_expect(pid_gone(pid));
	return NULL;
}

Test(process, release_kills)
{
	urt_test_run(release_running, NULL);
}

/* ---- bad input ------------------------------------------------------------ */

static void *bad_input(void *arg)
{
	(void)arg;
	urt_process *p = NULL;
	const char *missing[] = {"/nonexistent/urt-no-such-program", NULL};
	const char *missing_path[] = {"urt-no-such-program-in-path", NULL};
	const char *ok[] = {"true", NULL};
	char dir[64], plain[96], garbage[96];
	urt_test_tmpdir(dir, sizeof dir);
	snprintf(plain, sizeof plain, "%s/plain", dir);
	snprintf(garbage, sizeof garbage, "%s/garbage", dir);
	int fd = open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	close(fd);
	fd = open(garbage, O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
	cr_assert_eq(write(fd, "\x01\x02\x03\x04garbage", 11), 11);
	close(fd);
	const char *noperm[] = {plain, NULL};
	const char *noexec[] = {garbage, NULL};
	cr_expect_eq(spawn_argv(&p, missing), -ENOENT);
	cr_expect_eq(spawn_argv(&p, missing_path), -ENOENT);
	cr_expect_eq(spawn_argv(&p, noperm), -EACCES);
	cr_expect_eq(spawn_argv(&p, noexec), -ENOEXEC);
	urt_test_rmtree(dir);
	cr_expect_null(p, "no record on failure");
	cr_expect_eq(urt_process_spawn(NULL, &(urt_process_opts){.argv = ok}), -EINVAL);
	cr_expect_eq(urt_process_spawn(&p, NULL), -EINVAL);
	cr_expect_eq(urt_process_spawn(&p, &(urt_process_opts){0}), -EINVAL);
	const char *empty[] = {NULL};
	cr_expect_eq(urt_process_spawn(&p, &(urt_process_opts){.argv = empty}), -EINVAL);
	urt_process_opts o = {.argv = ok};
	o.stdio[1].mode = 42;
	cr_expect_eq(urt_process_spawn(&p, &o), -EINVAL, "bad stdio mode");
	o.stdio[1].mode = URT_STDIO_FILE;
	cr_expect_eq(urt_process_spawn(&p, &o), -EINVAL, "FILE without a path");
	o.stdio[1].mode = URT_STDIO_INHERIT;
	o.stdio[0].mode = URT_STDIO_APPEND;
	o.stdio[0].path = "/tmp/x";
	cr_expect_eq(urt_process_spawn(&p, &o), -EINVAL, "stdin cannot append");
	o.stdio[0] = (urt_stdio){URT_STDIO_FILE, "/nonexistent/input"};
	cr_expect_eq(urt_process_spawn(&p, &o), -ENOENT, "missing stdin file");
	o.stdio[0] = (urt_stdio){0};
	o.cwd = "/nonexistent/dir";
	cr_expect_eq(urt_process_spawn(&p, &o), -ENOENT, "missing cwd");
	/* NULL handles */
	cr_expect_eq(urt_process_wait(NULL, 0, NULL), -EINVAL);
	cr_expect_eq(urt_process_wait_kill(NULL, 0, NULL), -EINVAL);
	cr_expect_eq(urt_process_try_wait(NULL, NULL), -EINVAL);
	cr_expect_eq(urt_process_signal(NULL, SIGTERM), -EINVAL);
	cr_expect_eq(urt_process_release(NULL), -EINVAL);
	cr_expect_eq(urt_process_pid(NULL), -EINVAL);
	cr_expect_eq(urt_process_fd(NULL, 0), -EINVAL);
	cr_expect_eq(urt_process_close_fd(NULL, 0), -EINVAL);
	return NULL;
}

Test(process, bad_input)
{
	urt_test_run(bad_input, NULL);
	/* no loop on this thread */
	urt_process *p;
	const char *ok[] = {"true", NULL};
	cr_expect_eq(urt_process_spawn(&p, &(urt_process_opts){.argv = ok}), -EPERM);
}

/* Waiting from the scheduler (not a task) is refused. */
static void *outside_task_spawner(void *arg)
{
	(void)arg;
	const char *ok[] = {"true", NULL};
	urt_process *p;
	cr_assert_eq(spawn_argv(&p, ok), 0);
	return p;
}

Test(process, wait_outside_task)
{
	urt_process *p = urt_test_run(outside_task_spawner, NULL);
	/* the loop ended and reaped it; no loop now */
	cr_expect_eq(urt_process_wait(p, 0, NULL), -ECHILD);
	cr_expect_eq(urt_process_release(p), 0);
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, NULL), 0);
	const char *ok[] = {"true", NULL};
	static const unsigned modes[] = {0, URT_PROC_WAIT_POLL};
	for (int m = 0; m < 2; m++) {
		cr_assert_eq(urt_process_spawn(&p, &(urt_process_opts){.argv = ok, .flags = modes[m]}), 0);
		usleep(50 * 1000); /* it has exited: a poll-mode wait could reap it at once */
		cr_expect_eq(urt_process_wait(p, URT_NS_PER_SEC, NULL), -EPERM, "mode %u", modes[m]);
		cr_expect_eq(urt_process_wait(p, UINT64_MAX, NULL), -EPERM, "mode %u, no deadline", modes[m]);
		cr_expect_eq(urt_process_release(p), 1, "never reaped: release reaps it");
	}
	cr_expect_eq(urt_loop_destroy(l), 0);
}

/* ---- fork ------------------------------------------------------------------ */

/* A forked child inherits the records (and pidfds) of its parent's
 * children, but they are not its children: releasing its copy of a record,
 * or starting a loop of its own and spawning there, must leave the
 * parent's running child alone. The forked child reports through its exit
 * status. */
static void *spawn_true(void *arg)
{
	(void)arg;
	const char *ok[] = {"true", NULL};
	urt_process *p;
	if (spawn_argv(&p, ok) != 0)
		return (void *)1;
	int r = urt_process_wait(p, 5 * URT_NS_PER_SEC, NULL);
	urt_process_release(p);
	return (void *)(intptr_t)(r != 0);
}

static int forked_status(pid_t pid)
{
	int st = 0;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void *fork_with_child(void *arg)
{
	(void)arg;
	const char *argv[] = {"sleep", "10", NULL};
	for (int round = 0; round < 2; round++) {
		urt_process *p;
		cr_assert_eq(spawn_argv(&p, argv), 0);
		pid_t f = fork();
		if (f == 0) {
			if (round == 0)
				_exit(urt_process_release(p) < 0);
			void *res = (void *)1;
			_exit(urt_run(spawn_true, NULL, NULL, &res) != 0 || res != NULL);
		}
		cr_assert_gt(f, 0);
		cr_expect_eq(forked_status(f), 0, "round %d", round);
		urt_sleep(50 * URT_NS_PER_MS); /* a SIGKILL sent would have landed */
		cr_expect_eq(urt_process_try_wait(p, NULL), -EAGAIN,
			     "round %d: the parent's child still runs", round);
		cr_expect_eq(urt_process_release(p), 1, "round %d", round);
	}
	return NULL;
}

Test(process, fork_child_leaves_parent_children_alone)
{
	g_flags = 0;
	urt_test_run(fork_with_child, NULL);
}

/* release() from a thread other than the spawner's: the record is still
 * in the spawning loop's registry (its reaper would touch it after the
 * free), so the call is refused and the child left running. */
static void *release_elsewhere(void *arg)
{
	return (void *)(intptr_t)urt_process_release(arg);
}

static void *release_from_other_thread(void *arg)
{
	(void)arg;
	const char *argv[] = {"sleep", "10", NULL};
	urt_process *p;
	cr_assert_eq(spawn_argv(&p, argv), 0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, release_elsewhere, p), 0);
	void *r;
	pthread_join(th, &r);
	cr_assert_eq((intptr_t)r, -EINVAL, "another thread's release");
	cr_expect_eq(urt_process_try_wait(p, NULL), -EAGAIN, "the child still runs");
	cr_expect_eq(urt_process_release(p), 1);
	return NULL;
}

Test(process, release_from_other_thread_refused)
{
	g_flags = 0;
	urt_test_run(release_from_other_thread, NULL);
}
