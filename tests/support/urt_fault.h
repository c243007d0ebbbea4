/* Test-side view of core/fault.c (URT_FAULT_INJECTION builds only): make
 * the N-th call at a seam fail, and see whether a scenario reached it. */
#ifndef URT_TEST_FAULT_H
#define URT_TEST_FAULT_H

#include "fault.h" /* enum urt_fault_site */

#ifdef URT_FAULT_INJECTION
/* Make the nth next call (1 = the next one) at site fail with err
 * (negative errno; for URT_FAULT_SHORT any negative value: the transfer is
 * halved); nth < 0: every call from the |nth|-th on fails; nth = 0
 * disarms. Returns 0 or -EINVAL. */
int urt_fault_set(int site, long nth, int err);
/* Calls left at site before the armed failure: > 0 means the scenario
 * ended before reaching it, 0 that it failed at least once. -EINVAL for a
 * bad site. */
long urt_fault_left(int site);
#endif

#endif
