/* Tasks: spawn, the ready ring, parking and waking, join, detach,
 * cancel, yield. */
#include "core_internal.h"
#include "probes.h"
#include "switch.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Switches a task may hand over directly to the next ready task before
 * the scheduler polls the ring again (or more, if more were ready). */
#define URT_MIN_BUDGET 256

static _Atomic uint64_t next_task_id = 1;

/* Task ids are unique in the process. A loop takes them from the global
 * counter a block at a time, so a spawn costs no atomic read-modify-write
 * (a locked instruction is a sizeable part of a ~100 ns spawn+join). */
#define URT_ID_BLOCK 1024
static uint64_t task_id_new(urt_loop *l)
{
	if (URT_UNLIKELY(l->id_next == l->id_end)) {
		l->id_next = atomic_fetch_add_explicit(&next_task_id, URT_ID_BLOCK, memory_order_relaxed);
		l->id_end = l->id_next + URT_ID_BLOCK;
	}
	return l->id_next++;
}

/* Link t in last: after every ready task, before the running one. */
void urt__ready_push(urt_loop *l, urt_task *t)
{
	urt_task *tail = l->ready_tail;
	if (tail) {
		t->next_ready = tail->next_ready;
		tail->next_ready = t;
	} else {
		t->next_ready = t;
	}
	l->ready_tail = t;
	l->nready++;
}

/* The first ready task, which is to run now: it stays in the ring. */
static urt_task *ready_take(urt_loop *l)
{
	l->nready--;
	return l->ready_tail->next_ready;
}

/* Unlink the running task t (it parks or ends): the ring's first. */
static void ring_leave(urt_loop *l, urt_task *t)
{
	if (t->next_ready == t)
		l->ready_tail = NULL;
	else
		l->ready_tail->next_ready = t->next_ready;
	t->next_ready = NULL;
}

urt_task *urt__next(urt_loop *l)
{
	if (l->stats.switches < l->switch_limit && l->nready)
		return ready_take(l);
	return NULL;
}

void urt__run_ready(urt_loop *l)
{
	if (!l->nready)
		return;
	/* this switch counts against the budget too */
	l->switch_limit = l->stats.switches + (l->nready > URT_MIN_BUDGET ? l->nready : URT_MIN_BUDGET);
	urt__switch(l, NULL, ready_take(l));
}

/* ---- records ----------------------------------------------------------- */

/* Zero a record with plain vector stores: for a record this size the
 * compiler's memset is rep stos, whose start-up costs more than the
 * stores (a sizeable part of a spawn+join of ~100 ns). The empty asm
 * keeps the loop from being turned back into that memset. */
static inline void task_zero(urt_task *t)
{
	typedef long long v16 __attribute__((vector_size(16), may_alias, aligned(8)));
	char *p = (char *)t;
	for (size_t i = 0; i + 16 <= sizeof *t; i += 16) {
		*(v16 *)(p + i) = (v16){0};
		__asm__("" : "+r"(p));
	}
	if (sizeof *t % 16)
		memset(p + sizeof *t / 16 * 16, 0, sizeof *t % 16);
}

/* FIFO reuse: a stale handle (joined twice, say) most likely still points
 * at a FREE record and is refused, rather than at a new task. */
static urt_task *task_alloc(urt_loop *l)
{
	urt_task *t = l->free_tasks;
	if (t) {
		l->free_tasks = t->next_free;
		if (!l->free_tasks)
			l->free_tasks_tail = NULL;
	} else {
		t = urt__fault(URT_FAULT_ALLOC) ? NULL : malloc(sizeof *t);
		if (!t)
			return NULL;
	}
	task_zero(t);
	return t;
}

void urt__task_free(urt_loop *l, urt_task *t)
{
	urt_ctx_release(t->ctx);
	t->ctx = NULL;
	t->state = URT_T_FREE;
	if (t->all_prev)
		t->all_prev->all_next = t->all_next;
	else
		l->all = t->all_next;
	if (t->all_next)
		t->all_next->all_prev = t->all_prev;
	l->ntasks--;
	t->next_free = NULL;
	if (l->free_tasks_tail)
		l->free_tasks_tail->next_free = t;
	else
		l->free_tasks = t;
	l->free_tasks_tail = t;
}

