/*
 * Application-processor start-up trampoline.  smp.c copies the bytes between
 * ap_tramp_start and ap_tramp_end to AP_TRAMPOLINE_PADDR (page-aligned,
 * below 1 MiB) and fills the parameter block at its end, then sends
 * INIT-SIPI-SIPI with vector AP_TRAMPOLINE_PADDR >> 12.
 *
 * The AP starts in real mode at CS:IP = (paddr >> 4):0.  It loads a
 * temporary GDT, enters 32-bit protected mode, enables PAE + long mode with
 * the kernel's CR3 (which must be below 4 GiB), and jumps to ap_entry64 in
 * the kernel image.  All APs run it at once (smp.c starts them together):
 * each takes its CPU index from its initial APIC id (CPUID 1, EBX[31:24];
 * smp.c assumes ids 0..n-1) and its stack from the table the parameter
 * block points at.
 */
#include "arch/x86_64/asm.h"

#define TR(sym) (AP_TRAMPOLINE_PADDR + ((sym) - ap_tramp_start))

	.section .rodata
	.p2align 12
	.globl ap_tramp_start, ap_tramp_end, ap_tramp_params
	.code16
ap_tramp_start:
	cli
	cld
	mov %cs, %ax
	mov %ax, %ds
	lgdtl (tramp_gdt_desc - ap_tramp_start)
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $0x08, $TR(tramp32)

	.code32
tramp32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	MTRR_ENABLE_WB_DEFAULT
	mov %cr4, %eax
	or $(CR4_PAE | CR4_PGE), %eax
	mov %eax, %cr4
	mov TR(tp_cr3), %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $(EFER_LME | EFER_NXE), %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_WP), %eax
	mov %eax, %cr0
	ljmp $0x18, $TR(tramp64)

	.code64
tramp64:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $1, %eax
	cpuid
	shr $24, %ebx
	mov %ebx, %edi                  /* CPU index = initial APIC id */
	mov TR(tp_stacks), %rax
	mov (%rax,%rdi,8), %rsp         /* tp_stacks[index] */
	xor %ebp, %ebp
	mov TR(tp_entry), %rax          /* ap_start64, which calls the C entry */
	jmp *%rax

	.p2align 3
tramp_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff        /* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff        /* 0x10: data */
	.quad 0x00af9a000000ffff        /* 0x18: 64-bit code */
tramp_gdt_desc:
	.word tramp_gdt_desc - tramp_gdt - 1
	.long TR(tramp_gdt)

	.p2align 3
ap_tramp_params:                        /* struct ap_params in smp.c */
tp_cr3:   .quad 0
tp_stacks: .quad 0                      /* uint64_t[UK_CPU_MAX]: stack tops */
tp_entry: .quad 0
tp_unused: .quad 0
ap_tramp_end:
