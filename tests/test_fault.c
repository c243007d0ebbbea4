/* Fault injection over the core scenario: for each seam (allocation,
 * stack mapping, ring set-up, SQE acquisition, io_uring_enter, eventfd
 * write, short transfers), fail the N-th call for N = 1, 2, ... until the
 * scenario no longer reaches it, and check every time: each call returns
 * success or a clear -errno, no completion is lost (data through pipes and
 * sockets arrives intact, every spawned task is joined), fds come back
 * (LSan checks memory in the ASan build), and nothing hangs (a timeout on
 * every test). Needs -DURT_FAULT_INJECTION=ON; otherwise it skips.
 * URT_TEST_THREADS: a plain thread posts to the loop (eventfd seam). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"
#include "uring_internal.h" /* urt__spawn_system, the loop's ring */
#include "urt_fault.h"
#include "urt_offload.h"

#ifdef URT_FAULT_INJECTION

#define MS URT_NS_PER_MS
#define NMAX 2000 /* more calls than any scenario makes at one site */
#define XFER 3000

static int injected;    /* what this iteration injects (0: nothing) */
static int bad;         /* results that were neither success nor allowed */
static char bad_what[160];

/* A result is fine if it is success, the injected error, or (for an
 * allocation or stack failure) -ENOMEM / -EAGAIN that it turns into. */
static bool allowed(long r)
{
	if (r >= 0 || r == injected)
		return true;
	return injected == -ENOMEM && r == -EAGAIN; /* a pool thread could not start */
}

static void check(long r, const char *what)
{
	if (!allowed(r) && !bad++)
		snprintf(bad_what, sizeof bad_what, "%s returned %ld (injected %d)", what, r, injected);
}

/* ---- the scenario's tasks --------------------------------------------- */

static urt_mutex mtx;
static int counter;

static void *worker(void *arg)
{
	urt_chan *c = arg;
	check(urt_mutex_lock(&mtx), "mutex_lock");
	counter++;
	check(urt_mutex_unlock(&mtx), "mutex_unlock");
	check(urt_sleep(MS), "sleep");
	int v = 7;
	if (c)
		check(urt_chan_send(c, &v), "chan_send");
	return (void *)1;
}

/* Write XFER patterned bytes to fd with write_all (file fds) or a send
 * loop (sockets): short transfers must be looped over, never lost. */
static void *writer(void *arg)
{
	int fd = (int)(intptr_t)arg & 0xffff, sock = (int)(intptr_t)arg >> 16;
	static __thread char buf[XFER];
	for (int i = 0; i < XFER; i++)
		buf[i] = (char)(i * 7 + 1);
	long r;
	if (!sock) {
		r = urt_write_all(fd, buf, XFER);
		check(r, "write_all");
		if (r >= 0 && r != XFER)
			check(-9999, "write_all length");
	} else {
		for (size_t off = 0; off < XFER;) {
			r = urt_send(fd, buf + off, XFER - off, 0);
			check(r, "send");
			if (r <= 0)
				break;
			off += (size_t)r;
		}
	}
	return NULL;
}