void urt__task_pool_drain(urt_loop *l)
{
	while (l->all)
		urt__task_free(l, l->all);
	urt_task *t = l->free_tasks;
	while (t) {
		urt_task *next = t->next_free;
		free(t);
		t = next;
	}
	l->free_tasks = l->free_tasks_tail = NULL;
}

/* ---- life of a task ---------------------------------------------------- */

static void task_fire(urt_loop *l, urt_timer *tm);

static _Noreturn void task_exit(urt_task *t)
{
	urt_loop *l = t->loop;
	t->state = URT_T_DONE;
	URT_PROBE1(task_exit, t->id);
	urt__waitq_wake_all(&t->done_waiters, 0);
	if (t->flags & URT_TF_MAIN) /* joined or detached, its record may be reused */
		l->main_result = t->result;
	if (t->flags & URT_TF_SYSTEM)
		l->system_alive--;
	else
		l->tasks_alive--;
	l->stats.alive--;
	l->dead = t; /* its stack is released once we are off it */
	ring_leave(l, t);
	urt_task *next = urt__next(l);
	if (next == t) /* a finished task is not queued */
		__builtin_unreachable();
	urt__switch_finished(l, t, next);
	__builtin_unreachable();
}

static void task_entry(void *p)
{
	urt_task *t = p;
	urt__switch_arrived(t->loop);
	t->result = t->fn(t->arg);
	task_exit(t);
}

int urt__spawn_on(urt_loop *l, urt_task **out, urt_task_fn fn, void *arg,
		  const urt_task_opts *o, unsigned flags)
{
	if (urt__timer_reserve(l, l->ntasks + 1) != 0)
		return -ENOMEM;
	urt_task *t = task_alloc(l);
	if (!t)
		return -ENOMEM;
	int r = urt__stack_get(l, o ? o->stack_size : 0, &t->stack);
	if (r < 0) {
		free(t);
		return r;
	}
	t->loop = l;
	t->fn = fn;
	t->arg = arg;
	t->flags = flags | (out ? 0 : URT_TF_DETACHED);
	t->id = task_id_new(l);
	t->deadline = URT_NO_DEADLINE;
	t->wake_at = URT_NO_DEADLINE;
	t->wait_fd = -1;
	t->timer.heap_idx = URT_TIMER_IDLE;
	t->timer.fire = task_fire;
	/* the record is zeroed: the name needs no terminator */
	if (o && o->name)
		memcpy(t->name, o->name, strnlen(o->name, URT_NAME_MAX - 1));
	else
		memcpy(t->name, "task", 4); /* constant: no strnlen call */
	t->ctx = urt__ctx_for_spawn(o ? o->ctx : NULL);
#ifdef URT_FPENV_SWITCH
	t->fpenv = &l->fpenv;
	if (o && (o->flags & URT_TASK_OWN_FPENV)) {
		urt__fpenv_save(&t->fpenv_own); /* the spawner's, as a thread inherits its creator's */
		t->fpenv = &t->fpenv_own;
	}
#endif
	void *lo;
	size_t usable;
	urt__stack_bounds(t->stack, &lo, &usable);
	urt__ctx_make(&t->regs, lo, usable, task_entry, t);
	urt__switch_task_created(t);
	t->all_next = l->all;
	if (l->all)
		l->all->all_prev = t;
	l->all = t;
	l->ntasks++;
	if (flags & URT_TF_SYSTEM)
		l->system_alive++;
	else
		l->tasks_alive++;
	l->stats.spawned++;
	l->stats.alive++;
	t->state = URT_T_READY;
	URT_PROBE3(task_spawn, t->id, t->name, t);
	urt__ready_push(l, t);
	if (out)
		*out = t;
	return 0;
}

int urt_spawn(urt_task **out, urt_task_fn fn, void *arg, const urt_task_opts *opts)
{
	urt_loop *l = urt__loop();
	if (!l)
		return -EPERM;
	if (!fn || (opts && (opts->flags & ~URT_TASK_OWN_FPENV)))
		return -EINVAL;
	return urt__spawn_on(l, out, fn, arg, opts, 0);
}

