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

#endif
