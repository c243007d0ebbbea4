#include "check.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <dirent.h>
#include <execinfo.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND RUNNING_ON_VALGRIND
#else
#define UNDER_VALGRIND 0
#endif

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	cr_assert_not_null(d, "opendir %s", path);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Sanitizer runtimes map memory lazily (ASan's allocator per size class,
 * TSan's shadow for every thread): mapping counts are checked exactly only
 * in builds without them. */
#if defined(__SANITIZE_THREAD__)
#define SANITIZER_MAPS 100000
#elif defined(__SANITIZE_ADDRESS__)
#define SANITIZER_MAPS 64
#else
#define SANITIZER_MAPS 4
#endif

int urt_test_fd_count(void) { return count_dir("/proc/self/fd") - 1; /* the DIR's own fd */ }
int urt_test_thread_count(void) { return count_dir("/proc/self/task"); }

int urt_test_map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	cr_assert_not_null(f);
	int n = 0, c;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

urt_test_baseline urt_test_baseline_take(void)
{
	/* The stall detector loads the unwinder (libgcc_s) the first time a
	 * task stalls, and it stays mapped for the process's life: load it
	 * before counting, so a slow machine that makes a test "stall" does
	 * not read as leaked mappings. */
	void *pc[1];
	backtrace(pc, 1);
	return (urt_test_baseline){urt_test_fd_count(), urt_test_map_count(), urt_test_thread_count()};
}

void urt_test_fds_threads_check(urt_test_baseline b)
{
	cr_expect_eq(urt_test_fd_count(), b.fds, "fds left open: %d now, %d before",
		     urt_test_fd_count(), b.fds);
	/* exiting threads leave /proc a moment after they are done: up to 5 s
	 * (a loaded machine may run them late) */
	for (int i = 0; i < 1000 && urt_test_thread_count() > b.threads; i++)
		usleep(5000);
	cr_expect_leq(urt_test_thread_count(), b.threads, "threads left running");
}

void urt_test_baseline_check(urt_test_baseline b)
{
	/* mappings may merge or split by a few as the allocator works; stacks
	 * and rings are what we look for, so allow a little slack */
	int maps = urt_test_map_count();
	if (!UNDER_VALGRIND) /* valgrind maps memory of its own as the program runs */
		cr_expect_leq(maps, b.maps + SANITIZER_MAPS, "mappings left: %d now, %d before", maps, b.maps);
	urt_test_fds_threads_check(b);
}

void *urt_test_run(urt_task_fn fn, void *arg)
{
	urt_test_baseline b = urt_test_baseline_take();
	void *result = NULL;
	int r = urt_run(fn, arg, NULL, &result);
	cr_assert_eq(r, 0, "urt_run: %s", urt_strerror(r));
	urt_test_baseline_check(b);
	return result;
}

void *urt_test_run_cfg(urt_task_fn fn, void *arg, const urt_config *cfg)
{
	urt_test_baseline b = urt_test_baseline_take();
	void *result = NULL;
	int r = urt_run(fn, arg, cfg, &result);
	cr_assert_eq(r, 0, "urt_run: %s", urt_strerror(r));
	urt_test_baseline_check(b);
	return result;
}

void urt_test_tmpdir(char *buf, size_t len)
{
	cr_assert_geq(len, 64);
	snprintf(buf, len, "/tmp/urt-test-XXXXXX");
	cr_assert_not_null(mkdtemp(buf), "mkdtemp");
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(path);
}

void urt_test_rmtree(const char *path)
{
	cr_expect_eq(nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0, "rmtree %s", path);
}

int urt_test_readable(int fd)
{
	int n = 0;
	cr_assert_eq(ioctl(fd, FIONREAD, &n), 0, "FIONREAD on fd %d", fd);
	return n;
}

int urt_test_tid(void) { return (int)syscall(SYS_gettid); }

uint64_t urt_test_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The system call thread tid is in: its number, -2 if running, -1 if the
 * kernel cannot tell. */
static long syscall_of(int tid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long nr = -2;
	if (fscanf(f, "%ld", &nr) != 1) /* "running" */
		nr = -2;
	fclose(f);
	return nr;
}

int urt_test_wait_in_syscall(int tid, long nr, long nr2, int timeout_ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int seen = 0;;) {
		long cur = syscall_of(tid);
		if (cur == -1)
			return -1;
		seen = cur == nr || (nr2 >= 0 && cur == nr2) ? seen + 1 : 0;
		if (seen == 3) /* a passing call is rarely caught three times */
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
			return 0;
		usleep(1000);
	}
}

uint16_t urt_test_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

void *urt_test_read_byte(void *fd)
{
	char c;
	return (void *)(intptr_t)urt_read((int)(intptr_t)fd, &c, 1, -1);
}

bool urt_test_under_valgrind(void)
{
	return UNDER_VALGRIND;
}

int urt_test_join_within(urt_task *t, uint64_t ns, void **res)
{
	urt_deadline d;
	int r = urt_deadline_enter(&d, ns);
	if (r < 0)
		return r;
	r = urt_join(t, res);
	urt_deadline_exit(&d);
	return r;
}

int urt_test_log_open_pipe(void)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	urt_log_config c = {0};
	c.sink = URT_LOG_SINK_FD;
	c.fd = p[1];
	c.buffer_size = 16 << 10;
	c.no_crash_flush = 1;
	cr_assert_eq(urt_log_open(&c), 0);
	close(p[1]);
	return p[0];
}
