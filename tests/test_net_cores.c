/* Thread-per-core: N loops sharing a port (SO_REUSEPORT), stop from
 * another thread, SIGTERM through the signalfd, a failing loop stopping
 * the others, bad input. URT_TEST_THREADS: loops run on their own threads
 * and share the counters below through atomics. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "urt_net.h"
#include "urt_offload.h"
#include "urt_server.h"

TestSuite(net_cores, .timeout = 30);

#define NLOOPS 3

static uint16_t the_port;
static _Atomic unsigned served[NLOOPS];
static _Atomic int ready;
static _Atomic int stopped_ok;

static void echo(urt_conn *c, void *arg)
{
	(void)arg;
	char buf[64];
	ssize_t n;
	urt_conn_set_idle(c, 1);
	while ((n = urt_recv(urt_conn_fd(c), buf, sizeof buf, 0)) > 0) {
		atomic_fetch_add(&served[urt_cores_index()], 1);
		if (urt_write_all(urt_conn_fd(c), buf, (size_t)n) != n)
			break;
	}
}

static void *serve(void *p) { return (void *)(intptr_t)urt_server_serve(p); }

static void *loop_main(void *arg)
{
	(void)arg;
	cr_assert_geq(urt_cores_index(), 0);
	cr_assert_eq(urt_cores_count(), NLOOPS);
	urt_server *s;
	int r = urt_server_create(&s, &(urt_server_opts){.port = the_port, .reuseport = 1,
							  .handler = echo});
	cr_assert_eq(r, 0, "%s", urt_strerror(r));
	urt_task *st;
	cr_assert_eq(urt_spawn(&st, serve, s, NULL), 0);
	atomic_fetch_add(&ready, 1);
	cr_assert_eq(urt_cores_wait_stop(), 0);
	cr_expect_eq(urt_cores_stopping(), 1);
	urt_server_stop(s);
	void *res;
	cr_expect_eq(urt_join(st, &res), 0);
	if ((intptr_t)res == 0)
		atomic_fetch_add(&stopped_ok, 1);
	urt_server_destroy(s);
	return NULL;
}

static void reset(void)
{
	the_port = urt_test_free_port();
	for (int i = 0; i < NLOOPS; i++)
		atomic_store(&served[i], 0);
	atomic_store(&ready, 0);
	atomic_store(&stopped_ok, 0);
}

static void wait_ready(void)
{
	/* up to 10 s: the loops' threads may start late on a loaded machine */
	for (int i = 0; i < 5000 && atomic_load(&ready) < NLOOPS; i++)
		usleep(2000);
	cr_assert_eq(atomic_load(&ready), NLOOPS);
}