/* Read until XFER bytes or EOF/error and check the pattern. */
static void *reader(void *arg)
{
	int fd = (int)(intptr_t)arg & 0xffff, sock = (int)(intptr_t)arg >> 16;
	char buf[XFER];
	size_t got = 0;
	while (got < XFER) {
		long r = sock ? urt_recv(fd, buf + got, XFER - got, 0)
			      : urt_read(fd, buf + got, XFER - got, URT_POS_CURRENT);
		check(r, sock ? "recv" : "read");
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	for (size_t i = 0; i < got; i++)
		if (buf[i] != (char)(i * 7 + 1)) {
			check(-9998, "transferred bytes differ");
			break;
		}
	return (void *)got;
}

static void *forever(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_sleep(3600 * URT_NS_PER_SEC);
}

static void *quick(void *arg) { return arg; }

static void *blocking_job(void *arg) { return (void *)((intptr_t)arg + 1); }

/* Spawn (checking the result) and remember the handle to join it. */
static int spawn(urt_task **t, urt_task_fn fn, void *arg, const char *name)
{
	int r = urt_spawn(t, fn, arg, &(urt_task_opts){.name = name});
	check(r, "spawn");
	if (r < 0)
		*t = NULL;
	return r;
}

static void join(urt_task *t, void **res, const char *what)
{
	if (t)
		check(urt_join(t, res), what);
}

/* One pair of transfer tasks over fds[0] (read end) and fds[1]. */
static void transfer(int rd, int wr, int sock)
{
	urt_task *w, *r;
	intptr_t tag = (intptr_t)sock << 16;
	spawn(&r, reader, (void *)(tag | rd), "reader");
	spawn(&w, writer, (void *)(tag | wr), "writer");
	join(w, NULL, "join writer");
	if (!w) /* nothing will be written: let the reader see EOF */
		shutdown(wr, SHUT_WR);
	if (!w && !sock)
		close(wr), wr = -1;
	void *got = NULL;
	join(r, &got, "join reader");
	if (w && r && (intptr_t)got != XFER)
		check(-9997, "reader got fewer bytes than written");
	if (wr >= 0)
		close(wr);
	close(rd);
}

static void *scenario(void *arg)
{
	(void)arg;
	urt_mutex_init(&mtx);
	counter = 0;
	urt_chan c, *cp = &c;
	int r = urt_chan_init(&c, sizeof(int), 4);
	check(r, "chan_init");
	if (r < 0)
		cp = NULL;

	urt_task *w[3], *sleeper;
	int spawned = 0;
	for (int i = 0; i < 3; i++)
		spawned += spawn(&w[i], worker, cp, "worker") == 0;
	spawn(&sleeper, forever, NULL, "forever");

	int p[2], s[2];
	if (pipe2(p, O_CLOEXEC) == 0)
		transfer(p[0], p[1], 0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0)
		transfer(s[0], s[1], 1);

	urt_deadline d;
	check(urt_deadline_enter(&d, MS), "deadline_enter");
	r = urt_sleep(50 * MS);
	if (r != -ETIME)
		check(r == 0 ? -9996 : r, "sleep under a deadline");
	check(urt_deadline_exit(&d), "deadline_exit");

	void *res = NULL;
	r = urt_to_thread(blocking_job, (void *)41, &res);
	check(r, "to_thread");
	if (r == 0 && res != (void *)42)
		check(-9995, "to_thread result");

	for (int i = 0; cp && i < spawned; i++) {
		int v = 0;
		check(urt_chan_recv(cp, &v), "chan_recv");
	}
	for (int i = 0; i < 3; i++)
		join(w[i], NULL, "join worker");

	/* wait_any over ten tasks: its waiter array is allocated */
	urt_task *ten[10];
	size_t n = 0;
	for (int i = 0; i < 10; i++)
		if (spawn(&ten[n], quick, NULL, "quick") == 0)
			n++;
	if (n)
		check(urt_wait_any(ten, n), "wait_any");
	for (size_t i = 0; i < n; i++)
		join(ten[i], NULL, "join quick");

	if (sleeper) {
		check(urt_cancel(sleeper), "cancel");
		int j = urt_join(sleeper, NULL);
		if (j != -ECANCELED)
			check(j == 0 ? -9994 : j, "join cancelled");
	}
	if (cp)
		check(urt_chan_destroy(cp), "chan_destroy");
	return (void *)0x5eed;
}

/* ---- the driver -------------------------------------------------------- */

/* Run the scenario with the N-th call at site failing with err, for N =
 * 1.. until the scenario ends before reaching it. Returns how many N
 * injected something. */
static long sweep(int site, int err, unsigned cfg_flags)
{
	int fds = urt_test_fd_count();
	urt_config cfg = {.flags = cfg_flags, .stall_ns = UINT64_MAX};
	long n;
	for (n = 1; n <= NMAX; n++) {
		bad = 0;
		injected = err;
		cr_assert_eq(urt_fault_set(site, n, err), 0);
		void *res = NULL;
		int r = urt_run(scenario, NULL, &cfg, &res);
		long left = urt_fault_left(site);
		if (getenv("URT_FAULT_TRACE"))
			fprintf(stderr, "site %d n %ld r %d left %ld\n", site, n, r, left);
		urt_fault_set(site, 0, -1);
		cr_assert(bad == 0, "site %d, call %ld: %s", site, n, bad_what);
		cr_assert(allowed(r), "site %d, call %ld: urt_run returned %d", site, n, r);
		if (r == 0)
			cr_assert_eq(res, (void *)0x5eed, "site %d, call %ld: main task result", site, n);
		cr_assert_eq(urt_test_fd_count(), fds, "site %d, call %ld: fds leaked", site, n);
		if (left > 0)
			break; /* the scenario no longer reaches the N-th call */
	}
	cr_assert_leq(n, NMAX, "site %d: scenario makes more than %d calls", site, NMAX);
	urt_offload_shutdown(); /* pools start lazily; stop them between sweeps */
	return n - 1;
}

/* The transient io_uring_enter errors must not be visible at all. */
static void transient_enter(int err)
{
	long n = sweep(URT_FAULT_ENTER, err, 0);
	cr_expect_gt(n, 3, "the scenario reached io_uring_enter only %ld times", n);
}

Test(fault, alloc_enomem, .timeout = 120)
{
	cr_expect_gt(sweep(URT_FAULT_ALLOC, -ENOMEM, 0), 10);
}

Test(fault, stack_enomem, .timeout = 60)
{
	cr_expect_gt(sweep(URT_FAULT_STACK, -ENOMEM, 0), 3);
}

Test(fault, ring_setup, .timeout = 60)
{
	/* ENOMEM stops the fallback at once; EINVAL makes it step down */
	cr_expect_geq(sweep(URT_FAULT_RING, -ENOMEM, 0), 1);
	cr_expect_geq(sweep(URT_FAULT_RING, -EINVAL, 0), 1);
}

Test(fault, sqe_exhaustion, .timeout = 120)
{
	/* a refused SQE forces a flush and a retry: never visible */
	cr_expect_geq(sweep(URT_FAULT_SQE, -EBUSY, 0), 5);
}

Test(fault, enter_eintr, .timeout = 60) { transient_enter(-EINTR); }
Test(fault, enter_eagain, .timeout = 60) { transient_enter(-EAGAIN); }
Test(fault, enter_ebusy, .timeout = 60) { transient_enter(-EBUSY); }

Test(fault, enter_fatal, .timeout = 60)
{
	/* an error io_uring_enter should never give (a broken ring): urt_run
	 * reports it, and tearing the loop down neither hangs nor leaks */
	cr_expect_gt(sweep(URT_FAULT_ENTER, -EFAULT, 0), 3);
}

/* io_uring_enter fails from the N-th call on and never recovers: urt_run
 * returns the error (no hang), the loop is abandoned without freeing what
 * the kernel might still write into, and the thread can run a new loop. */
static void *nothing(void *arg) { return arg; }

Test(fault, enter_broken_ring, .timeout = 60)
{
	urt_config cfg = {.stall_ns = UINT64_MAX};
	for (long n = 1; n <= 4; n++) {
		injected = -EFAULT;
		cr_assert_eq(urt_fault_set(URT_FAULT_ENTER, -n, -EFAULT), 0);
		int r = urt_run(scenario, NULL, &cfg, NULL);
		urt_fault_set(URT_FAULT_ENTER, 0, -1);
		cr_assert_eq(r, -EFAULT, "call %ld: urt_run returned %d", n, r);
		cr_assert_null(urt_loop_current());
		void *res = NULL;
		cr_assert_eq(urt_run(nothing, (void *)5, NULL, &res), 0);
		cr_assert_eq(res, (void *)5);
	}
	urt_offload_shutdown();
}

Test(fault, enter_without_ext_arg, .timeout = 60)
{
	/* the TIMEOUT-SQE wait path */
	cr_expect_gt(sweep(URT_FAULT_ENTER, -EINTR, URT_CFG_NO_EXT_ARG), 3);
}

Test(fault, short_transfers, .timeout = 120)
{
	/* read/write/recv/send each shortened once in turn: write_all and
	 * the loops above must still move every byte, in order */
	cr_expect_geq(sweep(URT_FAULT_SHORT, -1, 0), 4);
}

/* ---- eventfd: a plain thread wakes a sleeping loop --------------------- */

static urt_event woken;

/* Runs on the loop, from the other thread's submission. */
static void *soon(void *arg)
{
	urt_event_set(&woken);
	return arg;
}

static pid_t loop_tid;

/* Wait until the loop thread sleeps in io_uring_enter, so the submission
 * must wake it through the eventfd (a fixed delay is a guess a loaded
 * machine breaks). */
static void wait_loop_asleep(pid_t tid)
{
	if (urt_test_wait_in_syscall((int)tid, SYS_io_uring_enter, -1, 10000) < 0)
		usleep(50000); /* the kernel cannot tell: fall back to a delay */
}

static void *poster(void *arg)
{
	urt_loop *l = arg;
	wait_loop_asleep(loop_tid);
	urt_future *f = NULL;
	int r = urt_submit(l, soon, (void *)3, &f);
	if (r == 0) {
		void *res = NULL;
		r = urt_future_wait(f, 5 * URT_NS_PER_SEC, &res);
		if (r == 0 && res != (void *)3)
			r = -9993;
		urt_future_release(f);
	}
	return (void *)(intptr_t)r;
}

/* The main task waits on an event only the submission sets, with no
 * timer armed: a lost eventfd wake-up hangs here (and the test times out). */
static void *wake_scenario(void *arg)
{
	(void)arg;
	pthread_t th;
	urt_loop *l = urt_loop_current();
	urt_event_init(&woken);
	loop_tid = (pid_t)urt_test_tid();
	cr_assert_eq(urt_loop_hold(l), 0);
	cr_assert_eq(pthread_create(&th, NULL, poster, l), 0);
	cr_assert_eq(urt_event_wait(&woken), 0);
	void *res;
	cr_assert_eq(urt_loop_unhold(l), 0);
	urt_sleep(MS); /* let the future's completion reach the poster */
	pthread_join(th, &res);
	return res;
}

Test(fault, eventfd_eintr, .timeout = 60)
{
	for (long n = 1; n <= 3; n++) {
		cr_assert_eq(urt_fault_set(URT_FAULT_EVENTFD, n, -EINTR), 0);
		void *res = (void *)1;
		cr_assert_eq(urt_run(wake_scenario, NULL, NULL, &res), 0);
		long left = urt_fault_left(URT_FAULT_EVENTFD);
		urt_fault_set(URT_FAULT_EVENTFD, 0, -1);
		if (n == 1)
			cr_expect_leq(left, 0, "the eventfd was never written");
		cr_assert_eq(res, NULL, "call %ld: submission from a thread: %ld", n, (long)(intptr_t)res);
	}
	urt_offload_shutdown();
}

/* ---- urt_loop_step and a failing ring ----------------------------------- */

/* What the step tests' task returned (the embedder's thread cannot join:
 * joining blocks, which only a task may do). */
static intptr_t step_result;
static int step_done;

/* Sleeps (20 ms, or 10 s if arg); if cancelled, heals the ring first so
 * the wind-down that cancelled it can finish. */
static void *step_sleeper(void *arg)
{
	int r = urt_sleep(arg ? 10 * URT_NS_PER_SEC : 20 * MS);
	if (r == -ECANCELED)
		urt_fault_set(URT_FAULT_ENTER, 0, -1);
	step_result = r;
	step_done = 1;
	return NULL;
}

static urt_loop *step_loop(void *sleeper_arg)
{
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, &(urt_config){.stall_ns = UINT64_MAX}), 0);
	step_done = 0;
	step_result = 1;
	cr_assert_eq(urt_spawn(NULL, step_sleeper, sleeper_arg, NULL), 0);
	cr_assert_eq(urt_loop_step(l, 0), 1); /* the task is asleep */
	return l;
}

