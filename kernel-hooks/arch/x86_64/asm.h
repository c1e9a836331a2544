/*
 * Constants shared by the x86_64 assembly and C code.  Only #defines: this
 * file is included from .S files.
 */
#ifndef UK_ARCH_X86_64_ASM_H
#define UK_ARCH_X86_64_ASM_H

/* Page-table entry bits (Intel SDM vol. 3, 4.5). */
#define PTE_P   0x001
#define PTE_W   0x002
#define PTE_U   0x004
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_A   0x020
#define PTE_D   0x040
#define PTE_PS  0x080
#define PTE_G   0x100
#define PTE_NX  (1ULL << 63)

#define CR0_PE 0x00000001
#define CR0_WP 0x00010000
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define CR4_PGE 0x00000080

#define MSR_EFER        0xc0000080
#define EFER_LME        0x00000100
#define EFER_NXE        0x00000800
#define MSR_FS_BASE     0xc0000100
#define MSR_GS_BASE     0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_APIC_BASE   0x0000001b
#define MSR_TSC_DEADLINE 0x000006e0
#define MSR_MTRR_DEF_TYPE 0x000002ff
#define MTRR_ENABLE     0x800
#define MTRR_TYPE_WB    0x6

/* GDT selectors.  Index 3/4 hold the per-CPU TSS (a 16-byte descriptor). */
#define GDT_KCODE 0x08
#define GDT_KDATA 0x10
#define GDT_TSS   0x18

#define BOOT_STACK_SIZE  (16 * 1024)
#define THREAD_STACK_SIZE (32 * 1024)
#define IST_STACK_SIZE   (16 * 1024)

/* IST slots (1-based in the IDT gate). */
#define IST_NMI 1
#define IST_DF  2
#define IST_MC  3

/* Interrupt vectors used by the kernel (see docs/architecture.md). */
#define VEC_IRQ_BASE   0x20   /* IOAPIC GSI n -> VEC_IRQ_BASE + n */
#define VEC_IRQ_COUNT  24
#define VEC_TIMER      0xf0   /* LAPIC timer */
#define VEC_RESCHED    0xf1   /* IPI: run the scheduler */
#define VEC_CALL       0xf2   /* IPI: run queued cross-CPU calls */
#define VEC_STOP       0xf3   /* IPI: a debugger stops this CPU (UK_VEC_STOP) */
#define VEC_SPURIOUS   0xff

/* Offsets into struct uk_trap_frame (kernel-hooks/include/uk/trap.h). */
#define TF_R15   0
#define TF_VECTOR 120
#define TF_SIZE  176

/* AP start-up trampoline: copied to this physical address below 1 MiB. */
#define AP_TRAMPOLINE_PADDR 0x8000

#ifdef __ASSEMBLER__
/*
 * 32-bit code, every CPU: without firmware (PVH on microvm) the MTRRs are
 * disabled, which makes all RAM uncached; enable them with write-back as
 * the default type (device memory is made uncached by PCD|PWT in the page
 * tables).  MTRRs are per CPU, so boot.S and the AP trampoline both do it.
 * Clobbers eax, ebx, ecx, edx.
 */
.macro MTRR_ENABLE_WB_DEFAULT
	mov $1, %eax
	cpuid
	test $(1 << 12), %edx
	jz 9f
	mov $MSR_MTRR_DEF_TYPE, %ecx
	rdmsr
	test $MTRR_ENABLE, %eax
	jnz 9f
	mov $(MTRR_ENABLE | MTRR_TYPE_WB), %eax
	xor %edx, %edx
	wrmsr
9:
.endm
#endif

#endif
