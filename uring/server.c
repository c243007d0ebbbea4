/* The TCP server helper: one multishot accept, a task per connection, a
 * cap on concurrent connections, and a graceful stop. The serving task
 * waits for "anything" (a connection, a finished connection, a stop) with
 * one park; whoever has news wakes it. */
#include "net_internal.h"
#include "urt_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

struct urt_conn {
	urt_conn *next, *prev;      /* the server's list of live connections */
	urt_server *srv;
	urt_task *task;
	int fd;
	bool idle;                  /* waiting for a request: a stop cancels it at once */
};

struct urt_server {
	urt_loop *loop;
	urt_server_opts o;          /* copy of the options */
	int lfd;
	bool own_lfd;               /* urt made lfd: close it in destroy */
	bool serving;
	bool stopping;
	bool cancelling;            /* past the drain deadline: conns were cancelled */
	unsigned active;            /* live connections */
	uint64_t accepted;
	urt_conn *conns;            /* live connections */
	urt_task *waiter;           /* the serving task while it waits */
	urt_acceptor *acc;
};

static void wake_server(urt_server *s)
{
	if (s->waiter) {
		urt_task *t = s->waiter;
		s->waiter = NULL;
		urt__wake(t, 0);
	}
}

static void serve_interrupt(urt_task *t, int err)
{
	urt_server *s = t->wait_obj;
	s->waiter = NULL;
	if (s->acc)
		s->acc->waiter = NULL;
	urt__wake(t, err);
}

static void ignore_interrupt(urt_task *t, int err)
{
	(void)t, (void)err;
}

/* Park the serving task until someone has news (or wake_at passes). */
static int serve_wait(urt_server *s, urt_interrupt_fn fn, uint64_t wake_at, bool accepting)
{
	urt_loop *l = s->loop;
	urt_task *t = l->current;
	s->waiter = t;
	if (accepting)
		s->acc->waiter = t;
	int r = urt__park(l, t, fn, s, accepting ? "server accept" : "server drain", wake_at);
	s->waiter = NULL; /* whoever woke us cleared only its own pointer */
	if (s->acc)
		s->acc->waiter = NULL;
	return r;
}

int urt_server_create(urt_server **out, const urt_server_opts *o)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (!out || !o || !o->handler || o->listen_fd < 0)
		return -EINVAL;
	urt_server *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->loop = l;
	s->o = *o;
	if (!s->o.drain_ns)
		s->o.drain_ns = 5 * URT_NS_PER_SEC;
	if (o->listen_fd > 0) {
		s->lfd = o->listen_fd;
	} else {
		s->lfd = urt_tcp_listen(o->ip, o->port, o->backlog ? o->backlog : 1024, o->reuseport);
		if (s->lfd < 0) {
			int e = s->lfd;
			free(s);
			return e;
		}
		s->own_lfd = true;
	}
	*out = s;
	return 0;
}

