/* x86_64 SysV context switch.
 * Saves the callee-saved registers on the current stack, stores rsp in
 * *from, loads to's rsp and restores them. The floating-point control
 * state (MXCSR, x87 control word) is not part of it: tasks share the
 * thread's unless they own one, and core/switch.h swaps it then
 * (arch/fpenv.h says why).
 * It ends in ret, not pop+jmp: a context resumed at the call site it was
 * suspended from (tasks yielding to each other in the same loop all
 * return to the same call of urt_yield) is then predicted by the
 * return-stack predictor, and the
 * predictor's stack stays balanced. pop+jmp leaves the call's entry on it,
 * and every later ret of the task mispredicts (measured on yield
 * ping-pong: ~32 ns per switch with pop+jmp, ~10 ns with ret).
 *
 * urt__ctx_switch also loads, on the resumed side, the resumed context's
 * result (*res): the code after the switch is the switcher's, so this is
 * one protocol for every context, and urt_yield can tail-call the switch:
 * the resumed task returns from it straight to urt_yield's caller (one
 * call and ret per yield, not two). urt__ctx_switch_reap, for the last
 * switch of a finished task, first releases that task's stack there (*dead
 * set: a context cannot free the stack it runs on); no other switch pays
 * for that check. */

/* Save the callee-saved registers and rsp in *from (rdi), resume *to (rsi). */
.macro SWITCH_STACKS
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
.endm

	.text
	.p2align 4
	.globl	urt__ctx_switch
	.hidden	urt__ctx_switch
	.type	urt__ctx_switch,@function
urt__ctx_switch:	/* rdi = from, rsi = to, rdx = const int *res */
	.cfi_startproc
	SWITCH_STACKS
	movl	(%rdx), %eax
	ret
	.cfi_endproc
	.size	urt__ctx_switch,.-urt__ctx_switch

	.p2align 4
	.globl	urt__ctx_switch_reap
	.hidden	urt__ctx_switch_reap
	.type	urt__ctx_switch_reap,@function
urt__ctx_switch_reap:	/* rdi = from, rsi = to, rdx = void *dead (a pointer-sized
			 * slot), rcx = const int *res, r8 = void (*reap)(void *dead) */
	.cfi_startproc
	SWITCH_STACKS
	cmpq	$0, (%rdx)
	jne	2f
	movl	(%rcx), %eax
	ret
2:	/* rsp is 8 mod 16 here (a return address on top): one push aligns
	 * it for the call */
	pushq	%rcx
	movq	%rdx, %rdi
	callq	*%r8
	popq	%rcx
	movl	(%rcx), %eax
	ret
	.cfi_endproc
	.size	urt__ctx_switch_reap,.-urt__ctx_switch_reap

/* The plain switch: no result. */
	.p2align 4
	.globl	urt__ctx_jump
	.hidden	urt__ctx_jump
	.type	urt__ctx_jump,@function
urt__ctx_jump:		/* rdi = urt_ctxsw *from, rsi = urt_ctxsw *to */
	.cfi_startproc
	leaq	nothing(%rip), %rdx
	jmp	urt__ctx_switch
	.cfi_endproc
	.size	urt__ctx_jump,.-urt__ctx_jump

/* First code a new task runs: r12 = arg, r13 = entry. The CFI marks the
 * end of the call chain, so gdb and perf stop unwinding here. */
	.p2align 4
	.globl	urt__ctx_start
	.hidden	urt__ctx_start
	.type	urt__ctx_start,@function
urt__ctx_start:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%r12, %rdi
	callq	*%r13
	ud2
	.cfi_endproc
	.size	urt__ctx_start,.-urt__ctx_start

	.section .rodata
	.p2align 3
nothing:	.quad	0

	.section .note.GNU-stack,"",@progbits
