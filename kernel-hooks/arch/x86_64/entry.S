/*
 * Interrupt/exception entry, context switch and thread start.
 *
 * Every vector has a stub that pushes an error code (0 where the CPU does
 * not) and the vector number, then joins trap_common, which saves the
 * general registers into a struct uk_trap_frame (<uk/trap.h>) and calls
 * trap_dispatch(frame).  The CFI below describes the frame so that gdb can
 * unwind from a handler into the interrupted code.
 */
#include "arch/x86_64/asm.h"

	.text

/* The CPU pushes an error code for vectors 8, 10-14, 17, 21, 29, 30. */
.macro STUB v
	.p2align 4
isr_\v:
	.if !(\v == 8 || (\v >= 10 && \v <= 14) || \v == 17 || \v == 21 || \v == 29 || \v == 30)
	pushq $0
	.endif
	pushq $\v
	jmp trap_common
.endm

	.globl isr_stub_table_start
isr_stub_table_start:
.altmacro
.set vec, 0
.rept 256
	STUB %vec
	.set vec, vec + 1
.endr

/* Table of stub addresses used by idt_init(). */
.macro STUBADDR v
	.quad isr_\v
.endm
	.section .rodata
	.p2align 3
	.globl isr_stub_table
isr_stub_table:
.set vec, 0
.rept 256
	STUBADDR %vec
	.set vec, vec + 1
.endr
.noaltmacro

	.text
	.p2align 4
	.globl trap_common
	.type trap_common, @function
trap_common:
	/* On entry: vector, error code, then the CPU frame (rip cs rflags rsp ss). */
	.cfi_startproc simple
	.cfi_signal_frame
	.cfi_def_cfa rsp, 56
	.cfi_offset rip, -40
	.cfi_offset rsp, -16
	pushq %rax
	.cfi_adjust_cfa_offset 8
	pushq %rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbx, 0
	pushq %rcx
	.cfi_adjust_cfa_offset 8
	pushq %rdx
	.cfi_adjust_cfa_offset 8
	pushq %rsi
	.cfi_adjust_cfa_offset 8
	pushq %rdi
	.cfi_adjust_cfa_offset 8
	pushq %rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbp, 0
	pushq %r8
	.cfi_adjust_cfa_offset 8
	pushq %r9
	.cfi_adjust_cfa_offset 8
	pushq %r10
	.cfi_adjust_cfa_offset 8
	pushq %r11
	.cfi_adjust_cfa_offset 8
	pushq %r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r12, 0
	pushq %r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r13, 0
	pushq %r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r14, 0
	pushq %r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r15, 0
	cld
	mov %rsp, %rdi
	/*
	 * A frame-pointer chain for our own backtraces: a fake frame whose
	 * return address is the interrupted rip links to the interrupted rbp.
	 */
	pushq 136(%rsp)                 /* tf->rip */
	.cfi_adjust_cfa_offset 8
	pushq %rbp
	.cfi_adjust_cfa_offset 8
	mov %rsp, %rbp
	call trap_dispatch
	add $16, %rsp
	.cfi_adjust_cfa_offset -16
	popq %r15
	.cfi_adjust_cfa_offset -8
	popq %r14
	.cfi_adjust_cfa_offset -8
	popq %r13
	.cfi_adjust_cfa_offset -8
	popq %r12
	.cfi_adjust_cfa_offset -8
	popq %r11
	.cfi_adjust_cfa_offset -8
	popq %r10
	.cfi_adjust_cfa_offset -8
	popq %r9
	.cfi_adjust_cfa_offset -8
	popq %r8
	.cfi_adjust_cfa_offset -8
	popq %rbp
	.cfi_adjust_cfa_offset -8
	popq %rdi
	.cfi_adjust_cfa_offset -8
	popq %rsi
	.cfi_adjust_cfa_offset -8
	popq %rdx
	.cfi_adjust_cfa_offset -8
	popq %rcx
	.cfi_adjust_cfa_offset -8
	popq %rbx
	.cfi_adjust_cfa_offset -8
	popq %rax
	.cfi_adjust_cfa_offset -8
	add $16, %rsp                   /* vector, error code */
	.cfi_adjust_cfa_offset -16
	iretq
	.cfi_endproc
	.size trap_common, . - trap_common

/*
 * void arch_switch(struct uk_thread_ctx *prev, struct uk_thread_ctx *next)
 *
 * Save the callee-saved registers of the running thread into *prev (order
 * is ABI, see <uk/thread_abi.h>) and resume *next.  The saved rip is the
 * local label below, so a debugger sees a stopped thread inside arch_switch
 * with an ordinary call frame.  Called with interrupts disabled.
 */
	.p2align 4
	.globl arch_switch
	.type arch_switch, @function
arch_switch:
	.cfi_startproc
	mov %rsp, 0(%rdi)
	mov %rbp, 8(%rdi)
	mov %rbx, 16(%rdi)
	mov %r12, 24(%rdi)
	mov %r13, 32(%rdi)
	mov %r14, 40(%rdi)
	mov %r15, 48(%rdi)
	lea 1f(%rip), %rax
	mov %rax, 56(%rdi)
	mov 0(%rsi), %rsp
	mov 8(%rsi), %rbp
	mov 16(%rsi), %rbx
	mov 24(%rsi), %r12
	mov 32(%rsi), %r13
	mov 40(%rsi), %r14
	mov 48(%rsi), %r15
	jmp *56(%rsi)
	.globl arch_switch_resume
arch_switch_resume:
1:	ret
	.cfi_endproc
	.size arch_switch, . - arch_switch

/*
 * First code of every new thread: ctx.r12 = fn, ctx.r13 = arg.  Finish the
 * switch that started us (release the scheduler lock, enable interrupts),
 * run fn(arg), then exit.  rbp = 0 ends backtraces here.
 */
	.p2align 4
	.globl arch_thread_start
	.type arch_thread_start, @function
arch_thread_start:
	.cfi_startproc
	.cfi_undefined rip
	xor %ebp, %ebp
	call sched_thread_first_run
	mov %r13, %rdi
	call *%r12
	call uk_thread_exit
	ud2
	.cfi_endproc
	.size arch_thread_start, . - arch_thread_start

/*
 * Where the AP trampoline lands (rdi = CPU index, a fresh stack): call the
 * C entry as the outermost frame, so backtraces of an AP's idle thread end
 * here instead of at whatever lies above its stack.
 */
	.p2align 4
	.globl ap_start64
	.type ap_start64, @function
ap_start64:
	.cfi_startproc
	.cfi_undefined rip
	xor %ebp, %ebp
	call ap_entry64
	ud2
	.cfi_endproc
	.size ap_start64, . - ap_start64
