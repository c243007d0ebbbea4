/* Readiness helpers: urt_wait_port (a port that opens late, one that never
 * opens) and the line reader / urt_wait_line over a child's output. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "urt_harness.h"
#include "urt_process.h"

TestSuite(ready, .timeout = 20);

static uint16_t g_port;

static void *late_listener(void *arg)
{
	(void)arg;
	urt_sleep(30 * URT_NS_PER_MS);
	int fd = urt_tcp_listen("127.0.0.1", g_port, 16, 0);
	cr_assert_geq(fd, 0);
	int c = urt_accept(fd, NULL, NULL, SOCK_CLOEXEC); /* the probe */
	cr_expect_geq(c, 0);
	close(c);
	close(fd);
	return NULL;
}

static void *ports(void *arg)
{
	(void)arg;
	g_port = urt_test_free_port();
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, late_listener, NULL, NULL), 0);
	uint64_t t0 = urt_now();
	cr_expect_eq(urt_wait_port("127.0.0.1", g_port, 5 * URT_NS_PER_SEC), 0);
	cr_expect_geq(urt_now() - t0, 30 * URT_NS_PER_MS, "ready before the listener existed");
	cr_expect_eq(urt_join(t, NULL), 0);

	/* never opens: the deadline error */
	uint16_t dead = urt_test_free_port();
	t0 = urt_now();
	cr_expect_eq(urt_wait_port("127.0.0.1", dead, 60 * URT_NS_PER_MS), -ETIME);
	uint64_t took = urt_now() - t0;
	cr_expect_geq(took, 60 * URT_NS_PER_MS);
	/* loose (a loaded machine may run the task late) */
	cr_expect_lt(took, 5 * URT_NS_PER_SEC, "kept retrying past the deadline");
	/* deadline already passed */
	t0 = urt_now();
	cr_expect_eq(urt_wait_port("127.0.0.1", dead, 0), -ETIME);
	cr_expect_lt(urt_now() - t0, 5 * URT_NS_PER_SEC, "a past deadline still retried");
	/* bad input */
	cr_expect_eq(urt_wait_port(NULL, 1, URT_NS_PER_SEC), -EINVAL);
	cr_expect_eq(urt_wait_port("not-an-ip", 1, URT_NS_PER_SEC), -EINVAL);
	return NULL;
}

Test(ready, wait_port)
{
	urt_test_run(ports, NULL);
	cr_expect_eq(urt_wait_port("127.0.0.1", 1, URT_NS_PER_SEC), -EPERM, "outside a task");
}

/* A child whose stdout is piped; the reader goes over that pipe. */
static urt_process *child(const char *script, urt_line_reader **r, size_t max)
{
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	urt_process_opts o = {.argv = argv};
	o.stdio[1].mode = URT_STDIO_PIPE;
	urt_process *p;
	cr_assert_eq(urt_process_spawn(&p, &o), 0);
	cr_assert_eq(urt_line_reader_new(r, urt_process_fd(p, 1), max), 0);
	return p;
}

/* The same with stdin piped too (urt_process_fd(p, 0)). */
static urt_process *child_gated(const char *script, urt_line_reader **r)
{
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	urt_process_opts o = {.argv = argv};
	o.stdio[0].mode = URT_STDIO_PIPE;
	o.stdio[1].mode = URT_STDIO_PIPE;
	urt_process *p;
	cr_assert_eq(urt_process_spawn(&p, &o), 0);
	cr_assert_eq(urt_line_reader_new(r, urt_process_fd(p, 1), 0), 0);
	return p;
}

static void *lines(void *arg)
{
	(void)arg;
	urt_line_reader *r;
	urt_process *p = child("printf 'a\\nb\\r\\n\\nneedle here\\n0123456789abcdefXYZ\\nlast'", &r, 16);
	char line[64];
	cr_expect_eq(urt_read_line(r, line, sizeof line), 1);
	cr_expect_str_eq(line, "a");
	cr_expect_eq(urt_read_line(r, line, sizeof line), 1, "CR stripped");
	cr_expect_str_eq(line, "b");
	cr_expect_eq(urt_read_line(r, line, sizeof line), 0, "empty line");
	cr_expect_str_eq(line, "");
	cr_expect_eq(urt_wait_line(r, "needle", 10 * URT_NS_PER_SEC, line, 4), 11, "full length");
	cr_expect_str_eq(line, "nee", "truncated to the buffer");
	cr_expect_eq(urt_read_line(r, line, sizeof line), 16, "long line: first piece");
	cr_expect_str_eq(line, "0123456789abcdef");
	cr_expect_eq(urt_read_line(r, line, sizeof line), 3);
	cr_expect_str_eq(line, "XYZ");
	cr_expect_eq(urt_read_line(r, line, sizeof line), 4, "last line without newline");
	cr_expect_str_eq(line, "last");
	cr_expect_eq(urt_read_line(r, line, sizeof line), -ENODATA);
	cr_expect_eq(urt_read_line(r, line, sizeof line), -ENODATA, "EOF sticks");
	urt_line_reader_free(r);
	urt_process_wait(p, URT_NS_PER_SEC, NULL);
	urt_process_release(p);

	/* input ends before the needle */
	p = child("echo one; echo two", &r, 0);
	cr_expect_eq(urt_wait_line(r, "three", 10 * URT_NS_PER_SEC, line, sizeof line), -ENODATA);
	urt_line_reader_free(r);
	urt_process_wait(p, URT_NS_PER_SEC, NULL);
	urt_process_release(p);

	/* the needle never comes: deadline; nothing is lost after it. The child
	 * says "ready" only once we write to its stdin, not after a delay that
	 * a loaded machine could eat up. */
	p = child_gated("echo starting; read go; echo ready; exec sleep 10", &r);
	uint64_t t0 = urt_now();
	cr_expect_eq(urt_wait_line(r, "ready", 40 * URT_NS_PER_MS, line, sizeof line), -ETIME);
	cr_expect_geq(urt_now() - t0, 40 * URT_NS_PER_MS);
	cr_expect_eq(urt_wait_line(r, "ready", 0, NULL, 0), -ETIME, "deadline in the past");
	cr_expect_eq(urt_write(urt_process_fd(p, 0), "go\n", 3, URT_POS_CURRENT), 3);
	cr_expect_eq(urt_wait_line(r, "ready", 10 * URT_NS_PER_SEC, NULL, 0), 5,
		     "found after an earlier time-out");
	urt_line_reader_free(r);
	cr_expect_eq(urt_process_release(p), 1, "killed the sleeping child");
	return NULL;
}

