/* The floating-point control state a task can own: the rounding mode and
 * exception masks (x86_64: MXCSR and the x87 control word; aarch64:
 * FPCR). The register switch does not carry it: saving and reloading MXCSR
 * on every switch cost ~3 ns of a ~10 ns yield here (it serializes), so
 * the tasks of a loop share the thread's state and only tasks spawned with
 * URT_TASK_OWN_FPENV pay for their own (core/switch.h swaps it when a
 * switch crosses from one owner to another).
 * The ucontext fallback needs none of this: swapcontext saves and restores
 * the floating-point environment of every context. */
#ifndef URT_FPENV_H
#define URT_FPENV_H

#include <stdint.h>

#if !defined(URT_CTX_UCONTEXT) && (defined(__x86_64__) || defined(__aarch64__))
#define URT_FPENV_SWITCH 1

#if defined(__x86_64__)
typedef struct urt_fpenv { uint32_t mxcsr; uint16_t x87cw; } urt_fpenv;
#else
typedef struct urt_fpenv { uint64_t fpcr; } urt_fpenv;
#endif

/* Store the calling thread's current state in *e. */
static inline void urt__fpenv_save(urt_fpenv *e)
{
#if defined(__x86_64__)
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(e->mxcsr), "=m"(e->x87cw));
#else
	__asm__ volatile("mrs %0, fpcr" : "=r"(e->fpcr));
#endif
}

/* Make *e the calling thread's current state. */
static inline void urt__fpenv_load(const urt_fpenv *e)
{
#if defined(__x86_64__)
	__asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(e->mxcsr), "m"(e->x87cw));
#else
	__asm__ volatile("msr fpcr, %0" : : "r"(e->fpcr));
#endif
}
#endif

#endif
