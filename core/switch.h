/* The context switch between tasks and the scheduler, inline so a yield or
 * a park costs one call (the register switch) and no more; with the
 * annotations ASan (fake stacks) and TSan (fibers) need to follow it. */
#ifndef URT_CORE_SWITCH_H
#define URT_CORE_SWITCH_H

#include "core_internal.h"
#include "probes.h"

#if defined(__SANITIZE_ADDRESS__)
#define URT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define URT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define URT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define URT_TSAN 1
#endif
#endif

#ifdef URT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef URT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* A new task's sanitizer state (a TSan fiber); nothing otherwise. */
static inline void urt__switch_task_created(urt_task *t)
{
#ifdef URT_TSAN
	t->tsan_fiber = __tsan_create_fiber(0);
#else
	(void)t;
#endif
}

/* Release the stack of a task that finished (the context that runs after
 * it does this: a stack cannot free itself). */
void urt__reap_dead(urt_loop *l);
/* The same, for urt__ctx_switch: dead is &l->dead. */
void urt__reap_dead_slot(void *dead);

/* With sanitizers the annotations must run around the register switch
 * (and the reap after them): the plain jump, and the rest in C. */
#if defined(URT_CTX_SWITCH) && !defined(URT_ASAN) && !defined(URT_TSAN)
#define URT_SWITCH_TAIL 1
#endif

/* Run `to` (NULL: the scheduler) instead of `from` (NULL: the scheduler).
 * Returns, once `from` runs again, what urt_yield must return to it:
 * from->yield_res as it is then (0 for the scheduler). With
 * URT_SWITCH_TAIL the register switch computes it, so `return
 * urt__switch(...)` is a tail call. finished: `from` has ended and set
 * l->dead; only then does the resumed side have a stack to release (the
 * code after a register switch is the switcher's: every other switch
 * skips that check). */
static inline __attribute__((always_inline)) int urt__switch_any(urt_loop *l, urt_task *from,
								      urt_task *to, bool finished)
{
	if (from == to)
		return from ? from->yield_res : 0;
#ifdef URT_FPENV_SWITCH
	/* tasks sharing the thread's FP state (the default) switch none */
	urt_fpenv *from_fp = from ? from->fpenv : &l->fpenv, *to_fp = to ? to->fpenv : &l->fpenv;
	if (URT_UNLIKELY(from_fp != to_fp)) {
		urt__fpenv_save(from_fp);
		urt__fpenv_load(to_fp);
	}
#endif
	/* relaxed atomic stores (plain moves): the stall watchdog reads both */
	__atomic_store_n(&l->stats.switches, l->stats.switches + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&l->current, to, __ATOMIC_RELAXED);
	URT_PROBE2(task_switch, from, to); /* pointers: no loads on the hot path */
	urt__ctx_activate(to ? &to->ctx : NULL);
#ifdef URT_SWITCH_TAIL
	static const int none = 0; /* the scheduler's result */
	urt_ctxsw *from_regs = from ? &from->regs : &l->main_ctx, *to_regs = to ? &to->regs : &l->main_ctx;
	const int *res = to ? &to->yield_res : &none;
	if (finished)
		return urt__ctx_switch_reap(from_regs, to_regs, &l->dead, res, urt__reap_dead_slot);
	return urt__ctx_switch(from_regs, to_regs, res);
#else
	(void)finished; /* the resumed side checks l->dead below */
#ifdef URT_ASAN
	void **save = from ? &from->san_fake_stack : &l->main_fake_stack;
	if (from && from->state == URT_T_DONE)
		save = NULL; /* its fake stack dies with it */
	const void *bottom = l->main_stack_bottom;
	size_t size = l->main_stack_size;
	if (to) {
		bottom = (char *)to->stack->base + urt__page_size();
		size = to->stack->size - urt__page_size();
	}
	__sanitizer_start_switch_fiber(save, bottom, size);
#endif
#ifdef URT_TSAN
	__tsan_switch_to_fiber(to ? to->tsan_fiber : l->main_tsan_fiber, 0);
#endif
	urt__ctx_jump(from ? &from->regs : &l->main_ctx, to ? &to->regs : &l->main_ctx);
	/* resumed: we are `from` again */
#ifdef URT_ASAN
	__sanitizer_finish_switch_fiber(from ? from->san_fake_stack : l->main_fake_stack, NULL, NULL);
#endif
	if (URT_UNLIKELY(l->dead != NULL))
		urt__reap_dead(l);
	return from ? from->yield_res : 0;
#endif
}

/* A switch away from a task (or the scheduler) that goes on later. */
static inline __attribute__((always_inline)) int urt__switch(urt_loop *l, urt_task *from,
								  urt_task *to)
{
	return urt__switch_any(l, from, to, false);
}

/* The last switch of a finished task (l->dead is set). */
static inline __attribute__((always_inline)) void urt__switch_finished(urt_loop *l,
									urt_task *from,
									urt_task *to)
{
	urt__switch_any(l, from, to, true);
}

#endif
