/* Portable context switch on ucontext (slower: swapcontext saves the signal
 * mask with a system call). Selected with -DURT_CONTEXT=ucontext. */
#include "ctxsw.h"

#include <stdint.h>
#include <stdlib.h>

/* makecontext passes int arguments only: split the pointers. */
static void trampoline(unsigned eh, unsigned el, unsigned ah, unsigned al)
{
	void (*entry)(void *) = (void (*)(void *))(((uintptr_t)eh << 32) | el);
	void *arg = (void *)(((uintptr_t)ah << 32) | al);
	entry(arg);
	abort(); /* entry never returns */
}

void urt__ctx_make(urt_ctxsw *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
	uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;
	getcontext(&c->uc);
	c->uc.uc_stack.ss_sp = lo;
	c->uc.uc_stack.ss_size = size;
	c->uc.uc_link = NULL;
	makecontext(&c->uc, (void (*)(void))trampoline, 4, (unsigned)(e >> 32), (unsigned)e,
		    (unsigned)(a >> 32), (unsigned)a);
}

void urt__ctx_jump(urt_ctxsw *from, urt_ctxsw *to)
{
	swapcontext(&from->uc, &to->uc);
}
