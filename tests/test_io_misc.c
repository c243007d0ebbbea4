/* urt_poll, urt_splice and urt_write_all over pipes; bad input. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

TestSuite(io_misc, .timeout = 10);

static int g_p[2];

static void *late_write(void *arg)
{
	(void)arg;
	urt_sleep(2 * URT_NS_PER_MS);
	return (void *)(intptr_t)urt_write(g_p[1], "!", 1, URT_POS_CURRENT);
}

static void *polls(void *arg)
{
	(void)arg;
	cr_assert_eq(pipe(g_p), 0);
	int r = urt_poll(g_p[1], POLLOUT);
	cr_expect_gt(r, 0);
	cr_expect(r & POLLOUT, "an empty pipe is writable: %#x", r);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, late_write, NULL, NULL), 0);
	uint64_t t0 = urt_now();
	r = urt_poll(g_p[0], POLLIN);
	cr_expect_geq(urt_now() - t0, 2 * URT_NS_PER_MS, "poll returned before the data");
	cr_expect(r & POLLIN, "revents %#x", r);
	cr_expect_eq(urt_test_readable(g_p[0]), 1, "poll consumed data");
	void *w;
	cr_expect_eq(urt_join(t, &w), 0);
	cr_expect_eq((intptr_t)w, 1);
	/* the writer closes: the reader sees POLLHUP */
	close(g_p[1]);
	char c;
	cr_expect_eq(read(g_p[0], &c, 1), 1);
	r = urt_poll(g_p[0], POLLIN);
	cr_expect(r & POLLHUP, "revents %#x", r);
	close(g_p[0]);
	return NULL;
}

Test(io_misc, poll)
{
	urt_test_run(polls, NULL);
}

static void *splices(void *arg)
{
	(void)arg;
	char dir[64];
	urt_test_tmpdir(dir, sizeof dir);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	int f = urt_openat(dfd, "s", O_CREAT | O_RDWR, 0600);
	cr_assert_geq(f, 0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	/* pipe -> file at an offset */
	cr_expect_eq(urt_write(p[1], "spliced!", 8, URT_POS_CURRENT), 8);
	cr_expect_eq(urt_splice(p[0], URT_POS_CURRENT, f, 100, 8, 0), 8);
	char buf[16] = {0};
	cr_expect_eq(urt_read(f, buf, 8, 100), 8);
	cr_expect_str_eq(buf, "spliced!");
	/* file at an offset -> pipe */
	cr_expect_eq(urt_splice(f, 103, p[1], URT_POS_CURRENT, 5, 0), 5);
	memset(buf, 0, sizeof buf);
	cr_expect_eq(urt_read(p[0], buf, sizeof buf, URT_POS_CURRENT), 5);
	cr_expect_str_eq(buf, "iced!");
	/* file with the current position -> pipe */
	cr_assert_eq(lseek(f, 101, SEEK_SET), 101);
	cr_expect_eq(urt_splice(f, URT_POS_CURRENT, p[1], URT_POS_CURRENT, 3, 0), 3);
	cr_expect_eq(lseek(f, 0, SEEK_CUR), 104, "splice did not advance the file position");
	memset(buf, 0, sizeof buf);
	cr_expect_eq(urt_read(p[0], buf, sizeof buf, URT_POS_CURRENT), 3);
	cr_expect_str_eq(buf, "pli");
	/* bad input */
	cr_expect_eq(urt_splice(-1, URT_POS_CURRENT, p[1], URT_POS_CURRENT, 1, 0), -EBADF);
	cr_expect_eq(urt_splice(f, 0, -1, URT_POS_CURRENT, 1, 0), -EBADF);
	cr_expect_eq(urt_splice(f, 0, f, 0, 1, 0), -EINVAL, "neither end is a pipe");
	cr_expect_eq(urt_splice(p[0], 5, f, 0, 1, 0), -ESPIPE, "an offset on a pipe");
	close(p[0]);
	close(p[1]);
	cr_expect_eq(urt_close(f), 0);
	close(dfd);
	urt_test_rmtree(dir);
	return NULL;
}

Test(io_misc, splice)
{
	urt_test_run(splices, NULL);
}

/* write_all over a pipe, much larger than the pipe buffer. */
enum { BIG = 4 << 20 };

static void *pipe_reader(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char *buf = malloc(1 << 16);
	size_t got = 0;
	intptr_t bad = 0;
	ssize_t n;
	while ((n = urt_read(fd, buf, 1 << 16, URT_POS_CURRENT)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			bad += buf[i] != (unsigned char)((got + (size_t)i) * 7 % 253);
		got += (size_t)n;
	}
	free(buf);
	return (void *)(bad ? -1 : (intptr_t)got);
}

static void *write_all_pipe(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(pipe(p), 0);
	unsigned char *out = malloc(BIG);
	for (size_t i = 0; i < BIG; i++)
		out[i] = (unsigned char)(i * 7 % 253);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, pipe_reader, (void *)(intptr_t)p[0], NULL), 0);
	cr_expect_eq(urt_write_all(p[1], out, BIG), BIG);
	close(p[1]);
	void *got;
	cr_expect_eq(urt_join(t, &got), 0);
	cr_expect_eq((intptr_t)got, BIG, "reader got %ld (-1: corrupted)", (long)(intptr_t)got);
	close(p[0]);
	cr_expect_eq(urt_write_all(-1, out, 4), -EBADF);
	cr_expect_eq(urt_write_all(1, NULL, 4), -EFAULT);
	free(out);
	return NULL;
}

Test(io_misc, write_all_pipe)
{
	urt_test_run(write_all_pipe, NULL);
}

static void *bad_poll(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_poll(-1, POLLIN), -EBADF);
	cr_expect_eq(urt_poll(1 << 20, POLLIN), -EBADF);
	return NULL;
}

Test(io_misc, poll_bad_fd)
{
	urt_test_run(bad_poll, NULL);
}

Test(io_misc, outside_a_task_eperm)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_expect_eq(urt_poll(p[1], POLLOUT), -EPERM);
	cr_expect_eq(urt_splice(p[0], URT_POS_CURRENT, p[1], URT_POS_CURRENT, 1, 0), -EPERM);
	cr_expect_eq(urt_write_all(p[1], "abc", 3), -EPERM);
	cr_expect_eq(urt_write_all(p[1], "abc", 0), -EPERM, "write_all of nothing outside a task");
	cr_expect_eq(urt_test_readable(p[0]), 0);
	close(p[0]);
	close(p[1]);
}