/* Three steps of l in a row whose io_uring_enter fails: enough to wind the
 * loop down (or abandon it, if the ring stays broken). */
static void fail_three_steps(urt_loop *l)
{
	cr_assert_eq(urt_fault_set(URT_FAULT_ENTER, -1, -EFAULT), 0);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(urt_loop_step(l, MS), -EFAULT, "step %d", i);
	urt_fault_set(URT_FAULT_ENTER, 0, -1);
}

/* Two failed steps are retried by the next step: the task is untouched. */
Test(fault, step_retries_ring_errors, .timeout = 60)
{
	urt_loop *l = step_loop(NULL);
	cr_assert_eq(urt_fault_set(URT_FAULT_ENTER, -1, -EFAULT), 0);
	cr_expect_eq(urt_loop_step(l, MS), -EFAULT);
	cr_expect_eq(urt_loop_step(l, MS), -EFAULT);
	urt_fault_set(URT_FAULT_ENTER, 0, -1);
	cr_assert_eq(urt_loop_current(), l, "two failures do not end the loop");
	int alive;
	while ((alive = urt_loop_step(l, 10 * MS)) > 0)
		;
	cr_assert_eq(alive, 0);
	cr_expect(step_done);
	cr_expect_eq(step_result, 0, "the sleep was not cancelled");
	cr_expect_eq(urt_loop_destroy(l), 0);
}

