/* Waiting for all or any of a set of tasks (without joining them). */
#include "core_internal.h"

#include <errno.h>
#include <stdlib.h>

/* What wait_all and wait_any check first: the caller may block (-EPERM,
 * -ECANCELED, -ETIME otherwise) and the set is non-empty and holds only
 * joinable tasks of the caller's loop (-EINVAL). */
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
	return 0;
}

int urt_wait_all(urt_task *const *tasks, size_t n)
{
	urt_loop *l;
	urt_task *self;
	int r = begin_wait(tasks, n, &l, &self);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (tasks[i]->state == URT_T_DONE)
			continue;
		if (tasks[i] == self)
			return -EDEADLK;
		struct urt__waiter w = {0};
		r = urt__waitq_wait(l, self, &tasks[i]->done_waiters, &w, "wait_all");
		if (r < 0)
			return r;
	}
	return 0;
}

/* wait_any parks once on every task's done queue; the first to finish
 * wakes it and the other nodes are unlinked. */
static void any_interrupt(urt_task *t, int err)
{
	struct urt__waiter *w = t->wait_obj;
	for (size_t i = 0; w[i].task == t; i++)
		urt__waitq_remove(&w[i]);
	urt__wake(t, err);
}

int urt_wait_any(urt_task *const *tasks, size_t n)
{
	urt_loop *l;
	urt_task *self;
	int r = begin_wait(tasks, n, &l, &self);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (tasks[i]->state == URT_T_DONE)
			return (int)i;
		if (tasks[i] == self)
			return -EDEADLK;
	}
	struct urt__waiter small[9], *w = small;
	if (n + 1 > 9 && !(w = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(n + 1, sizeof *w)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		w[i] = (struct urt__waiter){.task = self};
		urt__waitq_push(&tasks[i]->done_waiters, &w[i]);
	}
	w[n].task = NULL; /* terminator for any_interrupt */
	r = urt__park(l, self, any_interrupt, w, "wait_any", URT_NO_DEADLINE);
	for (size_t i = 0; i < n; i++)
		urt__waitq_remove(&w[i]);
	if (w != small)
		free(w);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (tasks[i]->state == URT_T_DONE)
			return (int)i;
	return -EINVAL; /* not reached: a done task woke us */
}
