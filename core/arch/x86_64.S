/* x86_64 SysV context switch.
 * Saves the callee-saved registers, MXCSR and the x87 control word on the
 * current stack, stores rsp in *from, loads to's rsp and restores.
 * It ends in ret, not pop+jmp: urt__switch() is its only caller, so every
 * suspended context resumes at that one call site and the return-stack
 * predictor is right. pop+jmp leaves the call's entry on the predictor's
 * stack, and every later ret of the task then mispredicts (measured on
 * yield ping-pong: ~32 ns per switch with pop+jmp, ~10 ns with ret). */
	.text
	.p2align 4
	.globl	urt__ctx_jump
	.hidden	urt__ctx_jump
	.type	urt__ctx_jump,@function
urt__ctx_jump:		/* rdi = urt_ctxsw *from, rsi = urt_ctxsw *to */
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
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

	.section .note.GNU-stack,"",@progbits