/* The third failure in a row winds the loop down: its task is cancelled
 * and run to its end, and the loop can be destroyed. */
Test(fault, step_winds_down_after_three_failures, .timeout = 60)
{
	urt_loop *l = step_loop((void *)1);
	fail_three_steps(l);
	cr_assert_eq(urt_loop_current(), l);
	cr_expect(step_done, "the wind-down ran the task to its end");
	cr_expect_eq(step_result, -ECANCELED, "the wind-down cancelled the task");
	cr_expect_eq(urt_loop_destroy(l), 0);
	cr_expect_null(urt_loop_current());
}

/* A loop wound down by ring errors may take new tasks: the failures that
 * wound it down do not count against them, so the next failure is the
 * first of three again, retried, not a second wind-down. */
Test(fault, step_counts_failures_afresh_after_a_wind_down, .timeout = 60)
{
	urt_loop *l = step_loop((void *)1);
	fail_three_steps(l);
	cr_assert(step_done, "wound down");
	step_done = 0;
	step_result = 1;
	/* the very next step fails (a step that succeeds clears the count) */
	cr_assert_eq(urt_spawn(NULL, step_sleeper, NULL, NULL), 0);
	cr_assert_eq(urt_fault_set(URT_FAULT_ENTER, 1, -EFAULT), 0);
	cr_expect_eq(urt_loop_step(l, MS), -EFAULT);
	urt_fault_set(URT_FAULT_ENTER, 0, -1);
	cr_expect_not(step_done, "one failure wound the loop down again");
	int alive;
	while ((alive = urt_loop_step(l, 10 * MS)) > 0)
		;
	cr_assert_eq(alive, 0);
	cr_expect_eq(step_result, 0, "the sleep was not cancelled");
	cr_expect_eq(urt_loop_destroy(l), 0);
}