static void conn_unlink(urt_server *s, urt_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void *conn_main(void *arg)
{
	urt_conn *c = arg;
	urt_server *s = c->srv;
	s->o.handler(c, s->o.arg);
	close(c->fd); /* close(2): a cancelled task could not use urt_close */
	conn_unlink(s, c);
	s->active--;
	free(c);
	wake_server(s);
	return NULL;
}

static int conn_start(urt_server *s, int fd)
{
	urt_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->srv = s;
	c->fd = fd;
	urt_task_opts to = {.name = s->o.conn_name ? s->o.conn_name : "conn",
			    .stack_size = s->o.conn_stack};
	int r = urt_spawn(&c->task, conn_main, c, &to);
	if (r < 0) {
		close(fd);
		free(c);
		return r;
	}
	urt_detach(c->task); /* the record stays valid while c is on the list */
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->active++;
	s->accepted++;
	return 0;
}

/* Out of descriptors or memory: the listener stays, try again later. */
static bool transient_accept_error(int e)
{
	return e == -EMFILE || e == -ENFILE || e == -ENOBUFS || e == -ENOMEM ||
	       e == -ECONNABORTED || e == -EINTR || e == -EPERM;
}

static int accept_loop(urt_server *s)
{
	for (;;) {
		if (s->stopping)
			return 0;
		if (!s->o.max_conns || s->active < s->o.max_conns) {
			int fd = urt__acceptor_try(s->acc);
			if (fd >= 0) {
				conn_start(s, fd);
				continue;
			}
			if (fd != -EAGAIN) {
				if (!transient_accept_error(fd))
					return fd;
				int r = urt_sleep(10 * URT_NS_PER_MS);
				if (r < 0)
					return r;
				continue;
			}
			int r = serve_wait(s, serve_interrupt, URT_NO_DEADLINE, true);
			if (r < 0)
				return r;
		} else {
			int r = serve_wait(s, serve_interrupt, URT_NO_DEADLINE, false);
			if (r < 0)
				return r;
		}
	}
}

static void cancel_conns(urt_server *s, bool idle_only)
{
	for (urt_conn *c = s->conns; c; c = c->next)
		if (!idle_only || c->idle)
			urt_cancel(c->task);
}

/* Stop accepting, let busy connections finish until the drain deadline,
 * then cancel them; return once none is left. Runs even when cancelled. */
static void drain(urt_server *s)
{
	s->stopping = true;
	urt_acceptor_close(s->acc);
	s->acc = NULL;
	cancel_conns(s, true);
	uint64_t until = urt__now(s->loop) + s->o.drain_ns;
	while (s->active && !s->cancelling) {
		serve_wait(s, ignore_interrupt, until, false);
		if (urt__now(s->loop) >= until) {
			s->cancelling = true;
			cancel_conns(s, false);
		}
	}
	while (s->active)
		serve_wait(s, ignore_interrupt, URT_NO_DEADLINE, false);
}

int urt_server_serve(urt_server *s)
{
	urt_loop *l = urt__loop();
	if (!s || s->loop != l)
		return -EINVAL;
	if (s->serving)
		return -EBUSY;
	urt_task *t;
	int r = urt__may_block(&l, &t); /* a caller cancelled or past its deadline serves nothing */
	if (r < 0)
		return r;
	r = urt_acceptor_open(&s->acc, s->lfd, SOCK_CLOEXEC, 0);
	if (r < 0)
		return r;
	s->serving = true;
	r = accept_loop(s);
	drain(s);
	s->serving = false;
	return r;
}

int urt_server_stop(urt_server *s)
{
	if (!s || s->loop != urt__loop())
		return -EINVAL;
	if (!s->stopping) {
		s->stopping = true;
		cancel_conns(s, true);
	}
	wake_server(s);
	return 0;
}

int urt_server_stopping(const urt_server *s) { return s ? s->stopping : -EINVAL; }
int urt_server_active(const urt_server *s) { return s ? (int)s->active : -EINVAL; }
uint64_t urt_server_accepted(const urt_server *s) { return s ? s->accepted : 0; }

int urt_server_port(const urt_server *s)
{
	if (!s)
		return -EINVAL;
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	if (getsockname(s->lfd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	return ntohs(sa.sin_port);
}

int urt_server_destroy(urt_server *s)
{
	if (!s || s->loop != urt__loop())
		return -EINVAL;
	if (s->serving)
		return -EBUSY;
	if (s->own_lfd)
		close(s->lfd);
	free(s);
	return 0;
}

int urt_conn_fd(const urt_conn *c) { return c ? c->fd : -EINVAL; }
urt_server *urt_conn_server(const urt_conn *c) { return c ? c->srv : NULL; }

int urt_conn_set_idle(urt_conn *c, int idle)
{
	if (!c)
		return -EINVAL;
	c->idle = idle != 0;
	if (c->idle && c->srv->stopping)
		urt_cancel(c->task); /* a stop came while it was busy: end it now */
	return 0;
}
