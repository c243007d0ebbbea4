/* Embedding: a loop made with urt_loop_create and driven by an outside
 * epoll loop that sleeps on urt_loop_fd() and calls urt_loop_step(l, 0)
 * when it fires. Completions of ring I/O, of offloaded jobs and of
 * cross-thread submissions must all make the fd readable.
 * URT_TEST_THREADS: other threads write the pipe and submit. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"
#include "urt_offload.h"

#define MS URT_NS_PER_MS

typedef struct driven {
	int wakeups;      /* epoll_wait returned with the fd readable */
	int timeouts;     /* epoll_wait gave up (the fd never fired) */
} driven;

/* Drive l from epoll until no task is left, giving up after max_ms idle. */
static void drive(urt_loop *l, driven *d, int max_ms)
{
	int fd = urt_loop_fd(l);
	cr_assert_geq(fd, 0, "urt_loop_fd: %s", urt_strerror(fd));
	cr_expect_eq(urt_loop_fd(l), fd, "the same fd every time");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	for (;;) {
		/* twice: the first reaps completions and readies their tasks, the
		 * second runs them (urt_loop_step does not say whether tasks are
		 * ready, so an embedder cannot tell otherwise) */
		urt_loop_step(l, 0);
		int alive = urt_loop_step(l, 0);
		cr_assert_geq(alive, 0, "urt_loop_step: %s", urt_strerror(alive));
		if (!alive)
			break;
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, max_ms);
		if (n == 0) {
			d->timeouts++;
			break;
		}
		uint64_t v;
		ssize_t rd = read(fd, &v, sizeof v); /* re-arm: eventfd is level-triggered */
		(void)rd;
		d->wakeups++;
	}
	close(ep);
}

static void *pipe_reader(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c = 0;
	ssize_t n = urt_read(fd, &c, 1, URT_POS_CURRENT);
	return (void *)(intptr_t)(n == 1 ? c : -1);
}

static int driver_tid;

/* Sleeps in epoll_wait (or its pwait forms) right now? */
static void wait_driver_in_epoll(void)
{
	int r = urt_test_wait_in_syscall(driver_tid, SYS_epoll_wait, SYS_epoll_pwait, 10000);
	if (r < 0)
		usleep(30000); /* the kernel cannot tell: fall back to a delay */
}

static void *late_writer(void *arg)
{
	/* once the driver sleeps: a fixed delay a loaded machine may outlast
	 * would let the completion come before epoll, which proves nothing */
	wait_driver_in_epoll();
	ssize_t n = write((int)(intptr_t)arg, "x", 1);
	(void)n;
	return NULL;
}

/* A pipe read that completes later, while epoll sleeps. */
static void ring_completion(const urt_config *cfg)
{
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, cfg), 0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(urt_spawn(NULL, pipe_reader, (void *)(intptr_t)p[0], NULL), 0);
	pthread_t th;
	driver_tid = urt_test_tid();
	pthread_create(&th, NULL, late_writer, (void *)(intptr_t)p[1]);
	driven d = {0};
	drive(l, &d, 8000);
	pthread_join(th, NULL);
	cr_expect_eq(d.timeouts, 0, "the eventfd did not fire for a read completion");
	cr_expect_geq(d.wakeups, 1);
	while (urt_loop_step(l, 10 * MS) > 0)
		;
	cr_expect_eq(urt_loop_destroy(l), 0);
	close(p[0]);
	close(p[1]);
}

Test(loop_fd, ring_completion_wakes_epoll, .timeout = 20)
{
	ring_completion(NULL); /* DEFER_TASKRUN, the default */
}

Test(loop_fd, ring_completion_wakes_epoll_without_defer_taskrun, .timeout = 20)
{
	ring_completion(&(urt_config){.flags = URT_CFG_NO_DEFER_TASKRUN});
}

Test(loop_fd, ring_completion_wakes_epoll_without_coop_taskrun, .timeout = 20)
{
	ring_completion(&(urt_config){.flags = URT_CFG_NO_DEFER_TASKRUN | URT_CFG_NO_COOP_TASKRUN});
}

static void *sleep_job(void *arg)
{
	usleep(30000);
	return arg;
}

static atomic_int job_res;

static void *offloading_task(void *arg)
{
	void *r = NULL;
	int rc = urt_to_thread(sleep_job, arg, &r);
	atomic_store(&job_res, rc == 0 ? (int)(intptr_t)r : rc);
	return NULL;
}

