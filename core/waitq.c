/* Wait queues: FIFO lists of parked tasks, the base of every sync
 * primitive and of join. Waiter nodes live on the waiting task's stack. */
#include "core_internal.h"

void urt__waitq_push(urt_waitq *q, struct urt__waiter *w)
{
	w->q = q;
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

void urt__waitq_remove(struct urt__waiter *w)
{
	urt_waitq *q = w->q;
	if (!q)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->q = NULL;
}

struct urt__waiter *urt__waitq_pop(urt_waitq *q)
{
	struct urt__waiter *w = q->head;
	if (w)
		urt__waitq_remove(w);
	return w;
}

static void waitq_interrupt(urt_task *t, int err)
{
	urt__waitq_remove(t->wait_obj);
	urt__wake(t, err);
}

int urt__waitq_wait(urt_loop *l, urt_task *t, urt_waitq *q, struct urt__waiter *w,
		    const char *what)
{
	w->task = t;
	urt__waitq_push(q, w);
	return urt__park(l, t, waitq_interrupt, w, what, URT_NO_DEADLINE);
}

void urt__waitq_wake_all(urt_waitq *q, int res)
{
	struct urt__waiter *w;
	while ((w = urt__waitq_pop(q)) != NULL)
		urt__wake(w->task, res);
}
