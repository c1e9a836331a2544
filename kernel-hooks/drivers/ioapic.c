/*
 * IOAPIC at 0xfec00000: routes GSI n to vector VEC_IRQ_BASE + n on the boot
 * CPU, edge-triggered, active high (ISA serial and microvm's virtio-mmio).
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <uk/cpu.h>
#include <uk/irq.h>
#include <uk/klog.h>
#include <uk/sync.h>

#define IOAPIC_BASE 0xfec00000UL
enum { IOREGSEL = 0x00, IOWIN = 0x10 };
enum { IOAPIC_VER = 0x01, IOAPIC_REDTBL = 0x10 };
enum { RTE_MASKED = 1 << 16 };

struct irq_slot {
    uk_irq_fn fn;
    void *arg;
    const char *name; /* uk_irq_set_name, for metrics */
};
static struct irq_slot irq_slots[VEC_IRQ_COUNT];
static unsigned ioapic_pins;
static struct uk_spinlock ioapic_lock = UK_SPINLOCK_INIT;

static uint32_t ioapic_read(unsigned reg)
{
    *(volatile uint32_t *)(IOAPIC_BASE + IOREGSEL) = reg;
    return *(volatile uint32_t *)(IOAPIC_BASE + IOWIN);
}

static void ioapic_write(unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)(IOAPIC_BASE + IOREGSEL) = reg;
    *(volatile uint32_t *)(IOAPIC_BASE + IOWIN) = v;
}

void ioapic_init(void)
{
    ioapic_pins = ((ioapic_read(IOAPIC_VER) >> 16) & 0xff) + 1;
    if (ioapic_pins > VEC_IRQ_COUNT)
        ioapic_pins = VEC_IRQ_COUNT;
    for (unsigned i = 0; i < ioapic_pins; i++) {
        ioapic_write(IOAPIC_REDTBL + 2 * i, RTE_MASKED | (VEC_IRQ_BASE + i));
        ioapic_write(IOAPIC_REDTBL + 2 * i + 1, 0);
    }
}

void uk_irq_mask(unsigned gsi, bool masked)
{
    if (gsi >= ioapic_pins)
        return;
    unsigned long flags = uk_spin_lock_irqsave(&ioapic_lock);
    uint32_t lo = VEC_IRQ_BASE + gsi;
    if (masked)
        lo |= RTE_MASKED;
    ioapic_write(IOAPIC_REDTBL + 2 * gsi + 1, percpu_area[0].apic_id << 24);
    ioapic_write(IOAPIC_REDTBL + 2 * gsi, lo);
    uk_spin_unlock_irqrestore(&ioapic_lock, flags);
}

uk_result uk_irq_register(unsigned gsi, uk_irq_fn fn, void *arg)
{
    if (gsi >= ioapic_pins || !fn)
        return UK_EINVAL;
    if (irq_slots[gsi].fn)
        return irq_slots[gsi].fn == fn && irq_slots[gsi].arg == arg ? UK_EBUSY : UK_EBUSY;
    irq_slots[gsi].arg = arg;
    __atomic_store_n(&irq_slots[gsi].fn, fn, __ATOMIC_RELEASE);
    uk_irq_mask(gsi, false);
    return UK_OK;
}

void uk_irq_set_name(unsigned gsi, const char *name)
{
    if (gsi < VEC_IRQ_COUNT)
        __atomic_store_n(&irq_slots[gsi].name, name, __ATOMIC_RELEASE);
}

const char *uk_irq_name(unsigned vector)
{
    /* "gsi0".."gsi23" for lines nobody named. */
    static const char *const gsi_names[VEC_IRQ_COUNT] = {
        "gsi0",  "gsi1",  "gsi2",  "gsi3",  "gsi4",  "gsi5",  "gsi6",  "gsi7",
        "gsi8",  "gsi9",  "gsi10", "gsi11", "gsi12", "gsi13", "gsi14", "gsi15",
        "gsi16", "gsi17", "gsi18", "gsi19", "gsi20", "gsi21", "gsi22", "gsi23",
    };

    if (vector >= VEC_IRQ_BASE && vector < VEC_IRQ_BASE + VEC_IRQ_COUNT) {
        const char *n = __atomic_load_n(&irq_slots[vector - VEC_IRQ_BASE].name, __ATOMIC_ACQUIRE);
        return n ? n : gsi_names[vector - VEC_IRQ_BASE];
    }
    switch (vector) {
    case VEC_TIMER:
        return "lapic-timer";
    case VEC_RESCHED:
        return "ipi-resched";
    case VEC_CALL:
        return "ipi-call";
    case UK_VEC_STOP:
        return "ipi-stop";
    case VEC_SPURIOUS:
        return "spurious";
    default:
        return vector < 32 ? "exception" : "unknown";
    }
}

void irq_handle(unsigned gsi, struct uk_trap_frame *tf)
{
    uk_irq_fn fn = __atomic_load_n(&irq_slots[gsi].fn, __ATOMIC_ACQUIRE);
    if (fn)
        fn(gsi, tf, irq_slots[gsi].arg);
    lapic_eoi();
}
