/* fork(2) and loops: a child does not have the parent's rings mapped
 * (MADV_DONTFORK), every use of a loop inherited over fork is a clean
 * -ECHILD, the child may start its own loop, and the parent carries on
 * undisturbed. Children report through their exit status (one bit per
 * failed check), never through Criterion. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "urt_offload.h"

#define MS URT_NS_PER_MS

/* Mappings of the io_uring instance in this process's address space. */
static int ring_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	char line[512];
	int n = 0;
	while (fgets(line, sizeof line, f))
		n += strstr(line, "io_uring") != NULL;
	fclose(f);
	return n;
}

static int child_status(pid_t pid)
{
	int st = 0;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void *ret_arg(void *arg) { return arg; }

/* In the child: what a task that forked may and may not do. */
static int child_checks(urt_loop *inherited, urt_task *sibling)
{
	int fail = 0;
	if (ring_mappings() != 0)
		fail |= 1; /* the parent's rings are reachable */
	if (urt_loop_current() != NULL || urt_self() != NULL)
		fail |= 2;
	if (urt_sleep(MS) != -ECHILD || urt_yield() != -ECHILD || urt_join(sibling, NULL) != -ECHILD)
		fail |= 4;
	if (urt_loop_step(inherited, 0) != -ECHILD || urt_loop_destroy(inherited) != -ECHILD ||
	    urt_loop_fd(inherited) != -ECHILD || urt_loop_hold(inherited) != -ECHILD ||
	    urt_loop_timeout(inherited) != -ECHILD)
		fail |= 8;
	if (urt_call_soon(inherited, ret_arg, NULL) != -ECHILD)
		fail |= 16;
	void *res = NULL;
	if (urt_run(ret_arg, (void *)9, NULL, &res) != 0 || res != (void *)9)
		fail |= 32; /* a fresh loop in the child works */
	return fail;
}

static void *fork_in_task(void *arg)
{
	(void)arg;
	cr_assert_gt(ring_mappings(), 0, "the ring should be mapped in the parent");
	urt_loop *l = urt_loop_current();
	urt_task *sibling;
	cr_assert_eq(urt_spawn(&sibling, ret_arg, NULL, NULL), 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(child_checks(l, sibling));
	cr_assert_gt(pid, 0);
	cr_assert_eq(urt_join(sibling, NULL), 0);
	/* the parent's loop is untouched: I/O and timers still work */
	cr_assert_eq(urt_sleep(MS), 0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(urt_write(p[1], "ok", 2, URT_POS_CURRENT), 2);
	char b[2];
	cr_assert_eq(urt_read(p[0], b, 2, URT_POS_CURRENT), 2);
	close(p[0]);
	close(p[1]);
	return (void *)(intptr_t)child_status(pid);
}

Test(fork, child_of_a_task_gets_echild, .timeout = 30)
{
	void *st = urt_test_run(fork_in_task, NULL);
	cr_assert_eq((intptr_t)st, 0, "child failed checks, mask %ld", (long)(intptr_t)st);
}

Test(fork, embedded_loop_inherited, .timeout = 30)
{
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, NULL), 0);
	cr_assert_eq(urt_spawn(NULL, ret_arg, NULL, NULL), 0);
	pid_t pid = fork();
	if (pid == 0) {
		int fail = 0;
		if (urt_loop_step(l, 0) != -ECHILD || urt_loop_destroy(l) != -ECHILD)
			fail |= 1;
		if (urt_spawn(NULL, ret_arg, NULL, NULL) != -EPERM)
			fail |= 2; /* no loop on this thread any more */
		urt_loop *mine;
		if (urt_loop_create(&mine, NULL) != 0 || urt_loop_destroy(mine) != 0)
			fail |= 4;
		_exit(fail);
	}
	cr_assert_gt(pid, 0);
	cr_assert_eq(child_status(pid), 0);
	while (urt_loop_step(l, MS) > 0)
		;
	cr_assert_eq(urt_loop_destroy(l), 0);
}

Test(fork, child_without_loop_unaffected, .timeout = 30)
{
	/* a process that never made a loop forks as usual */
	pid_t pid = fork();
	if (pid == 0) {
		void *res = NULL;
		_exit(urt_run(ret_arg, (void *)1, NULL, &res) == 0 && res == (void *)1 ? 0 : 1);
	}
	cr_assert_eq(child_status(pid), 0);
}