int urt__spawn_system(urt_loop *l, urt_task **out, urt_task_fn fn, void *arg, const char *name)
{
	urt_task_opts o = {.name = name};
	return urt__spawn_on(l, out, fn, arg, &o, URT_TF_SYSTEM);
}

/* ---- parking ----------------------------------------------------------- */

int urt__may_block_slow(urt_loop **lp, urt_task **tp)
{
	urt_loop *l = urt__loop();
	if (URT_UNLIKELY(!l || !l->current))
		return urt__loop_inherited() ? -ECHILD : -EPERM;
	urt_task *t = l->current;
	if (URT_UNLIKELY(t->flags & URT_TF_CANCELLED))
		return -ECANCELED;
	if (t->deadline != URT_NO_DEADLINE && urt__now(l) >= t->deadline)
		return -ETIME;
	*lp = l;
	*tp = t;
	return 0;
}

/* The park's timer: at its own wake-up time or the deadline, whichever
 * comes first; at once (the next tick) for a cancelled task's interruptible
 * park. urt_cancel interrupts a parked task itself, but one it found ready
 * (woken, not yet run) only got the flag, and a wait that loops (wake,
 * check, park again) would otherwise park past its cancel. */
static __attribute__((noinline)) void park_timer(urt_loop *l, urt_task *t, uint64_t wake_at)
{
	uint64_t at = wake_at < t->deadline ? wake_at : t->deadline;
	if ((t->flags & URT_TF_CANCELLED) && t->interrupt)
		at = 0;
	if (at != URT_NO_DEADLINE)
		urt__timer_arm(l, &t->timer, at);
}

int urt__park(urt_loop *l, urt_task *t, urt_interrupt_fn interrupt, void *wait_obj,
	      const char *what, uint64_t wake_at)
{
	t->state = URT_T_PARKED;
	t->interrupt = interrupt;
	t->wait_obj = wait_obj;
	t->wait_what = what;
	t->wake_at = wake_at;
	/* no timer unless a wake-up time or a deadline is set (both are
	 * all ones otherwise) or the task is cancelled: one branch on the
	 * common path */
	if (URT_UNLIKELY((wake_at & t->deadline) != URT_NO_DEADLINE || (t->flags & URT_TF_CANCELLED)))
		park_timer(l, t, wake_at);
	ring_leave(l, t);
	urt_task *next = urt__next(l);
	if (next == t) /* a parked task is not queued: tell the compiler */
		__builtin_unreachable();
	urt__switch(l, t, next);
	return t->wake_res;
}

void urt__wake(urt_task *t, int res)
{
	if (t->state != URT_T_PARKED)
		return;
	urt_loop *l = t->loop;
	t->state = URT_T_READY;
	t->wake_res = res;
	t->interrupt = NULL;
	t->wait_obj = NULL;
	t->wait_what = NULL;
	t->wait_fd = -1;
	urt__ready_push(l, t);
	urt__ctx_prefetch(&t->regs);
	/* no call unless armed; last, so it is a tail call and the common
	 * path saves no registers */
	if (URT_UNLIKELY(t->timer.heap_idx != URT_TIMER_IDLE))
		urt__timer_disarm(l, &t->timer);
}

/* Stop a park early: the interrupt function decides how the wait ends.
 * One that lets the wait go on (a drain that must not end early) keeps
 * its own wake-up time: the timer, disarmed here, is armed again for it. */
static void interrupt(urt_task *t, int err)
{
	urt_interrupt_fn fn = t->interrupt;
	if (!fn)
		return; /* already interrupted, or not interruptible */
	t->interrupt = NULL;
	urt__timer_disarm(t->loop, &t->timer);
	fn(t, err);
	if (t->state == URT_T_PARKED && t->wake_at != URT_NO_DEADLINE)
		urt__timer_arm(t->loop, &t->timer, t->wake_at);
}

/* The park's timer: its own wake-up time (sleep), the deadline, or a
 * cancel that found the task ready (see park_timer). */
