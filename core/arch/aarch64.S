/* AArch64 (AAPCS64) context switch: saves x19-x30 and d8-d15 on the
 * current stack, stores sp in *from, loads to's sp and restores. FPCR is
 * not part of it: see x86_64.S and fpenv.h. */
	.text
	.p2align 4
	.globl	urt__ctx_jump
	.hidden	urt__ctx_jump
	.type	urt__ctx_jump,%function
urt__ctx_jump:		/* x0 = urt_ctxsw *from, x1 = urt_ctxsw *to */
	.cfi_startproc
	sub	sp, sp, #160
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mov	x9, sp
	str	x9, [x0]
	ldr	x9, [x1]
	mov	sp, x9
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #160
	ret	/* not br: see x86_64.S (the return predictor) */
	.cfi_endproc
	.size	urt__ctx_jump,.-urt__ctx_jump

/* First code a new task runs: x19 = arg, x20 = entry. */
	.p2align 4
	.globl	urt__ctx_start
	.hidden	urt__ctx_start
	.type	urt__ctx_start,%function
urt__ctx_start:
	.cfi_startproc
	.cfi_undefined x30
	mov	x29, #0
	mov	x30, #0
	mov	x0, x19
	blr	x20
	brk	#0
	.cfi_endproc
	.size	urt__ctx_start,.-urt__ctx_start

	.section .note.GNU-stack,"",%progbits
