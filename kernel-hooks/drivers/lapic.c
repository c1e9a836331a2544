/*
 * Local APIC: x2APIC (MSR access, no MMIO exits) when the CPU offers it,
 * else xAPIC at 0xfee00000.  The timer runs one-shot: TSC-deadline mode
 * where available, else a count calibrated against the TSC.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <uk/time.h>

enum lapic_reg {
    LAPIC_ID = 0x020,
    LAPIC_EOI = 0x0b0,
    LAPIC_SVR = 0x0f0,
    LAPIC_ICR_LO = 0x300,
    LAPIC_ICR_HI = 0x310,
    LAPIC_LVT_TIMER = 0x320,
    LAPIC_LVT_LINT0 = 0x350,
    LAPIC_LVT_LINT1 = 0x360,
    LAPIC_TIMER_INIT = 0x380,
    LAPIC_TIMER_CUR = 0x390,
    LAPIC_TIMER_DIV = 0x3e0,
};
enum {
    APIC_BASE_ENABLE = 1 << 11,
    APIC_BASE_X2 = 1 << 10,
    SVR_ENABLE = 0x100,
    LVT_MASKED = 1 << 16,
    LVT_TSC_DEADLINE = 2 << 17,
    ICR_INIT = 0x500,
    ICR_STARTUP = 0x600,
    ICR_NMI = 0x400,
    ICR_LEVEL_ASSERT = 0x4000,
    ICR_PENDING = 0x1000,
    DIV_BY_16 = 0x3,
};
#define XAPIC_BASE 0xfee00000UL
#define X2APIC_MSR(reg) (0x800 + ((reg) >> 4))

enum { LAPIC_CALIBRATE_US = 500, READ_PAIR_MAX_TSC = 20000 };

static bool x2apic, tsc_deadline;
static uint64_t lapic_ticks_per_sec; /* timer counts per second at DIV_BY_16 */

static uint32_t lapic_read(enum lapic_reg r)
{
    if (x2apic)
        return (uint32_t)rdmsr(X2APIC_MSR(r));
    return *(volatile uint32_t *)(XAPIC_BASE + r);
}

static void lapic_write(enum lapic_reg r, uint32_t v)
{
    if (x2apic)
        wrmsr(X2APIC_MSR(r), v);
    else
        *(volatile uint32_t *)(XAPIC_BASE + r) = v;
}

unsigned lapic_id(void)
{
    uint32_t id = lapic_read(LAPIC_ID);
    return x2apic ? id : id >> 24;
}

void lapic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

/* The TSC (midpoint) and the timer's current count, read close together:
 * a pair whose TSC reads are far apart (an exit, a host preemption) is
 * read again, a few times at most. */
static void read_pair(uint64_t *tsc, uint64_t *count)
{
    for (int i = 0; i < 8; i++) {
        uint64_t a = uk_tsc();
        *count = lapic_read(LAPIC_TIMER_CUR);
        uint64_t b = uk_tsc();
        *tsc = a + (b - a) / 2;
        if (b - a < READ_PAIR_MAX_TSC)
            return;
    }
}

static uint64_t lapic_timer_hz(void);

static void lapic_enable(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE;
    if (x2apic)
        base |= APIC_BASE_X2;
    wrmsr(MSR_APIC_BASE, base);
    lapic_write(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
    lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
    lapic_write(LAPIC_LVT_LINT1, 0x400); /* NMI delivery */
    lapic_write(LAPIC_TIMER_DIV, DIV_BY_16);
    lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | (tsc_deadline ? LVT_TSC_DEADLINE : 0));
}

void lapic_init(void)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    x2apic = c & (1u << 21);
    tsc_deadline = c & (1u << 24);
    /* Legacy PICs: mask everything, the IOAPIC routes interrupts. */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    lapic_enable();
    if (!tsc_deadline)
        lapic_ticks_per_sec = lapic_timer_hz();
}

/*
 * The one-shot timer's rate (at DIV_BY_16): CPUID 0x15's crystal (the
 * APIC timer clock on CPUs that report it), the hypervisor timing leaf's
 * APIC bus frequency, else measured against the TSC.  Both clocks run in
 * real time even when the vCPU is descheduled, so only the read-out
 * matters: each end takes the TSC on both sides of the count read and
 * retries a read that was interrupted.  0.5 ms gives ~1e-4.
 */
static uint64_t lapic_timer_hz(void)
{
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    if (a >= 0x15) {
        cpuid(0x15, 0, &a, &b, &c, &d);
        if (c)
            return c / 16;
    }
    cpuid(1, 0, &a, &b, &c, &d);
    if (c & (1u << 31)) {
        cpuid(0x40000000, 0, &a, &b, &c, &d);
        if (a >= 0x40000010) {
            cpuid(0x40000010, 0, &a, &b, &c, &d);
            if (b)
                return (uint64_t)b * 1000 / 16;
        }
    }
    lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | LVT_MASKED);
    lapic_write(LAPIC_TIMER_INIT, 0xffffffff);
    uint64_t t0, c0, t1, c1;
    read_pair(&t0, &c0);
    while (uk_tsc() - t0 < uk_tsc_hz() / (1000000 / LAPIC_CALIBRATE_US))
        uk_cpu_relax();
    read_pair(&t1, &c1);
    lapic_write(LAPIC_TIMER_INIT, 0);
    lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);
    return (c0 - c1) * uk_tsc_hz() / (t1 - t0);
}

void lapic_init_ap(void)
{
    lapic_enable();
    if (!tsc_deadline)
        lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);
}

bool lapic_has_tsc_deadline(void)
{
    return tsc_deadline;
}

void lapic_timer_arm(uint64_t deadline_tsc)
{
    if (tsc_deadline) {
        wrmsr(MSR_TSC_DEADLINE, deadline_tsc);
        return;
    }
    if (!deadline_tsc) {
        lapic_write(LAPIC_TIMER_INIT, 0);
        return;
    }
    uint64_t now = uk_tsc();
    uint64_t delta = deadline_tsc > now ? deadline_tsc - now : 1;
    uint64_t count = (uint64_t)((unsigned __int128)delta * lapic_ticks_per_sec / uk_tsc_hz());
    lapic_write(LAPIC_TIMER_INIT, (uint32_t)UK_MAX(UK_MIN(count, 0xffffffffULL), 1ULL));
}

static void icr_send(unsigned apic_id, uint32_t lo)
{
    if (x2apic) {
        wrmsr(X2APIC_MSR(LAPIC_ICR_LO), ((uint64_t)apic_id << 32) | lo);
        return;
    }
    lapic_write(LAPIC_ICR_HI, apic_id << 24);
    lapic_write(LAPIC_ICR_LO, lo);
    while (lapic_read(LAPIC_ICR_LO) & ICR_PENDING)
        uk_cpu_relax();
}

void lapic_send_ipi(unsigned apic_id, unsigned vector)
{
    icr_send(apic_id, vector);
}

void lapic_send_nmi(unsigned apic_id)
{
    icr_send(apic_id, ICR_NMI);
}

void lapic_send_init(unsigned apic_id)
{
    icr_send(apic_id, ICR_INIT | ICR_LEVEL_ASSERT);
}

void lapic_send_sipi(unsigned apic_id, unsigned page)
{
    icr_send(apic_id, ICR_STARTUP | (page & 0xff));
}
