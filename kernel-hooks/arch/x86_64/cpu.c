/*
 * Per-CPU descriptor tables: a GDT with a TSS (for the NMI, #DF and #MC IST
 * stacks), the shared IDT, and GS_BASE pointing at the CPU's struct percpu.
 */
#include "arch/x86_64/cpu.h"
#include <string.h>
#include <uk/mem.h>
#include <uk/panic.h>

struct percpu percpu_area[UK_CPU_MAX];

struct idt_gate {
    uint16_t off_lo;
    uint16_t sel;
    uint8_t ist;
    uint8_t type; /* 0x8e: present, DPL0, 64-bit interrupt gate */
    uint16_t off_mid;
    uint32_t off_hi;
    uint32_t reserved;
} __attribute__((packed));

struct desc_ptr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));
extern const uint64_t isr_stub_table[256];

/* IST stacks are static for the boot CPU (before the page allocator). */
static uint8_t bsp_ist[3][IST_STACK_SIZE] __attribute__((aligned(4096)));

static void idt_set(unsigned vec, uint64_t handler, unsigned ist)
{
    struct idt_gate *g = &idt[vec];
    g->off_lo = handler & 0xffff;
    g->sel = GDT_KCODE;
    g->ist = ist;
    g->type = 0x8e;
    g->off_mid = (handler >> 16) & 0xffff;
    g->off_hi = handler >> 32;
    g->reserved = 0;
}

void idt_init(void)
{
    for (unsigned v = 0; v < 256; v++)
        idt_set(v, isr_stub_table[v], 0);
    idt_set(UK_EXC_NMI, isr_stub_table[UK_EXC_NMI], IST_NMI);
    idt_set(UK_EXC_DF, isr_stub_table[UK_EXC_DF], IST_DF);
    idt_set(UK_EXC_MC, isr_stub_table[UK_EXC_MC], IST_MC);
}

void cpu_load_idt(void)
{
    struct desc_ptr p = {sizeof(idt) - 1, (uint64_t)idt};
    __asm__ __volatile__("lidt %0" ::"m"(p));
}

static void gdt_load(struct percpu *pc)
{
    uint64_t tss = (uint64_t)&pc->tss;
    uint64_t limit = sizeof(pc->tss) - 1;

    pc->gdt[0] = 0;
    pc->gdt[1] = 0x00af9a000000ffffULL; /* GDT_KCODE */
    pc->gdt[2] = 0x00cf92000000ffffULL; /* GDT_KDATA */
    /* 16-byte available 64-bit TSS descriptor (type 9). */
    pc->gdt[3] = (limit & 0xffff) | ((tss & 0xffffff) << 16) | (0x89ULL << 40) |
                 (((limit >> 16) & 0xf) << 48) | (((tss >> 24) & 0xff) << 56);
    pc->gdt[4] = tss >> 32;

    for (unsigned i = 0; i < 3; i++)
        pc->tss.ist[i] = (uint64_t)pc->ist_stack[i] + IST_STACK_SIZE;
    pc->tss.iomap_base = sizeof(pc->tss);

    struct desc_ptr p = {5 * 8 - 1, (uint64_t)pc->gdt};
    __asm__ __volatile__("lgdt %0\n\t"
                         "pushq %1\n\t"
                         "leaq 1f(%%rip), %%rax\n\t"
                         "pushq %%rax\n\t"
                         "lretq\n"
                         "1:\n\t"
                         "movw %w2, %%ds\n\t"
                         "movw %w2, %%es\n\t"
                         "movw %w2, %%ss\n\t"
                         "ltr %w3"
                         :
                         : "m"(p), "i"(GDT_KCODE), "r"(GDT_KDATA), "r"(GDT_TSS)
                         : "rax", "memory");
}

static void percpu_setup(unsigned index, unsigned apic_id)
{
    struct percpu *pc = &percpu_area[index];
    pc->self = pc;
    pc->index = index;
    pc->apic_id = apic_id;
    gdt_load(pc);
    wrmsr(MSR_GS_BASE, (uint64_t)pc);
    wrmsr(MSR_KERNEL_GS_BASE, 0);
    cpu_load_idt();
}

void cpu_init_bsp(void)
{
    struct percpu *pc = &percpu_area[0];
    for (unsigned i = 0; i < 3; i++)
        pc->ist_stack[i] = bsp_ist[i];
    idt_init();
    percpu_setup(0, 0);
}

void cpu_init_ap(unsigned index, unsigned apic_id)
{
    /* IST stacks were allocated by the BSP before starting this CPU. */
    percpu_setup(index, apic_id);
}

unsigned uk_cpu_id(void)
{
    unsigned id;
    __asm__ __volatile__("movl %%gs:%c1, %0" : "=r"(id) : "i"(offsetof(struct percpu, index)));
    return id;
}
