/* Time, sleep and deadline scopes. */
#include "core_internal.h"

#include <errno.h>
#include <time.h>

uint64_t urt__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * URT_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The loop's clock: a seam, so paused time can replace it. */
uint64_t urt__now(urt_loop *l)
{
	if (l && (l->cfg.flags & URT_CFG_PAUSED_TIME))
		return l->virtual_now;
	return urt__mono_ns();
}

uint64_t urt_now(void) { return urt__now(urt__loop()); }

static void sleep_interrupt(urt_task *t, int err) { urt__wake(t, err); }

int urt_sleep(uint64_t ns)
{
	urt_loop *l;
	urt_task *t;
	int r = urt__may_block(&l, &t);
	if (r < 0)
		return r;
	return urt__park(l, t, sleep_interrupt, NULL, "sleep", urt__add_sat(urt__now(l), ns));
}

int urt_deadline_enter(urt_deadline *d, uint64_t timeout_ns)
{
	urt_loop *l = urt__loop();
	if (!l || !l->current)
		return -EPERM;
	if (!d)
		return -EINVAL;
	urt_task *t = l->current;
	uint64_t when = urt__add_sat(urt__now(l), timeout_ns);
	d->saved = t->deadline;
	d->outer = t->deadline_top;
	if (when < t->deadline)
		t->deadline = when;
	t->deadline_top = d;
	return 0;
}

int urt_deadline_exit(urt_deadline *d)
{
	urt_loop *l = urt__loop();
	if (!l || !l->current)
		return -EPERM;
	urt_task *t = l->current;
	if (!d || t->deadline_top != d)
		return -EINVAL;
	t->deadline = d->saved;
	t->deadline_top = d->outer;
	return 0;
}

uint64_t urt_deadline_get(void)
{
	urt_loop *l = urt__loop();
	return l && l->current ? l->current->deadline : URT_NO_DEADLINE;
}
