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

/* Prepare c so that the first jump to it calls entry(arg) on the stack
 * [lo, lo+size). entry must never return. */
void urt__ctx_make(urt_ctxsw *c, void *lo, size_t size, void (*entry)(void *), void *arg);
/* Save the current registers into from and resume to. */
void urt__ctx_jump(urt_ctxsw *from, urt_ctxsw *to);

#if defined(__x86_64__) && !defined(URT_CTX_UCONTEXT)
/* urt__ctx_jump that also finishes the resumed side's bookkeeping, in the
 * switch itself so a caller may tail-call it: once to runs again, if the
 * pointer-sized slot *dead is not NULL it calls reap(dead), then returns
 * *res (both read on the resumed side, after the switch). It is the
 * code of the resumer that does this, so a program uses one of the two
 * for all its switches: urt__ctx_jump is this switch with nothing to
 * reap (urt uses it only in sanitizer builds, which reap in C). */
#define URT_CTX_SWITCH 1
int urt__ctx_switch(urt_ctxsw *from, urt_ctxsw *to, void *dead, const int *res,
		    void (*reap)(void *dead));
#endif

#endif
