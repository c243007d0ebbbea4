/* Wait queues: FIFO lists of parked tasks, the base of every sync
 * primitive and of join. Waiter nodes live on the waiting task's stack. */
#include "core_internal.h"

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
