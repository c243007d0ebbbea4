/* x86_64 SysV context switch.
 * Saves the callee-saved registers, MXCSR and the x87 control word on the
 * current stack, stores rsp in *from, loads to's rsp and restores.
 * MXCSR and the x87 control word are reloaded only when the two contexts'
 * differ: ldmxcsr and fldcw are slow (serialising on many cores) and the
 * floating-point environment is almost always the default in both, so
 * the common switch only stores and compares them. The ABI still holds: a
 * task that changed its rounding mode gets it back when it resumes.
 * It ends in ret, not pop+jmp: a context resumed at the call site it was
 * suspended from (tasks yielding to each other all suspend at the one in
 * urt_yield) is then predicted by the return-stack predictor, and the
 * predictor's stack stays balanced. pop+jmp leaves the call's entry on it,
 * and every later ret of the task mispredicts (measured on yield
 * ping-pong: ~32 ns per switch with pop+jmp, ~10 ns with ret). */
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
	movl	(%rsp), %eax
	movzwl	4(%rsp), %ecx
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp
	cmpl	(%rsp), %eax
	jne	2f
	cmpw	4(%rsp), %cx
	jne	2f
1:	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
2:	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	jmp	1b
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
