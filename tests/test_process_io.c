/* Subprocess I/O: every stdio mode, environment and working directory,
 * outputs larger than a pipe buffer on both streams at once, and 100
 * children running concurrently. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "urt_process.h"

TestSuite(process_io, .timeout = 30);

/* Read fd to EOF into buf (up to cap); returns the byte count or -errno. */
static ssize_t read_all(int fd, char *buf, size_t cap)
{
	static char sink[65536]; /* not on the 64 KiB task stack; only the count matters */
	size_t got = 0;
	for (;;) {
		char *dst = buf ? buf + got : sink;
		size_t room = buf ? cap - got : sizeof sink;
		if (buf && room == 0)
			return -ENOBUFS;
		ssize_t n = urt_read(fd, dst, room, URT_POS_CURRENT);
		if (n < 0)
			return n;
		if (n == 0)
			return (ssize_t)got;
		got += (size_t)n;
	}
}

static int run_wait(urt_process *p)
{
	urt_process_status st;
	int r = urt_process_wait(p, 10 * URT_NS_PER_SEC, &st);
	if (r < 0)
		return r;
	return st.exited ? st.code : 128 + st.signal;
}

/* ---- pipes ------------------------------------------------------------------ */

static void *pipe_roundtrip(void *arg)
{
	(void)arg;
	const char *argv[] = {"cat", NULL};
	urt_process_opts o = {.argv = argv};
	o.stdio[0].mode = URT_STDIO_PIPE;
	o.stdio[1].mode = URT_STDIO_PIPE;
	urt_process *p;
	cr_assert_eq(urt_process_spawn(&p, &o), 0);
	cr_expect_eq(urt_process_fd(p, 2), -EBADF, "stderr is not piped");
	cr_expect_eq(urt_process_fd(p, 3), -EINVAL);
	cr_expect_eq(urt_process_fd(p, -1), -EINVAL);
	int in = urt_process_fd(p, 0), out = urt_process_fd(p, 1);
	cr_assert_geq(in, 3);
	cr_assert_geq(out, 3);
	cr_expect(fcntl(in, F_GETFD) & FD_CLOEXEC, "parent ends are close-on-exec");
	cr_expect_eq(urt_write_all(in, "hello\n", 6), 6);
	cr_expect_eq(urt_process_close_fd(p, 0), 0, "EOF for cat");
	cr_expect_eq(urt_process_close_fd(p, 0), -EBADF, "closed twice");
	char buf[64] = {0};
	cr_expect_eq(read_all(out, buf, sizeof buf), 6);
	cr_expect_str_eq(buf, "hello\n");
	cr_expect_eq(run_wait(p), 0);
	urt_process_release(p);
	return NULL;
}

Test(process_io, pipe_roundtrip)
{
	urt_test_run(pipe_roundtrip, NULL);
}

/* Both streams carry far more than the 64 KiB pipe buffer: reading them
 * in two tasks while the child writes must not deadlock. */
#define BIG (1 << 20)

static void *drain(void *arg)
{
	return (void *)(intptr_t)read_all((int)(intptr_t)arg, NULL, 0);
}

static void *feed(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(BIG);
	memset(buf, 'x', BIG);
	ssize_t n = urt_write_all(fd, buf, BIG);
	free(buf);
	close(fd); /* EOF for the child */
	return (void *)(intptr_t)n;
}

static void *big_outputs(void *arg)
{
	(void)arg;
	/* stdin -> stdout through cat, and 1 MiB more on stderr first */
	const char *argv[] = {"/bin/sh", "-c", "head -c 1048576 /dev/zero >&2; cat", NULL};
	urt_process_opts o = {.argv = argv};
	for (int i = 0; i < 3; i++)
		o.stdio[i].mode = URT_STDIO_PIPE;
	urt_process *p;
	cr_assert_eq(urt_process_spawn(&p, &o), 0);
	urt_task *t_in, *t_out, *t_err;
	/* the feeder closes stdin itself: take the fd from the record */
	int in = urt_process_fd(p, 0);
	cr_assert_eq(urt_spawn(&t_in, feed, (void *)(intptr_t)dup(in), NULL), 0);
	urt_process_close_fd(p, 0);
	cr_assert_eq(urt_spawn(&t_out, drain, (void *)(intptr_t)urt_process_fd(p, 1), NULL), 0);
	cr_assert_eq(urt_spawn(&t_err, drain, (void *)(intptr_t)urt_process_fd(p, 2), NULL), 0);
	void *a, *b, *c;
	cr_expect_eq(urt_join(t_in, &a), 0);
	cr_expect_eq(urt_join(t_out, &b), 0);
	cr_expect_eq(urt_join(t_err, &c), 0);
	cr_expect_eq((intptr_t)a, BIG);
	cr_expect_eq((intptr_t)b, BIG, "stdout bytes");
	cr_expect_eq((intptr_t)c, BIG, "stderr bytes");
	cr_expect_eq(run_wait(p), 0);
	urt_process_release(p);
	return NULL;
}

