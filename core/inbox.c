/* The loop's inbox: messages posted from other threads (offload
 * completions, cross-thread submissions). A lock-free LIFO that the loop
 * takes whole and reverses; the poster writes the loop's eventfd only when
 * the loop may be asleep in io_uring_enter (Dekker-style: each side
 * publishes, then looks at the other's flag, both sequentially
 * consistent), so a busy loop costs posters no system call. */
#include "core_internal.h"

#include <errno.h>

static int post(urt_loop *l, struct urt_remote *m, int refused_from)
{
	if (!l || !m || !m->run)
		return -EINVAL;
	if (urt__loop_foreign(l))
		return -ECHILD; /* a forked child: the loop lives in the parent */
	atomic_fetch_add(&l->posters, 1);
	if (atomic_load(&l->state) >= refused_from) {
		atomic_fetch_sub(&l->posters, 1);
		return -ESHUTDOWN;
	}
	struct urt_remote *head = atomic_load_explicit(&l->inbox, memory_order_relaxed);
	do
		m->next = head;
	while (!atomic_compare_exchange_weak(&l->inbox, &head, m));
	if (atomic_load(&l->sleeping) && !atomic_exchange(&l->wake_pending, 1))
		urt__backend_wake(l);
	atomic_fetch_sub(&l->posters, 1);
	return 0;
}

int urt__loop_post(urt_loop *l, struct urt_remote *m)
{
	return post(l, m, URT_LOOP_CLOSING);
}

int urt__loop_post_counted(urt_loop *l, struct urt_remote *m)
{
	return post(l, m, URT_LOOP_CLOSED);
}

void urt__inbox_drain(urt_loop *l)
{
	if (!urt__inbox_waiting(l))
		return;
	struct urt_remote *m = atomic_exchange(&l->inbox, NULL), *fifo = NULL;
	while (m) { /* reverse into posting order */
		struct urt_remote *next = m->next;
		m->next = fifo;
		fifo = m;
		m = next;
	}
	while (fifo) {
		struct urt_remote *next = fifo->next;
		l->stats.remote++;
		fifo->run(l, fifo);
		fifo = next;
	}
}

bool urt__inbox_sleep(urt_loop *l)
{
	atomic_store(&l->sleeping, 1);
	if (atomic_load(&l->inbox)) {
		atomic_store(&l->sleeping, 0);
		return false;
	}
	return true;
}

void urt__inbox_awake(urt_loop *l)
{
	atomic_store_explicit(&l->sleeping, 0, memory_order_relaxed);
}

void urt__inbox_set_state(urt_loop *l, int state)
{
	atomic_store(&l->state, state);
	while (atomic_load(&l->posters)) /* a poster is between its check and its wake-up */
		;
}

bool urt__loop_closing(const urt_loop *l)
{
	return atomic_load(&l->state) != URT_LOOP_OPEN;
}
