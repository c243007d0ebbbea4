/* Event: a flag that tasks wait for; set wakes every waiter. */
#include "core_internal.h"

#include <errno.h>
#include <string.h>

void urt_event_init(urt_event *e)
{
	if (e)
		memset(e, 0, sizeof *e);
}

int urt_event_set(urt_event *e)
{
	if (!e)
		return -EINVAL;
	e->is_set = 1;
	urt__waitq_wake_all(&e->waiters, 0);
	return 0;
}

int urt_event_clear(urt_event *e)
{
	if (!e)
		return -EINVAL;
	e->is_set = 0;
	return 0;
}

int urt_event_is_set(const urt_event *e) { return e ? e->is_set : -EINVAL; }

int urt_event_wait(urt_event *e)
{
	urt_loop *l;
	urt_task *t;
	int r = urt__may_block_on(e, &l, &t);
	if (r < 0 || e->is_set)
		return r;
	struct urt__waiter w = {0};
	return urt__waitq_wait(l, t, &e->waiters, &w, "event");
}
