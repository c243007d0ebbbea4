/* io_uring unavailable: a child process whose seccomp filter makes
 * io_uring_setup fail (-EPERM, as container runtimes' default profiles
 * do, or -ENOSYS, as an old kernel would) gets a prompt, clear error from
 * urt_run, urt_loop_create and urt_cores_run: no crash, no hang. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "urt_server.h"

TestSuite(net_noring, .timeout = 20);

/* Make io_uring_setup return -err for this process (and its threads). */
static int refuse_io_uring(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof f / sizeof *f, .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 ? -errno : 0;
}

static void *never(void *arg)
{
	(void)arg;
	_exit(99); /* a task must not run without a ring */
}

/* In a child: 0 when every entry point reports -err with a message. */
static int child(int err)
{
	if (refuse_io_uring(err) < 0)
		return 10;
	int r = urt_run(never, NULL, NULL, NULL);
	if (r != -err)
		return 11;
	const char *msg = urt_strerror(r);
	if (!msg || !*msg)
		return 12;
	fprintf(stderr, "urt_run without io_uring: %s\n", msg);
	urt_loop *l;
	if (urt_loop_create(&l, NULL) != -err || urt_loop_current() != NULL)
		return 13;
	if (urt_cores_run(&(urt_cores_opts){.loops = 2, .fn = never}) != -err)
		return 14;
	return 0;
}

static void run_child(int err)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(child(err));
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "child crashed (signal %d)", WTERMSIG(st));
	cr_expect_eq(WEXITSTATUS(st), 0, "child step %d failed", WEXITSTATUS(st));
}

Test(net_noring, seccomp_eperm) { run_child(EPERM); }
Test(net_noring, old_kernel_enosys) { run_child(ENOSYS); }