static void task_fire(urt_loop *l, urt_timer *tm)
{
	urt_task *t = (urt_task *)((char *)tm - offsetof(urt_task, timer));
	if (t->wake_at <= urt__now(l))
		urt__wake(t, 0);
	else
		interrupt(t, (t->flags & URT_TF_CANCELLED) ? -ECANCELED : -ETIME);
}

/* ---- the public task calls --------------------------------------------- */

static int check_handle(urt_task *t)
{
	urt_loop *l = urt__loop();
	if (!t || !l || t->loop != l || t->state == URT_T_FREE)
		return -EINVAL;
	return 0;
}

int urt_join(urt_task *t, void **result)
{
	urt_loop *l = urt__loop();
	if (!t)
		return -EINVAL;
	if (!l || !l->current)
		return urt__loop_inherited() ? -ECHILD : -EPERM;
	if (t == l->current)
		return -EDEADLK;
	if (check_handle(t) != 0 || (t->flags & (URT_TF_DETACHED | URT_TF_JOINED)))
		return -EINVAL;
	if (t->state != URT_T_DONE) {
		urt_task *self;
		int r = urt__may_block(&l, &self);
		if (r < 0)
			return r;
		struct urt__waiter w = {0};
		t->flags |= URT_TF_JOINED; /* a second joiner is refused */
		r = urt__waitq_wait(l, self, &t->done_waiters, &w, "join");
		if (r < 0 && t->state != URT_T_DONE) {
			t->flags &= ~URT_TF_JOINED;
			return r;
		}
	}
	if (result)
		*result = t->result;
	int r = (t->flags & URT_TF_CANCELLED) ? -ECANCELED : 0;
	if (!l->dead || l->dead != t)
		urt__task_free(l, t);
	else
		t->flags |= URT_TF_DETACHED; /* freed with its stack */
	return r;
}

int urt_detach(urt_task *t)
{
	if (check_handle(t) != 0 || (t->flags & (URT_TF_DETACHED | URT_TF_JOINED)))
		return -EINVAL;
	if (t->state == URT_T_DONE && t->loop->dead != t)
		urt__task_free(t->loop, t);
	else
		t->flags |= URT_TF_DETACHED;
	return 0;
}

int urt_cancel(urt_task *t)
{
	if (check_handle(t) != 0)
		return -EINVAL;
	if (t->state == URT_T_DONE)
		return 0;
	t->flags |= URT_TF_CANCELLED;
	t->yield_res = -ECANCELED;
	if (t->state == URT_T_PARKED)
		interrupt(t, -ECANCELED);
	return 0;
}

/* urt_yield without a hand-over: alone with budget left (keep running),
 * or the budget is spent (back to the scheduler, which polls the ring):
 * t, still in the ready ring, becomes its last task. */
static __attribute__((noinline)) int yield_slow(urt_loop *l, urt_task *t)
{
	if (l->stats.switches < l->switch_limit) {
		l->switch_limit--; /* a yield alone spends budget too: the loop must poll */
		return t->yield_res;
	}
	l->ready_tail = t;
	l->nready++;
	return urt__switch(l, t, NULL);
}

int urt_yield(void)
{
	urt_loop *l = urt__loop();
	urt_task *t;
	if (URT_UNLIKELY(!l || !(t = l->current)))
		return urt__loop_inherited() ? -ECHILD : -EPERM;
	/* t is the ring's first: the next one runs, t becomes the last (the
	 * ring and the ready count stay as they are) */
	urt_task *next = t->next_ready;
	if (!next) /* the ring is circular: tell the compiler */
		__builtin_unreachable();
	if (URT_UNLIKELY(next == t || l->stats.switches >= l->switch_limit))
		return yield_slow(l, t);
	l->ready_tail = t;
	return urt__switch(l, t, next); /* a tail call: see switch.h */
}

__attribute__((hot)) urt_task *urt_self(void)
{
	urt_loop *l = urt__loop();
	return l ? l->current : NULL;
}

__attribute__((hot)) uint64_t urt_task_id(const urt_task *t) { return t ? t->id : 0; }
__attribute__((hot)) const char *urt_task_name(const urt_task *t) { return t ? t->name : NULL; }
