/* Waiting for all or any of a set of tasks (without joining them).
 *
 * The waiter parks once with a node on the done queue of every task not
 * finished yet; a task that finishes pops its node (urt__waitq_wake_all),
 * so "finished" is read from the nodes, never from the task records: while
 * the waiter sleeps another task may join or detach one of them, and its
 * record is then freed and may be reused by a later spawn. */
#include "core_internal.h"

#include <errno.h>
#include <stdlib.h>

/* What wait_all and wait_any check first: the caller may block (-EPERM,
 * -ECANCELED, -ETIME otherwise), the set is non-empty and holds only
 * joinable tasks of the caller's loop (-EINVAL), and not the caller
 * (-EDEADLK: it would wait for itself). */
static int begin_wait(urt_task *const *tasks, size_t n, urt_loop **lp, urt_task **self)
{
	int r = urt__may_block(lp, self);
	if (r < 0)
		return r;
	urt_loop *l = *lp;
	if (!tasks || !n || n > INT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const urt_task *t = tasks[i];
		if (!t || t->loop != l || t->state == URT_T_FREE || (t->flags & URT_TF_DETACHED))
			return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (tasks[i] == *self)
			return -EDEADLK;
	return 0;
}

/* The node set of one wait: node i on tasks[i]'s done queue (a finished
 * task's node is left off, q == NULL), then a terminator (task NULL). */
typedef struct node_set {
	struct urt__waiter small[9], *w;
} node_set;

static int nodes_push(node_set *s, urt_task *const *tasks, size_t n, urt_task *self)
{
	s->w = s->small;
	if (n + 1 > sizeof s->small / sizeof s->small[0] &&
	    !(s->w = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(n + 1, sizeof *s->w)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s->w[i] = (struct urt__waiter){.task = self};
		if (tasks[i]->state != URT_T_DONE)
			urt__waitq_push(&tasks[i]->done_waiters, &s->w[i]);
	}
	s->w[n] = (struct urt__waiter){.task = NULL};
	return 0;
}

static void nodes_pop(node_set *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		urt__waitq_remove(&s->w[i]);
	if (s->w != s->small)
		free(s->w);
}

/* Cancel or deadline: off every queue, then the wake with the error. */
static void nodes_interrupt(urt_task *t, int err)
{
	struct urt__waiter *w = t->wait_obj;
	for (size_t i = 0; w[i].task == t; i++)
		urt__waitq_remove(&w[i]);
	urt__wake(t, err);
}

/* The first task of the set that has finished (its node is off its
 * queue), or -1. */
static int first_done(const node_set *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!s->w[i].q)
			return (int)i;
	return -1;
}

static bool all_done(const node_set *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s->w[i].q)
			return false;
	return true;
}

int urt_wait_all(urt_task *const *tasks, size_t n)
{
	urt_loop *l;
	urt_task *self;
	node_set s;
	int r = begin_wait(tasks, n, &l, &self);
	if (r < 0 || (r = nodes_push(&s, tasks, n, self)) < 0)
		return r;
	while (r == 0 && !all_done(&s, n)) /* each finish wakes it once */
		r = urt__park(l, self, nodes_interrupt, s.w, "wait_all", URT_NO_DEADLINE);
	nodes_pop(&s, n);
	return r;
}

int urt_wait_any(urt_task *const *tasks, size_t n)
{
	urt_loop *l;
	urt_task *self;
	node_set s;
	int r = begin_wait(tasks, n, &l, &self);
	if (r < 0 || (r = nodes_push(&s, tasks, n, self)) < 0)
		return r;
	int done = first_done(&s, n);
	if (done < 0)
		r = urt__park(l, self, nodes_interrupt, s.w, "wait_any", URT_NO_DEADLINE);
	if (r == 0 && done < 0)
		done = first_done(&s, n);
	nodes_pop(&s, n);
	return r < 0 ? r : done;
}
