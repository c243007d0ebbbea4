/* urt_loop_dump: every task with its state, what it waits on (operation,
 * fd, how long) and a backtrace walked from its suspended stack. */
#include <criterion/criterion.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"

static int dump_fd = -1;

/* backtrace() loads libgcc's unwinder once: before the mapping baselines */
static void warm_unwinder(void)
{
	void *pc;
	backtrace(&pc, 1);
}

static const char *dump_text(void)
{
	static char buf[65536];
	ssize_t n = pread(dump_fd, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void open_dump_file(void)
{
	char path[] = "/tmp/urt-dump-XXXXXX";
	dump_fd = mkstemp(path);
	cr_assert_geq(dump_fd, 0);
	unlink(path);
}

/* Exported (-rdynamic) so the dump's backtrace names it. */
__attribute__((noinline)) void *dump_test_reader(void *arg)
{
	char c;
	ssize_t r = urt_recv(*(int *)arg, &c, 1, 0);
	__asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
	return (void *)(intptr_t)r;
}

__attribute__((noinline)) void *sleeper(void *arg)
{
	(void)arg;
	urt_sleep(10 * URT_NS_PER_SEC);
	return NULL;
}

__attribute__((noinline)) void *dump_body(void *arg)
{
	(void)arg;
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	urt_task *reader, *sl;
	cr_assert_eq(urt_spawn(&reader, dump_test_reader, &sv[0], &(urt_task_opts){.name = "reader"}), 0);
	cr_assert_eq(urt_spawn(&sl, sleeper, NULL, &(urt_task_opts){.name = "sleepy"}), 0);
	urt_sleep(20 * URT_NS_PER_MS); /* both park; the reader's recv waits ~20 ms */
	int n = urt_loop_dump(NULL, dump_fd);
	cr_expect_eq(n, 3, "main, reader, sleepy");
	const char *txt = dump_text();
	char want[128];
	snprintf(want, sizeof want, "\"reader\" parked on recv fd %d for ", sv[0]);
	cr_expect_neq(strstr(txt, want), NULL, "want '%s' in:\n%s", want, txt);
	cr_expect_neq(strstr(txt, "\"sleepy\" parked on sleep until +"), NULL, "%s", txt);
	cr_expect_neq(strstr(txt, "\"main\" running"), NULL, "%s", txt);
	cr_expect_neq(strstr(txt, "dump_test_reader"), NULL, "reader's backtrace:\n%s", txt);
	cr_expect_neq(strstr(txt, "dump_body"), NULL, "main's backtrace:\n%s", txt);
	cr_expect_eq(send(sv[1], "x", 1, 0), 1);
	void *r;
	cr_assert_eq(urt_join(reader, &r), 0);
	cr_expect_eq((intptr_t)r, 1);
	urt_cancel(sl);
	urt_join(sl, NULL);
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

Test(dump, lists_tasks_waits_and_backtraces, .init = warm_unwinder)
{
	open_dump_file();
	urt_test_run(dump_body, NULL);
	close(dump_fd);
}

/* Between urt_loop_step calls every task is suspended: a not-yet-started
 * task is listed as ready. */
Test(dump, embedded_loop_between_steps, .init = warm_unwinder)
{
	open_dump_file();
	urt_test_baseline base = urt_test_baseline_take();
	urt_loop *l;
	urt_task *t;
	cr_assert_eq(urt_loop_create(&l, NULL), 0);
	cr_assert_eq(urt_spawn(&t, sleeper, NULL, &(urt_task_opts){.name = "fresh"}), 0);
	cr_expect_eq(urt_loop_dump(l, dump_fd), 1);
	cr_expect_neq(strstr(dump_text(), "\"fresh\" ready\n"), NULL, "%s", dump_text());
	cr_expect_eq(urt_loop_step(l, 0), 1);
	cr_expect_eq(urt_loop_dump(l, -1), -EINVAL);
	cr_expect_eq(ftruncate(dump_fd, 0), 0);
	lseek(dump_fd, 0, SEEK_SET);
	cr_expect_eq(urt_loop_dump(l, dump_fd), 1);
	cr_expect_neq(strstr(dump_text(), "\"fresh\" parked on sleep until +"), NULL, "%s", dump_text());
	cr_expect_neq(strstr(dump_text(), "sleeper"), NULL, "%s", dump_text());
	urt_cancel(t);
	while (urt_loop_step(l, 0) > 0)
		;
	cr_expect_eq(urt_detach(t), 0);
	cr_expect_eq(urt_loop_destroy(l), 0);
	urt_test_baseline_check(base);
	close(dump_fd);
}

Test(dump, bad_input)
{
	cr_expect_eq(urt_loop_dump(NULL, 1), -EINVAL, "no loop on this thread");
}

static void *other_thread(void *arg)
{
	return (void *)(intptr_t)urt_loop_dump(arg, 1);
}

static void *foreign_body(void *arg)
{
	(void)arg;
	pthread_t th;
	void *r;
	pthread_create(&th, NULL, other_thread, urt_loop_current());
	pthread_join(th, &r);
	cr_expect_eq((intptr_t)r, -EINVAL);
	cr_expect_eq(urt_loop_dump(NULL, -1), -EINVAL);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	close(p[1]);
	cr_expect_eq(urt_loop_dump(NULL, p[1]), -EBADF, "write(2)'s error");
	close(p[0]);
	return NULL;
}

Test(dump, other_thread_refused)
{
	urt_test_run(foreign_body, NULL);
}
