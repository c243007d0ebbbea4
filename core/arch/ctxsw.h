/* The context switch: arch/x86_64.S, arch/aarch64.S, or arch/ucontext.c
 * (portable fallback), chosen by CMake (URT_CONTEXT=asm|ucontext). */
#ifndef URT_CTXSW_H
#define URT_CTXSW_H

#include <stddef.h>
#ifdef URT_CTX_UCONTEXT
#include <ucontext.h>
typedef struct urt_ctxsw { ucontext_t uc; } urt_ctxsw;
#else
typedef struct urt_ctxsw { void *sp; } urt_ctxsw; /* saved stack pointer */
#endif

/* Start loading what a parked context saved, and the frames just above it
 * that it returns through, while the scheduler does other work: a woken
 * connection task's stack is usually cold (many tasks, one cache). */
static inline void urt__ctx_prefetch(const urt_ctxsw *c)
{
#ifdef URT_CTX_UCONTEXT
	(void)c;
#else
	const char *sp = c->sp;
	__builtin_prefetch(sp);
	__builtin_prefetch(sp + 64);
	__builtin_prefetch(sp + 128);
	__builtin_prefetch(sp + 192);
#endif
}

/* Prepare c so that the first jump to it calls entry(arg) on the stack
 * [lo, lo+size). entry must never return. */
void urt__ctx_make(urt_ctxsw *c, void *lo, size_t size, void (*entry)(void *), void *arg);
/* Save the current registers into from and resume to. */
void urt__ctx_jump(urt_ctxsw *from, urt_ctxsw *to);

#if defined(__x86_64__) && !defined(URT_CTX_UCONTEXT)
/* urt__ctx_jump that also returns, once to runs again, *res (read on the
 * resumed side, after the switch): a caller may then tail-call it. */
#define URT_CTX_SWITCH 1
int urt__ctx_switch(urt_ctxsw *from, urt_ctxsw *to, const int *res);
/* urt__ctx_switch for a context that ends: on the resumed side, if the
 * pointer-sized slot *dead is not NULL, it first calls reap(dead) (a
 * finished task's stack cannot be released while it runs on it). The
 * code after a register switch is the switcher's, so only the switch away
 * from a finished task needs this check. */
int urt__ctx_switch_reap(urt_ctxsw *from, urt_ctxsw *to, void *dead, const int *res,
			 void (*reap)(void *dead));
#endif

#endif