Test(process_io, larger_than_pipe_buffer)
{
	urt_test_run(big_outputs, NULL);
}

/* ---- files, /dev/null, inherit ---------------------------------------------- */

static char g_dir[64];

static void *files(void *arg)
{
	(void)arg;
	char out_path[128], in_path[128];
	snprintf(out_path, sizeof out_path, "%s/out", g_dir);
	snprintf(in_path, sizeof in_path, "%s/in", g_dir);
	int fd = open(in_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	cr_assert_eq(write(fd, "from a file\n", 12), 12);
	close(fd);
	/* stdin from a file, stdout to a file, twice: TRUNC then APPEND */
	const char *argv[] = {"cat", NULL};
	urt_process_opts o = {.argv = argv};
	o.stdio[0] = (urt_stdio){URT_STDIO_FILE, in_path};
	o.stdio[1] = (urt_stdio){URT_STDIO_FILE, out_path};
	urt_process *p;
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(urt_process_spawn(&p, &o), 0);
		cr_expect_eq(run_wait(p), 0);
		urt_process_release(p);
	}
	o.stdio[1].mode = URT_STDIO_APPEND;
	cr_assert_eq(urt_process_spawn(&p, &o), 0);
	cr_expect_eq(run_wait(p), 0);
	urt_process_release(p);
	char buf[64] = {0};
	fd = open(out_path, O_RDONLY | O_CLOEXEC);
	cr_expect_eq(read(fd, buf, sizeof buf - 1), 24, "truncated once, appended once");
	close(fd);
	cr_expect_str_eq(buf, "from a file\nfrom a file\n");

	/* /dev/null: stdin at EOF at once, output discarded */
	const char *cat_err[] = {"/bin/sh", "-c", "cat; echo gone >&2", NULL};
	urt_process_opts n = {.argv = cat_err};
	n.stdio[0].mode = URT_STDIO_NULL;
	n.stdio[1].mode = URT_STDIO_PIPE;
	n.stdio[2].mode = URT_STDIO_NULL;
	cr_assert_eq(urt_process_spawn(&p, &n), 0);
	cr_expect_eq(read_all(urt_process_fd(p, 1), buf, sizeof buf), 0);
	cr_expect_eq(run_wait(p), 0);
	urt_process_release(p);
	return NULL;
}

Test(process_io, files_and_null)
{
	urt_test_tmpdir(g_dir, sizeof g_dir);
	urt_test_run(files, NULL);
	urt_test_rmtree(g_dir);
}

static void *inherit(void *arg)
{
	(void)arg;
	const char *argv[] = {"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2", NULL};
	urt_process_opts o = {.argv = argv};
	urt_process *p;
	cr_assert_eq(urt_process_spawn(&p, &o), 0);
	cr_expect_eq(run_wait(p), 0);
	urt_process_release(p);
	return NULL;
}

Test(process_io, inherit)
{
	/* point our own stdout/stderr at a pipe for the duration */
	int pp[2];
	cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
	fflush(stdout);
	fflush(stderr);
	int save1 = dup(1), save2 = dup(2);
	dup2(pp[1], 1);
	dup2(pp[1], 2);
	urt_run(inherit, NULL, NULL, NULL);
	dup2(save1, 1);
	dup2(save2, 2);
	close(save1);
	close(save2);
	close(pp[1]);
	char buf[128] = {0};
	ssize_t n = read(pp[0], buf, sizeof buf - 1);
	close(pp[0]);
	cr_expect_gt(n, 0);
	cr_expect_str_eq(buf, "to-stdout\nto-stderr\n");
}

/* ---- environment and working directory ---------------------------------- */