/* Without EXT_ARG a wait is a TIMEOUT SQE, whose timespec the kernel reads
 * when it submits the SQE. An enter that fails without submitting (a real
 * -EBUSY or -EAGAIN; injected here) leaves the SQE queued for the next
 * enter, after the poll has returned: the timespec must outlive the poll
 * (be the loop's), not lie in its stack frame, which later calls reuse. */
Test(fault, fallback_timeout_outlives_a_failed_enter, .timeout = 60)
{
	urt_loop *l;
	urt_config cfg = {.flags = URT_CFG_NO_EXT_ARG, .stall_ns = UINT64_MAX};
	cr_assert_eq(urt_loop_create(&l, &cfg), 0);
	step_done = 0;
	step_result = 1;
	cr_assert_eq(urt_spawn(NULL, step_sleeper, NULL, NULL), 0);
	cr_assert_eq(urt_loop_step(l, 0), 1); /* the task is asleep */
	cr_assert_eq(urt_fault_set(URT_FAULT_ENTER, 1, -EBUSY), 0);
	cr_expect_eq(urt_loop_step(l, MS), 1, "a transient error is not reported");
	cr_expect_leq(urt_fault_left(URT_FAULT_ENTER), 0, "the wait's enter failed");
	urt_fault_set(URT_FAULT_ENTER, 0, -1);
	struct urt_backend *b = l->backend;
	struct io_uring_sq *sq = &b->ring.sq;
	const struct io_uring_sqe *timeout = NULL;
	for (unsigned i = *sq->khead; i != *sq->ktail; i++) /* published, not consumed */
		if (sq->sqes[i & sq->ring_mask].opcode == IORING_OP_TIMEOUT)
			timeout = &sq->sqes[i & sq->ring_mask];
	cr_assert_not_null(timeout, "the TIMEOUT SQE waits for the next enter");
	uintptr_t ts = (uintptr_t)timeout->addr;
	cr_expect(ts >= (uintptr_t)b && ts + sizeof(struct __kernel_timespec) <= (uintptr_t)(b + 1),
		  "its timespec is not the loop's (a frame that has returned?)");
	int alive;
	while ((alive = urt_loop_step(l, 10 * MS)) > 0)
		;
	cr_assert_eq(alive, 0);
	cr_expect_eq(step_result, 0);
	cr_expect_eq(urt_loop_destroy(l), 0);
}

