/* urt_server: serving many connections, the connection cap, graceful stop
 * with requests in flight (busy ones finish, idle ones end at once, late
 * ones are cancelled at the drain deadline), bad input. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "urt_net.h"
#include "urt_server.h"

TestSuite(net_server, .timeout = 20);

/* Handler: read a line-less request (any bytes), sleep `delay` ms as
 * "work", answer "ok", repeat; idle while waiting for a request. */
struct env {
	uint64_t delay_ns;
	int received; /* requests taken in (before the delay) */
	int answered;
	int cancelled;
	unsigned max_active;
	urt_server *srv;
};

static void handler(urt_conn *c, void *arg)
{
	struct env *e = arg;
	int fd = urt_conn_fd(c);
	char buf[64];
	for (;;) {
		urt_conn_set_idle(c, 1);
		ssize_t n = urt_recv(fd, buf, sizeof buf, 0);
		urt_conn_set_idle(c, 0);
		if (n <= 0) {
			if (n == -ECANCELED)
				e->cancelled++;
			return;
		}
		e->received++;
		unsigned act = (unsigned)urt_server_active(urt_conn_server(c));
		if (act > e->max_active)
			e->max_active = act;
		if (e->delay_ns && urt_sleep(e->delay_ns) < 0) {
			e->cancelled++;
			return;
		}
		if (urt_write_all(fd, "ok", 2) != 2)
			return;
		e->answered++;
		if (urt_server_stopping(urt_conn_server(c)) == 1)
			return; /* finish the request in progress, then go */
	}
}

/* Wait until the handlers have taken in n requests: a fixed sleep is a
 * guess a loaded machine may not honour. */
static void wait_received(struct env *e, int n)
{
	for (uint64_t end = urt_now() + 10 * URT_NS_PER_SEC; e->received < n && urt_now() < end;)
		urt_sleep(URT_NS_PER_MS);
	cr_assert_geq(e->received, n, "the server took in %d of %d requests", e->received, n);
}

static void *serve(void *p)
{
	return (void *)(intptr_t)urt_server_serve(p);
}

static int ask(int fd)
{
	if (urt_write_all(fd, "x", 1) != 1)
		return -1;
	char buf[2];
	size_t got = 0;
	while (got < 2) {
		ssize_t n = urt_recv(fd, buf + got, 2 - got, 0);
		if (n <= 0)
			return (int)n;
		got += (size_t)n;
	}
	return memcmp(buf, "ok", 2) == 0 ? 1 : -1;
}

static void *many(void *arg)
{
	(void)arg;
	struct env e = {0};
	urt_server *s;
	cr_assert_eq(urt_server_create(&s, &(urt_server_opts){.handler = handler, .arg = &e,
							     .conn_stack = 16384}), 0);
	int port = urt_server_port(s);
	cr_assert_gt(port, 0);
	urt_task *st;
	cr_assert_eq(urt_spawn(&st, serve, s, NULL), 0);
	int fds[100];
	for (int i = 0; i < 100; i++) {
		fds[i] = urt_tcp_connect("127.0.0.1", (uint16_t)port);
		cr_assert_geq(fds[i], 0);
	}
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 100; i++)
			cr_assert_eq(ask(fds[i]), 1);
	cr_expect_eq(urt_server_active(s), 100);
	cr_expect_eq(urt_server_accepted(s), 100);
	cr_expect_eq(urt_server_serve(s), -EBUSY, "one serving task");
	cr_expect_eq(urt_server_destroy(s), -EBUSY);
	cr_assert_eq(urt_server_stop(s), 0);
	cr_expect_eq(urt_server_stop(s), 0, "idempotent");
	void *res;
	cr_expect_eq(urt_join(st, &res), 0);
	cr_expect_eq((intptr_t)res, 0);
	cr_expect_eq(urt_server_active(s), 0);
	cr_expect_eq(e.answered, 300);
	cr_expect_eq(e.cancelled, 100, "idle connections end at once");
	for (int i = 0; i < 100; i++) {
		char c;
		cr_expect_eq(urt_recv(fds[i], &c, 1, 0), 0, "server closed it");
		close(fds[i]);
	}
	cr_expect_eq(urt_server_destroy(s), 0);
	return NULL;
}

Test(net_server, serve_many_and_stop) { urt_test_run(many, NULL); }

static void *capped(void *arg)
{
	(void)arg;
	struct env e = {0};
	urt_server *s;
	cr_assert_eq(urt_server_create(&s, &(urt_server_opts){.handler = handler, .arg = &e,
							     .max_conns = 2}), 0);
	uint16_t port = (uint16_t)urt_server_port(s);
	urt_task *st;
	cr_assert_eq(urt_spawn(&st, serve, s, NULL), 0);
	int a = urt_tcp_connect("127.0.0.1", port), b = urt_tcp_connect("127.0.0.1", port),
	    c = urt_tcp_connect("127.0.0.1", port);
	cr_assert_eq(ask(a), 1);
	cr_assert_eq(ask(b), 1);
	/* the third waits unserved while two are open */
	cr_assert_eq(urt_write_all(c, "x", 1), 1);
	urt_sleep(30 * URT_NS_PER_MS);
	cr_expect_eq(urt_test_readable(c), 0, "served beyond the cap");
	cr_expect_eq(urt_server_active(s), 2);
	close(a);
	char buf[2];
	urt_deadline d;
	urt_deadline_enter(&d, 10 * URT_NS_PER_SEC);
	cr_expect_eq(urt_recv(c, buf, 2, MSG_WAITALL), 2, "served once a slot freed");
	urt_deadline_exit(&d);
	cr_expect_leq(e.max_active, 2);
	urt_server_stop(s);
	urt_join(st, NULL);
	close(b);
	close(c);
	urt_server_destroy(s);
	return NULL;
}