static void *env_cwd(void *arg)
{
	(void)arg;
	const char *argv[] = {"/bin/sh", "-c", "echo \"$URT_X|$HOME\"; pwd", NULL};
	const char *envp[] = {"URT_X=42", NULL};
	urt_process_opts o = {.argv = argv, .envp = envp, .cwd = g_dir};
	o.stdio[1].mode = URT_STDIO_PIPE;
	urt_process *p;
	cr_assert_eq(urt_process_spawn(&p, &o), 0);
	char buf[256] = {0}, want[256];
	char real[200];
	cr_assert_not_null(realpath(g_dir, real));
	snprintf(want, sizeof want, "42|\n%s\n", real);
	cr_expect_gt(read_all(urt_process_fd(p, 1), buf, sizeof buf), 0);
	cr_expect_str_eq(buf, want, "only the given environment, in the given directory");
	cr_expect_eq(run_wait(p), 0);
	urt_process_release(p);

	/* NULL envp: inherited */
	setenv("URT_PROCESS_TEST_VAR", "inherited", 1);
	const char *argv2[] = {"/bin/sh", "-c", "printf %s \"$URT_PROCESS_TEST_VAR\"", NULL};
	urt_process_opts o2 = {.argv = argv2};
	o2.stdio[1].mode = URT_STDIO_PIPE;
	cr_assert_eq(urt_process_spawn(&p, &o2), 0);
	memset(buf, 0, sizeof buf);
	read_all(urt_process_fd(p, 1), buf, sizeof buf);
	cr_expect_str_eq(buf, "inherited");
	cr_expect_eq(run_wait(p), 0);
	urt_process_release(p);
	return NULL;
}

Test(process_io, env_and_cwd)
{
	urt_test_tmpdir(g_dir, sizeof g_dir);
	urt_test_run(env_cwd, NULL);
	urt_test_rmtree(g_dir);
}

/* Only fds 0-2 reach the child unless URT_PROC_KEEP_FDS. */
static void *fds_closed(void *arg)
{
	(void)arg;
	int extra = open("/dev/null", O_RDONLY); /* not close-on-exec */
	char cmd[64];
	snprintf(cmd, sizeof cmd, "test -e /proc/self/fd/%d", extra);
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	urt_process_opts o = {.argv = argv};
	urt_process *p;
	cr_assert_eq(urt_process_spawn(&p, &o), 0);
	cr_expect_eq(run_wait(p), 1, "fd %d leaked into the child", extra);
	urt_process_release(p);
	o.flags = URT_PROC_KEEP_FDS;
	cr_assert_eq(urt_process_spawn(&p, &o), 0);
	cr_expect_eq(run_wait(p), 0, "KEEP_FDS keeps it");
	urt_process_release(p);
	close(extra);
	return NULL;
}

Test(process_io, other_fds_closed)
{
	urt_test_run(fds_closed, NULL);
}

/* ---- many children ----------------------------------------------------------- */

#define NCHILD 100

static void *one_child(void *arg)
{
	int k = (int)(intptr_t)arg;
	char cmd[64];
	snprintf(cmd, sizeof cmd, "echo %d; exit %d", k, k);
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	urt_process_opts o = {.argv = argv, .flags = k % 2 ? URT_PROC_WAIT_POLL : 0};
	o.stdio[1].mode = URT_STDIO_PIPE;
	urt_process *p;
	int r = urt_process_spawn(&p, &o);
	if (r < 0)
		return (void *)(intptr_t)r;
	char buf[16] = {0};
	read_all(urt_process_fd(p, 1), buf, sizeof buf);
	int code = run_wait(p);
	urt_process_release(p);
	return (void *)(intptr_t)(atoi(buf) == k ? code : -1000);
}

static void *many(void *arg)
{
	(void)arg;
	urt_task *t[NCHILD];
	for (int i = 0; i < NCHILD; i++)
		cr_assert_eq(urt_spawn(&t[i], one_child, (void *)(intptr_t)i, NULL), 0);
	int ok = 0;
	for (int i = 0; i < NCHILD; i++) {
		void *r;
		cr_expect_eq(urt_join(t[i], &r), 0);
		cr_expect_eq((intptr_t)r, i, "child %d reported %d", i, (int)(intptr_t)r);
		ok += (intptr_t)r == i;
	}
	cr_expect_eq(ok, NCHILD);
	return NULL;
}

Test(process_io, hundred_children)
{
	urt_test_run(many, NULL);
}