/* Plain blocking client: many connections, one echo each. */
static void *clients(void *arg)
{
	(void)arg;
	wait_ready();
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(the_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	for (int i = 0; i < 60; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
		cr_assert_eq(write(fd, "ping", 4), 4);
		char buf[4];
		cr_assert_eq(recv(fd, buf, 4, MSG_WAITALL), 4);
		cr_assert_eq(memcmp(buf, "ping", 4), 0);
		close(fd);
	}
	return NULL;
}

static void *stopper(void *arg)
{
	pthread_t *client = arg;
	pthread_join(*client, NULL);
	cr_expect_eq(urt_cores_stop(), 0);
	return NULL;
}

Test(net_cores, loops_share_a_port)
{
	reset();
	int fds = urt_test_fd_count(); /* (thread stacks stay cached: no map check) */
	pthread_t cl, st;
	pthread_create(&cl, NULL, clients, NULL);
	pthread_create(&st, NULL, stopper, &cl);
	int r = urt_cores_run(&(urt_cores_opts){.loops = NLOOPS, .pin = 1, .fn = loop_main});
	cr_assert_eq(r, 0, "%s", urt_strerror(r));
	pthread_join(st, NULL);
	unsigned total = 0, busy = 0;
	for (int i = 0; i < NLOOPS; i++) {
		total += atomic_load(&served[i]);
		busy += atomic_load(&served[i]) > 0;
	}
	cr_expect_eq(total, 60);
	cr_expect_geq(busy, 2, "SO_REUSEPORT spread connections over the loops");
	cr_expect_eq(atomic_load(&stopped_ok), NLOOPS);
	cr_expect_eq(urt_cores_stop(), -ESRCH, "no run any more");
	cr_expect_eq(urt_test_fd_count(), fds, "no descriptor left open");
}

static void *signaller(void *arg)
{
	(void)arg;
	wait_ready();
	kill(getpid(), SIGTERM); /* blocked in every thread: only the signalfd sees it */
	return NULL;
}

Test(net_cores, sigterm_stops_every_loop)
{
	reset();
	/* the signalling thread must not take SIGTERM itself: it inherits a
	 * mask that blocks it (as threads started after urt_cores_run do) */
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, &old);
	pthread_t sg;
	pthread_create(&sg, NULL, signaller, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	int r = urt_cores_run(&(urt_cores_opts){.loops = NLOOPS, .signals = 1, .fn = loop_main});
	cr_assert_eq(r, 0, "%s", urt_strerror(r));
	pthread_join(sg, NULL);
	cr_expect_eq(atomic_load(&stopped_ok), NLOOPS);
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	cr_expect_eq(sigismember(&cur, SIGTERM), 0, "mask restored");
}

static void *nested(void *arg)
{
	(void)arg;
	cr_expect_eq(urt_cores_run(&(urt_cores_opts){.loops = 1, .fn = nested}), -EBUSY);
	return NULL;
}

Test(net_cores, bad_input)
{
	cr_expect_eq(urt_cores_run(NULL), -EINVAL);
	cr_expect_eq(urt_cores_run(&(urt_cores_opts){.loops = 1}), -EINVAL);
	cr_expect_eq(urt_cores_run(&(urt_cores_opts){.loops = 5000, .fn = nested}), -EINVAL);
	cr_expect_eq(urt_cores_index(), -1);
	cr_expect_eq(urt_cores_count(), 0);
	cr_expect_eq(urt_cores_stopping(), 0);
	cr_expect_eq(urt_cores_stop(), -ESRCH);
	cr_expect_eq(urt_cores_wait_stop(), -ESRCH);
	/* a run whose main tasks just return: no stop needed */
	cr_expect_eq(urt_cores_run(&(urt_cores_opts){.loops = 2, .fn = nested}), 0);
}

/* Loops that cannot start report the set-up error instead of hanging. */
static void *wait_for_stop(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)urt_cores_wait_stop();
}

Test(net_cores, setup_error_is_returned)
{
	/* every loop gets the same config, so make them all fail but check
	 * the call returns (no loop is left waiting) with that error */
	urt_config cfg = {.ring_entries = 1u << 30};
	int r = urt_cores_run(&(urt_cores_opts){.loops = 2, .cfg = &cfg, .fn = wait_for_stop});
	cr_expect_eq(r, -EINVAL, "an impossible ring size fails");
}

/* Loops whose main tasks only wait for the stop (nothing in flight, no
 * timer) are not deadlocked: the stop comes from another thread. */
static int waited[2];

static void *stop_after_a_while(void *arg)
{
	(void)arg;
	int i = urt_cores_index();
	if (i == 0) {
		urt_sleep(50 * URT_NS_PER_MS);
		urt_cores_stop();
	}
	waited[i] = urt_cores_wait_stop();
	return NULL;
}

Test(net_cores, wait_stop_alone_is_no_deadlock)
{
	waited[0] = waited[1] = 1;
	cr_expect_eq(urt_cores_run(&(urt_cores_opts){.loops = 2, .fn = stop_after_a_while}), 0);
	cr_expect_eq(waited[0], 0);
	cr_expect_eq(waited[1], 0, "loop 1 waited for the stop");
}

/* A SIGTERM during a run with .signals = 1 reaches the signalfd even when
 * the offload pool's workers were started by an earlier loop (before the
 * run blocked the signal): urt's own threads block it from birth. */
static void *noop_job(void *arg)
{
	return arg;
}

static void *warm_pool(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4; i++)
		cr_assert_eq(urt_to_thread(noop_job, NULL, NULL), 0);
	return NULL;
}

static void *terminate_self(void *arg)
{
	(void)arg;
	int i = urt_cores_index();
	if (i == 0) {
		urt_sleep(50 * URT_NS_PER_MS);
		kill(getpid(), SIGTERM); /* as `kill <pid>` from a shell */
	}
	waited[i] = urt_cores_wait_stop();
	return NULL;
}

Test(net_cores, sigterm_misses_pool_workers_started_before)
{
	cr_assert_eq(urt_run(warm_pool, NULL, NULL, NULL), 0);
	waited[0] = waited[1] = 1;
	cr_expect_eq(urt_cores_run(&(urt_cores_opts){.loops = 2, .signals = 1, .fn = terminate_self}), 0);
	cr_expect_eq(waited[0], 0);
	cr_expect_eq(waited[1], 0);
}
