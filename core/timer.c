/* Timers: a binary min-heap of absolute times. Each parked task owns at
 * most one timer (its wake-up time or deadline, whichever is first), so
 * sleeping needs no SQE: the loop waits in io_uring_enter until the
 * earliest timer. */
#include "core_internal.h"

#include <stdlib.h>

static void heap_set(urt_loop *l, unsigned i, urt_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void sift_up(urt_loop *l, unsigned i)
{
	urt_timer *t = l->heap[i];
	while (i > 0) {
		unsigned parent = (i - 1) / 2;
		if (l->heap[parent]->when <= t->when)
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void sift_down(urt_loop *l, unsigned i)
{
	urt_timer *t = l->heap[i];
	for (;;) {
		unsigned c = 2 * i + 1;
		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[c]->when)
			c++;
		if (t->when <= l->heap[c]->when)
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

/* Grow the heap so arming never fails: called (through the inline
 * urt__timer_reserve, once n exceeds heap_cap) when a task is spawned, so
 * there is a slot for every task before any of them parks. */
int urt__timer_grow(urt_loop *l, unsigned n)
{
	unsigned cap = l->heap_cap ? l->heap_cap : 64;
	while (cap < n)
		cap *= 2;
	urt_timer **h = urt__fault(URT_FAULT_ALLOC) ? NULL : realloc(l->heap, cap * sizeof *h);
	if (!h)
		return -1;
	l->heap = h;
	l->heap_cap = cap;
	return 0;
}

void urt__timer_arm(urt_loop *l, urt_timer *t, uint64_t when)
{
	if (t->heap_idx != URT_TIMER_IDLE)
		urt__timer_disarm(l, t);
	t->when = when;
	l->heap[l->nheap] = t;
	t->heap_idx = l->nheap++;
	sift_up(l, t->heap_idx);
}

void urt__timer_disarm(urt_loop *l, urt_timer *t)
{
	unsigned i = t->heap_idx;
	if (i == URT_TIMER_IDLE)
		return;
	t->heap_idx = URT_TIMER_IDLE;
	urt_timer *last = l->heap[--l->nheap];
	if (i == l->nheap)
		return;
	heap_set(l, i, last);
	if (i > 0 && l->heap[(i - 1) / 2]->when > last->when)
		sift_up(l, i);
	else
		sift_down(l, i);
}

uint64_t urt__timer_next(urt_loop *l, uint64_t now)
{
	if (!l->nheap)
		return URT_NO_DEADLINE;
	uint64_t when = l->heap[0]->when;
	return when <= now ? 0 : when - now;
}

void urt__timers_fire(urt_loop *l, uint64_t now)
{
	while (l->nheap && l->heap[0]->when <= now) {
		urt_timer *t = l->heap[0];
		urt__timer_disarm(l, t);
		t->fire(l, t);
	}
}
