/* Futures: a result handed from a producer (a worker, a loop) to one
 * waiting thread. The waiter sleeps on a futex on the state word; the
 * producer issues FUTEX_WAKE only when a sleeper announced itself, so an
 * uncontended completion costs no system call.
 *
 * Lifetime: two references, the caller's handle (urt_future_release) and
 * the producer's (dropped by urt__future_complete); a cancel message in
 * flight holds a third. The record is freed when the last one goes. */
#include "offload_internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void futex_wake_all(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Sleep while *addr == val, at most ns (relative). */
static void futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / URT_NS_PER_SEC), .tv_nsec = (long)(ns % URT_NS_PER_SEC)};
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, ns == UINT64_MAX ? NULL : &ts, NULL, 0);
}

void urt__future_init(urt_future *f)
{
	atomic_init(&f->state, URT_FUT_PENDING);
	atomic_init(&f->refs, 2);
	atomic_init(&f->claim, 0);
	atomic_init(&f->cancel_req, URT_FUT_OPEN);
}

void urt__future_unref(urt_future *f)
{
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
		f->destroy(f);
}

bool urt__future_done(const urt_future *f)
{
	return atomic_load_explicit(&((urt_future *)f)->state, memory_order_acquire) == URT_FUT_DONE;
}

void urt__future_complete(urt_future *f, void *result, int err)
{
	int open = URT_FUT_OPEN;
	if (!atomic_compare_exchange_strong(&f->cancel_req, &open, URT_FUT_DECIDED))
		err = -ECANCELED; /* the cancel was accepted first */
	f->result = result;
	f->err = err;
	if (atomic_exchange_explicit(&f->state, URT_FUT_DONE, memory_order_acq_rel) == URT_FUT_SLEEPER)
		futex_wake_all(&f->state);
	urt__future_unref(f); /* after the wake: the word is still ours */
}

int urt_future_wait(urt_future *f, uint64_t timeout_ns, void **result)
{
	if (!f)
		return -EINVAL;
	int idle = 0;
	if (!atomic_compare_exchange_strong(&f->claim, &idle, 1))
		return -EINVAL; /* taken already, or another thread waits */
	uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
	if (s != URT_FUT_DONE && f->loop && f->loop == urt_loop_current()) {
		atomic_store(&f->claim, 0);
		return -EDEADLK; /* this thread is the one that must run it */
	}
	uint64_t end = urt__add_sat(urt__mono_ns(), timeout_ns);
	while (s != URT_FUT_DONE) {
		uint64_t now = urt__mono_ns();
		if (now >= end) {
			atomic_store(&f->claim, 0);
			return -ETIMEDOUT;
		}
		if (s == URT_FUT_PENDING &&
		    !atomic_compare_exchange_strong(&f->state, &s, URT_FUT_SLEEPER))
			continue; /* s reloaded: done meanwhile */
		futex_wait(&f->state, URT_FUT_SLEEPER, end == UINT64_MAX ? UINT64_MAX : end - now);
		s = atomic_load_explicit(&f->state, memory_order_acquire);
	}
	if (result)
		*result = f->result;
	atomic_store(&f->claim, 2);
	return f->err;
}

int urt_future_done(const urt_future *f)
{
	if (!f)
		return -EINVAL;
	return urt__future_done(f) ? 1 : 0;
}

int urt_future_cancel(urt_future *f)
{
	if (!f)
		return -EINVAL;
	if (urt__future_done(f))
		return -EALREADY;
	int open = URT_FUT_OPEN;
	if (!atomic_compare_exchange_strong(&f->cancel_req, &open, URT_FUT_CANCEL))
		/* cancelled before (0 again), or the producer completed
		 * first: its outcome stands */
		return open == URT_FUT_CANCEL ? 0 : -EALREADY;
	if (f->cancel)
		f->cancel(f);
	return 0;
}

void urt_future_release(urt_future *f)
{
	if (f)
		urt__future_unref(f);
}