Test(net_server, connection_cap) { urt_test_run(capped, NULL); }

/* A stop while a request is in flight: it finishes and is answered. */
static void *inflight(void *arg)
{
	(void)arg;
	struct env e = {.delay_ns = 50 * URT_NS_PER_MS};
	urt_server *s;
	/* a long drain: waiting for the idle connection would take all of it */
	cr_assert_eq(urt_server_create(&s, &(urt_server_opts){.handler = handler, .arg = &e,
							     .drain_ns = 30 * URT_NS_PER_SEC}), 0);
	uint16_t port = (uint16_t)urt_server_port(s);
	urt_task *st;
	cr_assert_eq(urt_spawn(&st, serve, s, NULL), 0);
	int busy = urt_tcp_connect("127.0.0.1", port), idle = urt_tcp_connect("127.0.0.1", port);
	cr_assert_eq(ask(idle), 1);
	cr_assert_eq(urt_write_all(busy, "x", 1), 1);
	wait_received(&e, 2); /* the request is being worked on */
	uint64_t t0 = urt_now();
	cr_assert_eq(urt_server_stop(s), 0);
	char buf[2];
	cr_expect_eq(urt_recv(busy, buf, 2, MSG_WAITALL), 2, "in-flight request answered");
	cr_expect_eq(urt_join(st, NULL), 0);
	/* loose (a loaded machine) */
	cr_expect_lt(urt_now() - t0, 10 * URT_NS_PER_SEC, "no wait for the idle one");
	cr_expect_eq(e.answered, 2);
	cr_expect_eq(e.cancelled, 1, "the idle connection was cancelled");
	close(busy);
	close(idle);
	urt_server_destroy(s);
	return NULL;
}

Test(net_server, graceful_stop_with_request_in_flight) { urt_test_run(inflight, NULL); }

/* A request slower than the drain deadline is cancelled. */
static void *deadline(void *arg)
{
	(void)arg;
	struct env e = {.delay_ns = 10 * URT_NS_PER_SEC};
	urt_server *s;
	cr_assert_eq(urt_server_create(&s, &(urt_server_opts){.handler = handler, .arg = &e,
							     .drain_ns = 30 * URT_NS_PER_MS}), 0);
	uint16_t port = (uint16_t)urt_server_port(s);
	urt_task *st;
	cr_assert_eq(urt_spawn(&st, serve, s, NULL), 0);
	int fd = urt_tcp_connect("127.0.0.1", port);
	cr_assert_eq(urt_write_all(fd, "x", 1), 1);
	wait_received(&e, 1);
	uint64_t t0 = urt_now();
	urt_server_stop(s);
	cr_expect_eq(urt_join(st, NULL), 0);
	uint64_t took = urt_now() - t0;
	cr_expect_geq(took, 25 * URT_NS_PER_MS, "waited for the drain deadline");
	cr_expect_lt(took, 5 * URT_NS_PER_SEC, "waited for the request"); /* loose: a loaded machine */
	cr_expect_eq(e.cancelled, 1);
	cr_expect_eq(e.answered, 0);
	close(fd);
	urt_server_destroy(s);
	return NULL;
}

Test(net_server, drain_deadline_cancels) { urt_test_run(deadline, NULL); }

/* Cancelling the serving task drains the same way. */
static void *cancel_serving(void *arg)
{
	(void)arg;
	struct env e = {0};
	urt_server *s;
	cr_assert_eq(urt_server_create(&s, &(urt_server_opts){.handler = handler, .arg = &e}), 0);
	urt_task *st;
	cr_assert_eq(urt_spawn(&st, serve, s, NULL), 0);
	int fd = urt_tcp_connect("127.0.0.1", (uint16_t)urt_server_port(s));
	cr_assert_eq(ask(fd), 1);
	urt_cancel(st);
	void *res;
	cr_expect_eq(urt_join(st, &res), -ECANCELED);
	cr_expect_eq((intptr_t)res, -ECANCELED);
	cr_expect_eq(urt_server_active(s), 0);
	close(fd);
	urt_server_destroy(s);
	return NULL;
}

Test(net_server, cancel_serving_task) { urt_test_run(cancel_serving, NULL); }

/* The drain deadline holds when the serving task is cancelled during the
 * drain (mode 1) or its own deadline scope expires first (mode 0): the
 * slow request is cancelled at drain_ns, not waited for. */
struct drain_env {
	urt_server *srv;
	int with_deadline;
	int res;
};