/* l was abandoned: it is no longer the thread's loop, refuses steps and
 * destroy, and the thread may run a new loop. */
static void expect_abandoned(urt_loop *l)
{
	cr_expect_null(urt_loop_current(), "abandoned");
	cr_expect_eq(urt_loop_step(l, MS), -EINVAL);
	cr_expect_eq(urt_loop_destroy(l), -EINVAL);
	void *res = NULL;
	cr_expect_eq(urt_run(nothing, (void *)7, NULL, &res), 0);
	cr_expect_eq(res, (void *)7);
}

/* A read stays in flight on a ring that stays broken: cancelling it needs
 * the ring, so the loop is abandoned, not freed, and the thread can run a
 * new one. */
static void *pipe_reader(void *arg)
{
	char c;
	return (void *)(intptr_t)urt_read(*(int *)arg, &c, 1, -1);
}

Test(fault, step_abandons_a_broken_loop, .timeout = 60)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, &(urt_config){.stall_ns = UINT64_MAX}), 0);
	cr_assert_eq(urt_spawn(NULL, pipe_reader, &p[0], NULL), 0);
	cr_assert_eq(urt_loop_step(l, 0), 1); /* the read is submitted */
	fail_three_steps(l);
	expect_abandoned(l);
	close(p[1]);
	close(p[0]);
}

/* urt_loop_destroy on a ring that stays broken, with a loop-internal
 * task's read in flight (cancelling it needs the ring): destroy reports
 * the error and abandons the loop as a wind-down does, rather than tear it
 * down under the kernel. The loop is no longer the thread's and nothing of
 * it is freed or closed: the ring that still holds the read stays open. */
Test(fault, destroy_abandons_a_loop_on_a_broken_ring, .timeout = 60)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, &(urt_config){.stall_ns = UINT64_MAX}), 0);
	cr_assert_eq(urt__spawn_system(l, NULL, urt_test_read_byte, (void *)(intptr_t)p[0], "reader"), 0);
	cr_assert_eq(urt_loop_step(l, 0), 0); /* the read is submitted */
	int fds = urt_test_fd_count();
	cr_assert_eq(urt_fault_set(URT_FAULT_ENTER, -1, -EFAULT), 0);
	cr_expect_eq(urt_loop_destroy(l), -EFAULT);
	urt_fault_set(URT_FAULT_ENTER, 0, -1);
	cr_expect_eq(urt_test_fd_count(), fds, "the ring holding the read was closed");
	expect_abandoned(l);
	close(p[1]);
	close(p[0]);
}

#else

Test(fault, skipped) { cr_skip_test("built without -DURT_FAULT_INJECTION=ON"); }

#endif
