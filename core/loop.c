/* The loop: urt_run and the tick.
 *
 * One tick: run the ready tasks (they hand over to each other directly,
 * up to a budget), then one io_uring_enter that submits what they queued
 * and waits for the first completion or the earliest timer, then reap the
 * completions and fire the timers that are due. */
#include "core_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

void urt__run_ready(urt_loop *l);
void urt__task_pool_drain(urt_loop *l);
int urt__spawn_on(urt_loop *l, urt_task **out, urt_task_fn fn, void *arg,
		  const urt_task_opts *o, unsigned flags);

static __thread urt_loop *this_loop;
static _Atomic uint64_t next_loop_id = 1;

urt_loop *urt__loop(void) { return this_loop; }
urt_loop *urt_loop_current(void) { return this_loop; }
uint64_t urt_loop_id(const urt_loop *l) { return l ? l->id : 0; }

int urt_loop_stats_get(const urt_loop *l, urt_loop_stats *out)
{
	if (!l)
		l = this_loop;
	if (!l || !out)
		return -EINVAL;
	*out = l->stats;
	return 0;
}

/* Every remaining task waits on something nobody can signal: cancel them
 * so they can finish (asyncio would hang here forever). */
static void break_deadlock(urt_loop *l)
{
	for (urt_task *t = l->all; t; t = t->all_next)
		if (t->state == URT_T_PARKED)
			urt_cancel(t);
}

/* Tick until no task of the kind counted by *alive is left. */
static int run_until(urt_loop *l, const unsigned *alive, bool user_phase)
{
	while (*alive) {
		urt__run_ready(l);
		if (!*alive)
			break;
		uint64_t now = urt__now(l);
		uint64_t timeout = l->nready ? 0 : urt__timer_next(l, now);
		if (timeout == URT_NO_DEADLINE && !l->inflight && !l->external) {
			if (user_phase)
				l->deadlocked = true;
			break_deadlock(l);
			continue;
		}
		l->stats.ticks++;
		int r = urt__backend_poll(l, timeout);
		if (r < 0)
			return r;
		urt__timers_fire(l, urt__now(l));
	}
	return 0;
}

static void config_defaults(urt_config *c, const urt_config *user)
{
	if (user)
		*c = *user;
	if (!c->ring_entries)
		c->ring_entries = 256;
	if (!c->stack_size)
		c->stack_size = 64 * 1024;
	if (!c->stack_pool)
		c->stack_pool = 256;
}

static void loop_free(urt_loop *l)
{
	urt__task_pool_drain(l);
	urt__stack_pool_drain(l);
	free(l->heap);
	free(l);
}

int urt_run(urt_task_fn fn, void *arg, const urt_config *cfg, void **result)
{
	if (this_loop)
		return -EBUSY;
	if (!fn)
		return -EINVAL;
	urt_loop *l = urt__fault(URT_FAULT_ALLOC) ? NULL : calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	config_defaults(&l->cfg, cfg);
	l->id = atomic_fetch_add_explicit(&next_loop_id, 1, memory_order_relaxed);
	int r = urt__backend_init(l);
	if (r < 0) {
		free(l);
		return r;
	}
	void *altstack;
	r = urt__stack_thread_init(&altstack);
	if (r < 0) {
		urt__backend_fini(l);
		free(l);
		return r;
	}
	this_loop = l;
	urt__switch_init(l);
	urt_task *main_task;
	r = urt__spawn_on(l, &main_task, fn, arg, &(urt_task_opts){.name = "main"}, 0);
	if (r == 0)
		r = run_until(l, &l->tasks_alive, true);
	if (r == 0) {
		/* loop-internal tasks end once the user's tasks have */
		for (urt_task *t = l->all; t; t = t->all_next)
			if (t->state != URT_T_DONE)
				urt_cancel(t);
		r = run_until(l, &l->system_alive, false);
	}
	if (r == 0 && result)
		*result = main_task->result;
	if (r == 0 && l->deadlocked)
		r = -EDEADLK;
	urt__backend_fini(l);
	this_loop = NULL;
	urt__stack_thread_fini(altstack);
	loop_free(l);
	return r;
}
