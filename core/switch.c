/* Switching between tasks and the scheduler, with the annotations that
 * ASan (fake stacks), TSan (fibers) need to follow a stack switch. */
#include "core_internal.h"
#include "probes.h"

#include <pthread.h>

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

void urt__switch_init(urt_loop *l)
{
#ifdef URT_ASAN
	/* ASan needs the bounds of the stack we return to in the scheduler */
	pthread_attr_t a;
	void *lo = NULL;
	size_t size = 0;
	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		pthread_attr_getstack(&a, &lo, &size);
		pthread_attr_destroy(&a);
	}
	l->main_stack_bottom = lo;
	l->main_stack_size = size;
#endif
#ifdef URT_TSAN
	l->main_tsan_fiber = __tsan_get_current_fiber();
#else
	(void)l;
#endif
}

void urt__switch_task_created(urt_task *t)
{
#ifdef URT_TSAN
	t->tsan_fiber = __tsan_create_fiber(0);
#else
	(void)t;
#endif
}

/* Release the stack of a task that finished: it can only be done from
 * another stack, so the context that runs next does it. */
static void reap_dead(urt_loop *l)
{
	urt_task *d = l->dead;
	if (URT_LIKELY(d == NULL))
		return;
	l->dead = NULL;
#ifdef URT_TSAN
	__tsan_destroy_fiber(d->tsan_fiber);
	d->tsan_fiber = NULL;
#endif
	urt__stack_put(l, d->stack);
	d->stack = NULL;
	if (d->flags & URT_TF_DETACHED)
		urt__task_free(l, d);
}

/* Called first thing on a new task's stack. */
void urt__switch_arrived(urt_loop *l)
{
#ifdef URT_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	reap_dead(l);
}

void urt__switch(urt_loop *l, urt_task *from, urt_task *to)
{
	if (from == to)
		return;
	/* relaxed atomic stores (plain moves): the stall watchdog reads both */
	__atomic_store_n(&l->current, to, __ATOMIC_RELAXED);
	__atomic_store_n(&l->stats.switches, l->stats.switches + 1, __ATOMIC_RELAXED);
	URT_PROBE2(task_switch, from, to); /* pointers: no loads on the hot path */
	urt__ctx_activate(to ? &to->ctx : NULL);
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
	reap_dead(l);
}
