/* urt__ctx_make for the hand-written switches: lay out a first frame that
 * urt__ctx_jump "restores" into urt__ctx_start(entry, arg). */
#ifndef URT_CTX_UCONTEXT
#include "ctxsw.h"

#include <stdint.h>
#include <string.h>

void urt__ctx_start(void);

#if defined(__x86_64__)
/* Frame as urt__ctx_jump leaves it: r15, r14, r13, r12, rbx, rbp, return
 * address. After the pops and the ret rsp is 16-byte aligned, as the call
 * in urt__ctx_start requires. */
void urt__ctx_make(urt_ctxsw *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
	uint64_t *sp = (uint64_t *)top - 7;
	memset(sp, 0, 7 * sizeof *sp);
	sp[2] = (uint64_t)(uintptr_t)entry;    /* r13 */
	sp[3] = (uint64_t)(uintptr_t)arg;      /* r12 */
	sp[6] = (uint64_t)(uintptr_t)urt__ctx_start;
	c->sp = sp;
}
#elif defined(__aarch64__)
/* Frame as urt__ctx_jump leaves it: x19..x30, d8..d15 (160 bytes). */
void urt__ctx_make(urt_ctxsw *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
	uint64_t *sp = (uint64_t *)(top - 160);
	memset(sp, 0, 160);
	sp[0] = (uint64_t)(uintptr_t)arg;             /* x19 */
	sp[1] = (uint64_t)(uintptr_t)entry;           /* x20 */
	sp[11] = (uint64_t)(uintptr_t)urt__ctx_start; /* x30 */
	c->sp = sp;
}
#else
#error "no hand-written context switch for this architecture: build with URT_CONTEXT=ucontext"
#endif
#endif
