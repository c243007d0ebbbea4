/* Fault injection (URT_FAULT_INJECTION builds only): fail the N-th call at
 * a site with a chosen -errno. Tests drive it through urt_fault_set(). */
#ifdef URT_FAULT_INJECTION
#include "core_internal.h"

#include <stdatomic.h>

static struct {
	_Atomic long countdown; /* calls left before the failure; <= 0 = off */
	_Atomic int err;
	_Atomic int sticky;     /* every call from the nth on fails */
	_Atomic long hits;      /* failures returned since urt_fault_set */
} sites[URT_FAULT_NSITES];

/* Make the nth next call (1 = the next one) at site fail with err
 * (negative errno); nth < 0: every call from the |nth|-th on fails (a
 * broken resource); nth = 0 disarms. Returns 0 or -EINVAL. */
URT_API int urt_fault_set(int site, long nth, int err);
int urt_fault_set(int site, long nth, int err)
{
	if (site < 0 || site >= URT_FAULT_NSITES || err >= 0)
		return -22;
	atomic_store(&sites[site].err, err);
	atomic_store(&sites[site].sticky, nth < 0);
	atomic_store(&sites[site].hits, 0);
	atomic_store(&sites[site].countdown, nth < 0 ? -nth : nth);
	return 0;
}

/* Calls left at site before the armed failure (<= 0: it fired or was
 * never armed). Tests use it to stop looping N once a scenario no longer
 * reaches the N-th call. Returns the count, or -EINVAL. */
URT_API long urt_fault_left(int site);
long urt_fault_left(int site)
{
	if (site < 0 || site >= URT_FAULT_NSITES)
		return -22;
	return atomic_load(&sites[site].hits) ? 0 : atomic_load(&sites[site].countdown);
}

int urt__fault(enum urt_fault_site site)
{
	if (atomic_load_explicit(&sites[site].countdown, memory_order_relaxed) <= 0)
		return 0;
	if (atomic_load(&sites[site].sticky)) {
		if (atomic_load(&sites[site].countdown) > 1) {
			atomic_fetch_sub(&sites[site].countdown, 1);
			return 0;
		}
	} else if (atomic_fetch_sub(&sites[site].countdown, 1) != 1) {
		return 0;
	}
	atomic_fetch_add(&sites[site].hits, 1);
	return atomic_load(&sites[site].err);
}
#else
typedef int urt_fault_injection_disabled; /* keeps the unit non-empty */
#endif