Test(ready, lines)
{
	urt_test_run(lines, NULL);
}

/* A task body: after a yield, write the string arg to g_wfd. */
static int g_wfd = -1;
static void *write_later(void *arg)
{
	urt_yield();
	const char *s = arg;
	return (void *)(intptr_t)urt_write(g_wfd, s, strlen(s), URT_POS_CURRENT);
}

/* The next line from r is want, or (want NULL) the input has ended; msg:
 * what the check is about. */
static void expect_line(urt_line_reader *r, const char *want, const char *msg)
{
	char line[16];
	ssize_t n = urt_read_line(r, line, sizeof line);
	if (!want) {
		cr_expect_eq(n, -ENODATA, "%s", msg);
		return;
	}
	cr_expect_eq(n, (ssize_t)strlen(want), "%s", msg);
	cr_expect_str_eq(line, want, "%s", msg);
}

static void *exact_max_split(void *arg)
{
	(void)arg;
	int pp[2];
	cr_assert_eq(pipe(pp), 0);
	g_wfd = pp[1];
	urt_line_reader *r;
	cr_assert_eq(urt_line_reader_new(&r, pp[0], 8), 0);
	/* a line of exactly max_line bytes whose '\n' comes in a later read */
	cr_assert_eq(write(pp[1], "01234567", 8), 8);
	urt_task *t;
	cr_assert_eq(urt_spawn(&t, write_later, "\nnext\n", NULL), 0);
	expect_line(r, "01234567", "kept whole");
	expect_line(r, "next", "no empty line from the late '\\n'");
	cr_expect_eq(urt_join(t, NULL), 0);
	/* and at end of input it is a whole last line */
	cr_assert_eq(write(pp[1], "abcdefgh", 8), 8);
	close(pp[1]);
	expect_line(r, "abcdefgh", "a whole last line at end of input");
	expect_line(r, NULL, "end of input");
	urt_line_reader_free(r);
	close(pp[0]);
	return NULL;
}

Test(ready, line_of_exactly_max_split_across_reads)
{
	urt_test_run(exact_max_split, NULL);
}

static void *crlf_at_max(void *arg)
{
	(void)arg;
	int pp[2];
	cr_assert_eq(pipe(pp), 0);
	urt_line_reader *r;
	cr_assert_eq(urt_line_reader_new(&r, pp[0], 8), 0);
	const char *in = "01234567\r\nabcdefg\rXYZ\nend\n";
	cr_assert_eq(write(pp[1], in, strlen(in)), (ssize_t)strlen(in));
	close(pp[1]);
	expect_line(r, "01234567", "a CRLF line of max_line bytes");
	/* a '\r' inside a long line is data, even at the end of a piece */
	expect_line(r, "abcdefg\r", "no empty line after it");
	expect_line(r, "XYZ", "");
	expect_line(r, "end", "");
	expect_line(r, NULL, "end of input");
	urt_line_reader_free(r);
	close(pp[0]);
	return NULL;
}

Test(ready, crlf_line_of_exactly_max)
{
	urt_test_run(crlf_at_max, NULL);
}

static void *line_bad_input(void *arg)
{
	(void)arg;
	urt_line_reader *r;
	char line[8];
	cr_expect_eq(urt_line_reader_new(NULL, 0, 0), -EINVAL);
	cr_expect_eq(urt_line_reader_new(&r, -1, 0), -EINVAL);
	cr_expect_eq(urt_line_reader_new(&r, 0, (size_t)1 << 31), -EINVAL, "max_line over 2^30");
	cr_expect_eq(urt_read_line(NULL, line, sizeof line), -EINVAL);
	cr_expect_eq(urt_wait_line(NULL, "x", 0, NULL, 0), -EINVAL);
	int pp[2];
	cr_assert_eq(pipe(pp), 0);
	cr_assert_eq(urt_line_reader_new(&r, pp[0], 0), 0);
	cr_expect_eq(urt_read_line(r, NULL, 8), -EINVAL);
	cr_expect_eq(urt_read_line(r, line, 0), -EINVAL);
	cr_expect_eq(urt_wait_line(r, NULL, 0, NULL, 0), -EINVAL);
	close(pp[1]);
	cr_expect_eq(urt_read_line(r, line, sizeof line), -ENODATA, "empty input");
	close(pp[0]);
	/* a read error passes through */
	cr_expect_eq(urt_read_line(r, line, sizeof line), -ENODATA, "EOF already seen");
	urt_line_reader_free(r);
	cr_assert_eq(urt_line_reader_new(&r, 1000, 0), 0);
	cr_expect_eq(urt_read_line(r, line, sizeof line), -EBADF);
	urt_line_reader_free(r);
	urt_line_reader_free(NULL);
	return NULL;
}

Test(ready, line_bad_input)
{
	urt_test_run(line_bad_input, NULL);
}
