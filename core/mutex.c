/* Mutex: FIFO hand-off on unlock, so no waiter starves. */
#include "core_internal.h"

#include <errno.h>
#include <string.h>

void urt_mutex_init(urt_mutex *m)
{
	if (m)
		memset(m, 0, sizeof *m);
}

int urt_mutex_lock(urt_mutex *m)
{
	urt_loop *l;
	urt_task *t;
	int r = urt__may_block_on(m, &l, &t);
	if (r < 0)
		return r;
	if (!m->owner) {
		m->owner = t;
		return 0;
	}
	if (m->owner == t)
		return -EDEADLK;
	struct urt__waiter w = {0};
	return urt__waitq_wait(l, t, &m->waiters, &w, "mutex"); /* owner set by unlock */
}

int urt_mutex_trylock(urt_mutex *m)
{
	if (!m)
		return -EINVAL;
	urt_task *t = urt_self();
	if (!t)
		return -EPERM;
	if (m->owner)
		return -EBUSY;
	m->owner = t;
	return 0;
}

int urt_mutex_unlock(urt_mutex *m)
{
	if (!m)
		return -EINVAL;
	if (!m->owner || m->owner != urt_self())
		return -EPERM;
	struct urt__waiter *w = urt__waitq_pop(&m->waiters);
	m->owner = w ? w->task : NULL;
	if (w)
		urt__wake(w->task, 0);
	return 0;
}
