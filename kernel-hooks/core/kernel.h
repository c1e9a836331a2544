/*
 * Kernel-internal interfaces between arch/, core/ and drivers/.  Not part
 * of the hook contract: gdbstub/, tracing/ and guest-agent/ must not
 * include this file.
 */
#ifndef UK_CORE_KERNEL_H
#define UK_CORE_KERNEL_H

#include <uk/trap.h>
#include <uk/types.h>

/* PVH boot information (xen/include/public/arch-x86/hvm/start_info.h). */
#define HVM_START_MAGIC 0x336ec578
struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr; /* version >= 1 */
    uint32_t memmap_entries;
    uint32_t reserved;
};
struct hvm_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type; /* 1 = RAM (E820 types) */
    uint32_t reserved;
};
enum { HVM_MEMMAP_RAM = 1 };

/* Usable RAM ranges taken from the memory map (page aligned). */
#define MEM_RANGES_MAX 16
struct mem_range {
    uint64_t start, end;
};
extern struct mem_range mem_ranges[MEM_RANGES_MAX];
extern unsigned mem_range_count;

/* Boot-time TSC at PVH entry (set by kmain as early as possible). */
extern uint64_t boot_tsc_entry, boot_tsc_main;

/* Linker-script symbols. */
extern char __image_start[], __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __bss_start[], __bss_end[], __image_end[];
extern char __uksyms_start[], __uksyms_end[], __notes_start[], __notes_end[];
extern char boot_stack_guard[], boot_stack[], boot_stack_top[];

/* Initialisation, in kmain's order. */
void console_init(void);
void klog_init(void);
void mem_map_init(const struct hvm_start_info *si);
void pmem_init(void);
struct uk_mem_stats;
void pmem_stats(struct uk_mem_stats *s);
void mmu_init_ap(void);
void mmu_flush_all(void);
uint64_t mmu_cr3(void);
void mmu_init(void);
void heap_init(void);
void time_init(void);
void lapic_init(void);
void lapic_init_ap(void);
void ioapic_init(void);
void sched_init(void);
/* Start the other CPUs without waiting for them; smp_wait() collects them
 * (uk_cpu_count() counts them from then on). */
void smp_start(void);
void smp_wait(void);
void uart_init(void);
void virtio_init(void);
void pvpanic_init(void);

/* Interrupt plumbing called from trap_dispatch. */
void irq_handle(unsigned gsi, struct uk_trap_frame *tf);
void timer_interrupt(struct uk_trap_frame *tf);
void smp_call_interrupt(void);
void lapic_eoi(void);

/* Local APIC. */
unsigned lapic_id(void);
void lapic_send_ipi(unsigned apic_id, unsigned vector);
void lapic_send_nmi(unsigned apic_id);
void lapic_send_init(unsigned apic_id);
void lapic_send_sipi(unsigned apic_id, unsigned page);
/* Arm this CPU's timer to fire at TSC value `deadline` (0 = disarm). */
void lapic_timer_arm(uint64_t deadline_tsc);
bool lapic_has_tsc_deadline(void);

/* PIT channel 2 for TSC calibration (10 ms gate).  Returns TSC ticks or 0. */
uint64_t pit_measure_tsc(uint32_t us);

/* fw_cfg. */
bool fw_cfg_present(void);
uint32_t fw_cfg_read_u16(uint16_t key);
/* Add the fw_cfg file opt/ukscope/token, if any, as the `token` option
 * (uk_cmdline_set); logs that it did, never the value. */
void fw_cfg_load_secrets(void);

/* Scheduler internals used by arch code. */
void sched_preempt(void);
void sched_thread_first_run(void);
UK_NORETURN void sched_idle_loop(void);
void sched_run_tick_hooks(const struct uk_trap_frame *tf);

/* Panic internals. */
UK_NORETURN void panic_exception(struct uk_trap_frame *tf, uint64_t cr2);
void panic_nmi_stop(struct uk_trap_frame *tf);
extern volatile int panic_cpu; /* -1 when not panicking */

/* Debug-exit and pvpanic. */
void debug_exit(unsigned status);
void pvpanic_notify(void);

/* Print a register dump (used by the panic path). */
void trap_print_frame(const struct uk_trap_frame *tf, uint64_t cr2);

/* Idle hooks, run by the idle thread. */
void hooks_run_idle(unsigned cpu);
void hooks_run_panic(const void *info);

/* Initcalls and application start. */
void initcalls_run(void);

#endif
