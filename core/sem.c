/* Counting semaphore with FIFO hand-off. */
#include "core_internal.h"

#include <errno.h>
#include <string.h>

void urt_sem_init(urt_sem *s, uint64_t count)
{
	if (!s)
		return;
	memset(s, 0, sizeof *s);
	s->count = count;
}

int urt_sem_acquire(urt_sem *s)
{
	urt_loop *l;
	urt_task *t;
	int r = urt__may_block_on(s, &l, &t);
	if (r < 0)
		return r;
	if (s->count > 0) {
		s->count--;
		return 0;
	}
	struct urt__waiter w = {0};
	return urt__waitq_wait(l, t, &s->waiters, &w, "semaphore"); /* unit handed over */
}

int urt_sem_tryacquire(urt_sem *s)
{
	if (!s)
		return -EINVAL;
	if (!s->count)
		return -EAGAIN;
	s->count--;
	return 0;
}

int urt_sem_release(urt_sem *s)
{
	if (!s)
		return -EINVAL;
	struct urt__waiter *w = urt__waitq_pop(&s->waiters);
	if (w) {
		urt__wake(w->task, 0);
		return 0;
	}
	if (s->count == UINT64_MAX)
		return -EOVERFLOW;
	s->count++;
	return 0;
}
