/*
 * x86_64 CPU helpers and the per-CPU area.  Private to kernel-hooks/.
 */
#ifndef UK_ARCH_X86_64_CPU_H
#define UK_ARCH_X86_64_CPU_H

#include "arch/x86_64/asm.h"
#include <uk/cpu.h>
#include <uk/thread.h>
#include <uk/trap.h>
#include <uk/types.h>

/* Task-state segment: only the IST stacks are used (no ring 3). */
struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

/*
 * Per-CPU data, reached through %gs (GS_BASE points at the struct; `self`
 * is first so that %gs:0 yields its address).
 */
struct percpu {
    struct percpu *self;
    unsigned index;              /* 0..ncpus-1 */
    unsigned apic_id;
    struct uk_thread *current;   /* running thread */
    struct uk_thread *idle;      /* this CPU's idle thread */
    volatile bool online;
    volatile bool need_resched;  /* set by timer / wake-ups, acted on at irq exit */
    unsigned irq_depth;          /* nesting of interrupt handlers */
    uint64_t slice_end_ns;       /* when the current thread's time slice ends */
    uint64_t switches;
    uint64_t idle_ns;
    uint64_t last_switch_tsc;
    uint64_t ticks;              /* timer interrupts taken */
    uint64_t armed_tsc;          /* TSC deadline the LAPIC timer is armed for, 0: none */
    struct uk_trap_frame *nmi_tf; /* frame at the last NMI (for stop-the-world) */
    uint64_t gdt[8];
    struct tss64 tss;
    void *ist_stack[3];
};

extern struct percpu percpu_area[UK_CPU_MAX];

/*
 * The calling CPU's per-CPU area.  Only stable while the caller cannot
 * migrate (interrupts off, or an idle/pinned context): a thread preempted
 * after this load and resumed on another CPU still holds the old CPU's area.
 */
static inline struct percpu *this_cpu(void)
{
    struct percpu *p;
    __asm__ __volatile__("movq %%gs:0, %0" : "=r"(p));
    return p;
}

/*
 * The running thread, in one %gs-relative load, so it is right even with
 * preemption on.  (this_cpu()->current is two loads: a thread migrated
 * between them reads the current thread of the CPU it left -- a mutex then
 * recorded the wrong owner.)
 */
static inline struct uk_thread *this_cpu_current(void)
{
    struct uk_thread *t;
    __asm__ __volatile__("movq %%gs:%c1, %0" : "=r"(t) : "i"(offsetof(struct percpu, current)));
    return t;
}

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ __volatile__("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ __volatile__("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ __volatile__("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ __volatile__("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ __volatile__("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c,
                         uint32_t *d)
{
    __asm__ __volatile__("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline uint64_t read_cr2(void)
{
    uint64_t v;
    __asm__ __volatile__("mov %%cr2, %0" : "=r"(v));
    return v;
}
static inline uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ __volatile__("mov %%cr3, %0" : "=r"(v));
    return v;
}
static inline void write_cr3(uint64_t v)
{
    __asm__ __volatile__("mov %0, %%cr3" ::"r"(v) : "memory");
}
static inline void invlpg(uintptr_t va)
{
    __asm__ __volatile__("invlpg (%0)" ::"r"(va) : "memory");
}
static inline void cpu_halt(void)
{
    __asm__ __volatile__("hlt" ::: "memory");
}
/* Enable interrupts and halt atomically (sti's one-instruction shadow). */
static inline void cpu_idle_halt(void)
{
    __asm__ __volatile__("sti; hlt" ::: "memory");
}

/* Early per-CPU setup: GDT+TSS, IDT, GS base.  cpu_init_bsp runs first. */
void cpu_init_bsp(void);
void cpu_init_ap(unsigned index, unsigned apic_id);
void cpu_load_idt(void);
void idt_init(void);

/* Dispatch from entry.S. */
void trap_dispatch(struct uk_trap_frame *tf);

#endif
