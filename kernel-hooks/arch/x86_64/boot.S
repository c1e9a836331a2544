/*
 * PVH entry: the loader (QEMU, Firecracker, Cloud Hypervisor) enters
 * pvh_start32 in 32-bit protected mode, paging off, flat segments, with
 * %ebx = physical address of struct hvm_start_info.
 *
 * We clear .bss, build boot page tables that identity-map the first 4 GiB
 * (1 GiB pages where the CPU has them, else 2 MiB pages), enable long mode (with EFER.NXE so the MMU code can use
 * NX later) and call kmain(start_info) on the boot stack.  The MMU code
 * replaces these tables with 4 KiB-granular ones once memory is known.
 */
#include "arch/x86_64/asm.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .note.Xen, "a", @note
	.p2align 2
	.long 4                 /* namesz: "Xen\0" */
	.long 4                 /* descsz: 32-bit entry address */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.p2align 2
	.long pvh_start32

	.section .text.boot32, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	cld
	mov %ebx, %esi                  /* keep start_info across the bss clear */
	rdtsc                           /* boot benchmark: time of PVH entry */
	mov %eax, boot_tsc_entry
	mov %edx, boot_tsc_entry + 4

	/* ebx is clobbered: start_info is in esi already. */
	MTRR_ENABLE_WB_DEFAULT

	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	shr $2, %ecx
	xor %eax, %eax
	rep stosl

	mov %esi, boot_start_info

	/* PML4[0] -> PDPT. */
	mov $boot_pdpt, %eax
	or $(PTE_P | PTE_W), %eax
	mov %eax, boot_pml4

	/*
	 * With 1 GiB pages (CPUID 0x80000001 EDX bit 26): four PDPT entries.
	 * Otherwise PDPT[0..3] -> four page directories of 2 MiB pages.  The
	 * short path matters where the hypervisor emulates the guest.
	 */
	mov $0x80000001, %eax
	cpuid
	test $(1 << 26), %edx
	jz 3f
	mov $boot_pdpt, %edi
	mov $(PTE_P | PTE_W | PTE_PS), %eax
	mov $4, %ecx
4:	mov %eax, (%edi)
	add $0x40000000, %eax
	add $8, %edi
	loop 4b
	jmp 5f

3:	mov $boot_pd, %edi
	mov $(PTE_P | PTE_W | PTE_PS), %eax
	xor %edx, %edx
	mov $2048, %ecx
1:	mov %eax, (%edi)
	mov %edx, 4(%edi)
	add $0x200000, %eax
	adc $0, %edx
	add $8, %edi
	loop 1b

	mov $boot_pdpt, %edi
	mov $boot_pd, %eax
	or $(PTE_P | PTE_W), %eax
	mov $4, %ecx
2:	mov %eax, (%edi)
	add $4096, %eax
	add $8, %edi
	loop 2b
5:
	mov %cr4, %eax
	or $(CR4_PAE | CR4_PGE), %eax
	mov %eax, %cr4

	mov $boot_pml4, %eax
	mov %eax, %cr3

	mov $MSR_EFER, %ecx
	rdmsr
	or $(EFER_LME | EFER_NXE), %eax
	wrmsr

	mov %cr0, %eax
	or $(CR0_PG | CR0_PE | CR0_WP), %eax
	mov %eax, %cr0

	lgdt boot_gdt_desc
	ljmp $GDT_KCODE, $start64

	.code64
	.type start64, @function
start64:
	/* The outermost frame of CPU 0's boot (later idle) thread: no caller,
	 * so an unwinder (gdb, lldb) stops here instead of inventing frames
	 * from what lies above the boot stack. */
	.cfi_startproc
	.cfi_undefined rip
	mov $GDT_KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %fs
	mov %ax, %gs

	lea boot_stack_top(%rip), %rsp
	xor %ebp, %ebp                  /* backtraces end here */
	mov boot_start_info(%rip), %edi
	call kmain
3:	hlt
	jmp 3b
	.cfi_endproc
	.size start64, . - start64

	.section .rodata
	.p2align 3
	.globl boot_gdt
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* GDT_KCODE: 64-bit code, DPL 0 */
	.quad 0x00cf92000000ffff        /* GDT_KDATA: data, DPL 0 */
boot_gdt_end:
boot_gdt_desc:
	.word boot_gdt_end - boot_gdt - 1
	.quad boot_gdt

	.section .data
	.p2align 3
	.globl boot_tsc_entry
boot_tsc_entry:	.quad 0                 /* in .data: survives the bss clear */

	.section .bss
	.p2align 12
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4 * 4096
	.globl boot_stack_guard, boot_stack, boot_stack_top
boot_stack_guard:	.skip 4096      /* unmapped by the MMU code */
boot_stack:		.skip BOOT_STACK_SIZE
boot_stack_top:
	.globl boot_start_info
	.p2align 3
boot_start_info:	.quad 0
