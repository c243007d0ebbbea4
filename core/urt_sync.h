/* urt sync primitives for tasks of one loop: event, mutex, semaphore,
 * bounded channel, and waiting for a set of tasks.
 *
 * All objects are caller storage: zero-initialise them (or use the
 * *_INIT macro / *_init function). Waits are blocking calls: they return
 * -EPERM outside a task, -ECANCELED when cancelled and -ETIME at the
 * deadline, and in those cases nothing was acquired or transferred.
 * Objects belong to one loop; using one from two loops is undefined. */
#ifndef URT_SYNC_H
#define URT_SYNC_H

#include "urt_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* private: a FIFO of parked tasks; all-zero is an empty queue */
typedef struct urt_waitq {
	struct urt__waiter *head, *tail;
} urt_waitq;

/* ---- event: a flag tasks can wait for ---------------------------------- */
typedef struct urt_event {
	urt_waitq waiters;
	int is_set;
} urt_event;
#define URT_EVENT_INIT {{0, 0}, 0}

/* Reset e to cleared with no waiters (same as URT_EVENT_INIT). NULL: no-op. */
URT_API void urt_event_init(urt_event *e);
/* Set the flag and wake every waiter. Returns 0, -EINVAL for NULL. */
URT_API int urt_event_set(urt_event *e);
/* Clear the flag. Returns 0, -EINVAL for NULL. */
URT_API int urt_event_clear(urt_event *e);
/* 1 if set, 0 if not, -EINVAL for NULL. */
URT_API int urt_event_is_set(const urt_event *e);
/* Wait until the flag is set. Returns 0, -EINVAL, or a blocking-call error. */
URT_API int urt_event_wait(urt_event *e);

/* ---- mutex: owned by one task at a time, FIFO hand-off ----------------- */
typedef struct urt_mutex {
	urt_waitq waiters;
	urt_task *owner;
} urt_mutex;
#define URT_MUTEX_INIT {{0, 0}, 0}

/* Reset m to unlocked (same as URT_MUTEX_INIT). NULL: no-op. */
URT_API void urt_mutex_init(urt_mutex *m);
/* Lock. Returns 0; -EDEADLK if the caller owns it; -EINVAL; blocking-call errors. */
URT_API int urt_mutex_lock(urt_mutex *m);
/* Lock if free. Returns 0, -EBUSY if held, -EINVAL, -EPERM outside a task. */
URT_API int urt_mutex_trylock(urt_mutex *m);
/* Unlock; the longest waiter becomes owner. Returns 0; -EPERM if the caller
 * is not the owner; -EINVAL. */
URT_API int urt_mutex_unlock(urt_mutex *m);

/* ---- semaphore --------------------------------------------------------- */
typedef struct urt_sem {
	urt_waitq waiters;
	uint64_t count;
} urt_sem;
#define URT_SEM_INIT(n) {{0, 0}, (n)}

/* Reset s to count units (same as URT_SEM_INIT(count)). NULL: no-op. */
URT_API void urt_sem_init(urt_sem *s, uint64_t count);
/* Take one unit, waiting while none is left. Returns 0, -EINVAL, blocking-call errors. */
URT_API int urt_sem_acquire(urt_sem *s);
/* Take one unit if available. Returns 0, -EAGAIN, -EINVAL. */
URT_API int urt_sem_tryacquire(urt_sem *s);
/* Return one unit (to the longest waiter first). Returns 0, -EINVAL,
 * -EOVERFLOW if the count would wrap. */
URT_API int urt_sem_release(urt_sem *s);

/* ---- channel: bounded FIFO of fixed-size items, closable ---------------- */
typedef struct urt_chan {
	urt_waitq senders, receivers;
	unsigned char *buf;
	size_t elem_size, capacity, head, count;
	int closed;
} urt_chan;

/* Allocate room for capacity items of elem_size bytes.
 * Returns 0; -EINVAL (NULL, zero size or capacity, overflow); -ENOMEM. */
URT_API int urt_chan_init(urt_chan *c, size_t elem_size, size_t capacity);
/* Free the buffer. Returns 0; -EBUSY while tasks wait on it; -EINVAL. */
URT_API int urt_chan_destroy(urt_chan *c);
/* Copy *item in, waiting while full. Returns 0; -EPIPE if closed;
 * -EINVAL; blocking-call errors (item not sent). */
URT_API int urt_chan_send(urt_chan *c, const void *item);
/* Copy the oldest item to *item, waiting while empty. Returns 0; -EPIPE
 * once closed and drained; -EINVAL; blocking-call errors (nothing taken). */
URT_API int urt_chan_recv(urt_chan *c, void *item);
/* Non-blocking variants: -EAGAIN instead of waiting. Usable outside tasks. */
URT_API int urt_chan_try_send(urt_chan *c, const void *item);
URT_API int urt_chan_try_recv(urt_chan *c, void *item);
/* Close: later sends fail with -EPIPE, receivers drain what is left, all
 * waiters wake. Idempotent. Returns 0, -EINVAL. */
URT_API int urt_chan_close(urt_chan *c);
/* Items queued now, or -EINVAL. */
URT_API long urt_chan_len(const urt_chan *c);

/* ---- waiting for tasks ------------------------------------------------- */

/* Wait until every task in tasks[0..n) has finished (they are not joined;
 * another task may join or detach them meanwhile). Returns 0; -EINVAL
 * (NULL, n == 0, a NULL entry, another loop's or a detached task);
 * -EDEADLK (the caller is in the set); blocking-call errors. */
URT_API int urt_wait_all(urt_task *const *tasks, size_t n);
/* Wait until at least one has finished; returns its index (>= 0), or the
 * errors of urt_wait_all. */
URT_API int urt_wait_any(urt_task *const *tasks, size_t n);

#ifdef __cplusplus
}
#endif
#endif