Test(loop_fd, offload_completion_wakes_epoll, .timeout = 20)
{
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, NULL), 0);
	atomic_store(&job_res, 0);
	cr_assert_eq(urt_spawn(NULL, offloading_task, (void *)7, NULL), 0);
	driven d = {0};
	drive(l, &d, 8000);
	cr_expect_eq(d.timeouts, 0, "an offload completion did not make urt_loop_fd readable");
	while (urt_loop_step(l, 10 * MS) > 0)
		;
	cr_expect_eq(atomic_load(&job_res), 7);
	cr_expect_eq(urt_loop_destroy(l), 0);
	urt_offload_shutdown();
}

static atomic_int submitted_ran;

static void *submitted(void *arg)
{
	(void)arg;
	atomic_store(&submitted_ran, 1);
	return NULL;
}

static void *waits_for_submission(void *arg)
{
	(void)arg;
	/* keep a task alive until the foreign thread's task ran */
	while (!atomic_load(&submitted_ran))
		if (urt_yield() < 0 || urt_sleep(0) < 0)
			break;
	return NULL;
}

static void *foreign_submitter(void *arg)
{
	wait_driver_in_epoll();
	urt_call_soon(arg, submitted, NULL);
	return NULL;
}

Test(loop_fd, bad_input, .timeout = 5)
{
	cr_expect_eq(urt_loop_fd(NULL), -EINVAL);
	cr_expect_eq(urt_loop_step(NULL, 0), -EINVAL);
	cr_expect_eq(urt_loop_destroy(NULL), -EINVAL);
	cr_expect_eq(urt_loop_create(NULL, NULL), -EINVAL);
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, NULL), 0);
	urt_loop *again;
	cr_expect_eq(urt_loop_create(&again, NULL), -EBUSY, "one loop per thread");
	cr_expect_eq(urt_loop_step(l, 0), 0, "nothing to run");
	cr_expect_eq(urt_loop_destroy(l), 0);
	cr_expect_eq(urt_loop_fd(l), -EINVAL, "destroyed: not this thread's loop");
}

/* A submission from a foreign thread while the embedding poller sleeps:
 * the posted message must wake the outer epoll. */
Test(loop_fd, foreign_submission_wakes_epoll, .timeout = 20)
{
	(void)waits_for_submission;
	urt_loop *l;
	cr_assert_eq(urt_loop_create(&l, NULL), 0);
	atomic_store(&submitted_ran, 0);
	pthread_t th;
	driver_tid = urt_test_tid();
	pthread_create(&th, NULL, foreign_submitter, l);
	int fd = urt_loop_fd(l);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	int timeouts = 0;
	for (int i = 0; i < 20 && !atomic_load(&submitted_ran); i++) {
		urt_loop_step(l, 0);
		urt_loop_step(l, 0);
		if (atomic_load(&submitted_ran))
			break;
		struct epoll_event out;
		if (epoll_wait(ep, &out, 1, 8000) == 0) {
			timeouts++;
			break;
		}
		uint64_t v;
		ssize_t rd = read(fd, &v, sizeof v);
		(void)rd;
	}
	cr_expect_eq(timeouts, 0, "a foreign submission did not make urt_loop_fd readable");
	pthread_join(th, NULL);
	while (!atomic_load(&submitted_ran) || urt_loop_step(l, 10 * MS) > 0)
		urt_loop_step(l, 10 * MS);
	close(ep);
	cr_expect_eq(urt_loop_destroy(l), 0);
}

/* Destroy a loop while a wake-up is on its way: the armed eventfd read may
 * then complete with the wake-up instead of being cancelled, and must not
 * be re-armed (nothing would cancel it: destroy would wait forever). The
 * write is made the way a poster makes it, with nothing posted, so destroy
 * has nothing to run before it cancels the read. */
void urt__backend_wake(urt_loop *l); /* uring/wake.c */

Test(loop_fd, destroy_with_a_wakeup_in_flight, .timeout = 60)
{
	for (int i = 0; i < 100; i++) {
		urt_loop *l;
		cr_assert_eq(urt_loop_create(&l, NULL), 0);
		urt_loop_step(l, 0);
		urt__backend_wake(l);
		cr_assert_eq(urt_loop_destroy(l), 0);
	}
}
