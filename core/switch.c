/* Set-up for switching: the sanitizers' view of the scheduler's stack and
 * of each task's fiber, and the release of finished tasks' stacks. */
#include "switch.h"

#include <pthread.h>
#include <stddef.h>

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
#endif
#ifdef URT_FPENV_SWITCH
	urt__fpenv_save(&l->fpenv); /* rewritten whenever a task that owns one leaves */
#endif
	(void)l;
}

void urt__reap_dead(urt_loop *l)
{
	urt_task *d = l->dead;
	l->dead = NULL;
#ifdef URT_TSAN
	__tsan_destroy_fiber(d->tsan_fiber);
	d->tsan_fiber = NULL;
#endif
	if (URT_UNLIKELY(d->stack->pins))
		d->stack->orphaned = true; /* a job still uses it: its unpin pools it */
	else
		urt__stack_put(l, d->stack);
	d->stack = NULL;
	if (d->flags & URT_TF_DETACHED)
		urt__task_free(l, d);
}

void urt__reap_dead_slot(void *dead)
{
	urt__reap_dead((urt_loop *)((char *)dead - offsetof(urt_loop, dead)));
}

/* Called first thing on a new task's stack. */
void urt__switch_arrived(urt_loop *l)
{
#ifdef URT_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	if (l->dead)
		urt__reap_dead(l);
}