static void *serve_scoped(void *p)
{
	struct drain_env *d = p;
	urt_deadline dl;
	if (d->with_deadline)
		urt_deadline_enter(&dl, 50 * URT_NS_PER_MS);
	d->res = urt_server_serve(d->srv);
	if (d->with_deadline)
		urt_deadline_exit(&dl);
	return NULL;
}

static void drain_interrupted(int with_deadline)
{
	struct env e = {.delay_ns = 10 * URT_NS_PER_SEC};
	struct drain_env d = {.with_deadline = with_deadline, .res = 1};
	cr_assert_eq(urt_server_create(&d.srv, &(urt_server_opts){.handler = handler, .arg = &e,
								  .drain_ns = 100 * URT_NS_PER_MS}), 0);
	urt_task *st;
	cr_assert_eq(urt_spawn(&st, serve_scoped, &d, NULL), 0);
	int fd = urt_tcp_connect("127.0.0.1", (uint16_t)urt_server_port(d.srv));
	cr_assert_eq(urt_write_all(fd, "x", 1), 1);
	wait_received(&e, 1);
	uint64_t t0 = urt_now();
	if (!with_deadline) {
		urt_server_stop(d.srv);
		urt_sleep(10 * URT_NS_PER_MS); /* draining */
		urt_cancel(st);
	}
	urt_join(st, NULL);
	uint64_t took = urt_now() - t0;
	cr_expect_lt(took, 5 * URT_NS_PER_SEC, "the drain deadline cancelled the request");
	cr_expect_eq(e.cancelled, 1);
	cr_expect_eq(d.res, with_deadline ? -ETIME : 0);
	cr_expect_eq(urt_server_active(d.srv), 0);
	close(fd);
	urt_server_destroy(d.srv);
}

static void *drain_cancelled(void *arg)
{
	(void)arg;
	drain_interrupted(0);
	return NULL;
}

static void *drain_past_deadline(void *arg)
{
	(void)arg;
	drain_interrupted(1);
	return NULL;
}

Test(net_server, drain_deadline_holds_when_cancelled) { urt_test_run(drain_cancelled, NULL); }
Test(net_server, drain_deadline_holds_past_callers_deadline) { urt_test_run(drain_past_deadline, NULL); }

/* A task cancelled before it calls serve serves nothing. */
static void *precancelled(void *arg)
{
	(void)arg;
	struct env e = {0};
	struct drain_env d = {.res = 1};
	cr_assert_eq(urt_server_create(&d.srv, &(urt_server_opts){.handler = handler, .arg = &e}), 0);
	urt_task *st;
	cr_assert_eq(urt_spawn(&st, serve_scoped, &d, NULL), 0);
	cr_assert_eq(urt_cancel(st), 0); /* before it first runs */
	cr_expect_eq(urt_test_join_within(st, URT_NS_PER_SEC, NULL), -ECANCELED);
	cr_expect_eq(d.res, -ECANCELED);
	cr_expect_eq(urt_server_accepted(d.srv), 0);
	urt_server_destroy(d.srv);
	return NULL;
}

Test(net_server, serve_in_cancelled_task) { urt_test_run(precancelled, NULL); }

static void *bad(void *arg)
{
	(void)arg;
	urt_server *s;
	cr_expect_eq(urt_server_create(NULL, &(urt_server_opts){.handler = handler}), -EINVAL);
	cr_expect_eq(urt_server_create(&s, NULL), -EINVAL);
	cr_expect_eq(urt_server_create(&s, &(urt_server_opts){0}), -EINVAL, "no handler");
	cr_expect_eq(urt_server_create(&s, &(urt_server_opts){.handler = handler, .ip = "nope"}),
		     -EINVAL);
	cr_assert_eq(urt_server_create(&s, &(urt_server_opts){.handler = handler}), 0);
	urt_server *s2; /* same port, no SO_REUSEPORT */
	cr_expect_eq(urt_server_create(&s2, &(urt_server_opts){
				     .handler = handler, .port = (uint16_t)urt_server_port(s)}),
		     -EADDRINUSE);
	cr_expect_eq(urt_server_destroy(s), 0);
	cr_expect_eq(urt_server_stop(NULL), -EINVAL);
	cr_expect_eq(urt_server_serve(NULL), -EINVAL);
	cr_expect_eq(urt_server_active(NULL), -EINVAL);
	cr_expect_eq(urt_server_stopping(NULL), -EINVAL);
	cr_expect_eq(urt_server_port(NULL), -EINVAL);
	cr_expect_eq(urt_server_destroy(NULL), -EINVAL);
	cr_expect_eq(urt_conn_fd(NULL), -EINVAL);
	cr_expect_eq(urt_conn_set_idle(NULL, 1), -EINVAL);
	cr_expect_null(urt_conn_server(NULL));
	return NULL;
}

Test(net_server, bad_input) { urt_test_run(bad, NULL); }

Test(net_server, outside_loop)
{
	urt_server *s;
	cr_expect_eq(urt_server_create(&s, &(urt_server_opts){.handler = handler}), -EPERM);
}
