/*
 * SMP: start the other vCPUs (count from fw_cfg) with INIT-SIPI-SIPI, all
 * at once and without waiting (smp_start), so they come up while the boot
 * CPU initialises devices; smp_wait collects them before the initcalls.
 * Cross-CPU calls and NMIs for stop-the-world.
 *
 * APIC ids are assumed to be 0..n-1 (QEMU's default topology), which holds
 * for microvm, pc and q35 with plain -smp N.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include "core/sched.h"
#include <string.h>
#include <uk/cmdline.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/time.h>

struct ap_params {
    uint64_t cr3, stacks, entry, unused;
};

extern const char ap_tramp_start[], ap_tramp_end[], ap_tramp_params[];
void ap_entry64(unsigned index);
void ap_start64(void); /* entry.S: calls ap_entry64 as the outermost frame */

static unsigned ncpus = 1;
static unsigned ap_want = 1;            /* CPUs smp_start sent SIPIs to, plus the BSP */
static uint64_t sipi_ns;                /* when */
static uint64_t ap_stacks[UK_CPU_MAX]; /* boot stack tops, read by the trampoline */

/* Per-target mailbox for uk_cpu_call. */
static struct call_box {
    struct uk_spinlock lock; /* one caller at a time per target */
    void (*volatile fn)(void *);
    void *arg;
    volatile bool done;
} call_box[UK_CPU_MAX];

unsigned uk_cpu_count(void)
{
    return ncpus;
}

int uk_cpu_apic_id(unsigned cpu)
{
    return cpu < ncpus ? (int)percpu_area[cpu].apic_id : -1;
}

void ap_entry64(unsigned index)
{
    cpu_init_ap(index, index);
    lapic_init_ap();
    percpu_area[index].apic_id = lapic_id();
    sched_init_cpu();
    __atomic_store_n(&percpu_area[index].online, true, __ATOMIC_RELEASE);
    sched_idle_loop();
}

/* IST and boot stacks of AP `index` (the boot stack becomes its idle thread's). */
static bool alloc_ap(unsigned index)
{
    struct percpu *pc = &percpu_area[index];
    for (unsigned i = 0; i < 3; i++)
        if (!(pc->ist_stack[i] = uk_stack_alloc(IST_STACK_SIZE / UK_PAGE_SIZE)))
            return false;
    uint8_t *stack = uk_stack_alloc(THREAD_STACK_SIZE / UK_PAGE_SIZE);
    if (!stack)
        return false;
    ap_stacks[index] = (uint64_t)(uintptr_t)stack + THREAD_STACK_SIZE;
    return true;
}

static bool ap_online(unsigned i)
{
    return __atomic_load_n(&percpu_area[i].online, __ATOMIC_ACQUIRE);
}

void smp_start(void)
{
    unsigned want = 1;
    if (fw_cfg_present())
        want = fw_cfg_read_u16(0x05); /* FW_CFG_NB_CPUS */
    uint64_t limit = uk_cmdline_get_u64("maxcpus", UK_CPU_MAX);
    want = (unsigned)UK_MIN(UK_MIN((uint64_t)want, limit), (uint64_t)UK_CPU_MAX);
    /* The boot CPU is online too: uk_ipi_nmi_others() from an AP must reach it. */
    __atomic_store_n(&percpu_area[0].online, true, __ATOMIC_RELEASE);
    for (ap_want = 1; ap_want < want; ap_want++) {
        if (!alloc_ap(ap_want)) {
            uk_warn("smp: no memory to start CPU %u", ap_want);
            break;
        }
    }
    if (ap_want == 1)
        return;

    size_t len = (size_t)(ap_tramp_end - ap_tramp_start);
    memcpy((void *)AP_TRAMPOLINE_PADDR, ap_tramp_start, len);
    struct ap_params *p =
        (void *)(AP_TRAMPOLINE_PADDR + (uintptr_t)(ap_tramp_params - ap_tramp_start));
    p->cr3 = mmu_cr3();
    p->stacks = (uint64_t)(uintptr_t)ap_stacks;
    p->entry = (uint64_t)(uintptr_t)ap_start64;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);

    /* APIC id == index (see the top of this file). */
    for (unsigned i = 1; i < ap_want; i++)
        lapic_send_init(i);
    /* The MP spec's 10 ms INIT delay is for old hardware; vCPUs need none. */
    uk_delay_ns(UK_USEC(100));
    for (unsigned i = 1; i < ap_want; i++)
        lapic_send_sipi(i, AP_TRAMPOLINE_PADDR >> 12);
    sipi_ns = uk_time_ns();
}

void smp_wait(void)
{
    bool resent = false;
    /* A slow (TCG, loaded host) AP may take a while: up to 1.2 s in all. */
    while (uk_time_ns() < sipi_ns + UK_MSEC(1200)) {
        unsigned up = 1;
        while (up < ap_want && ap_online(up))
            up++;
        if (up == ap_want)
            break;
        if (!resent && uk_time_ns() > sipi_ns + UK_MSEC(1)) {
            /* The second SIPI of INIT-SIPI-SIPI; one already running ignores it. */
            for (unsigned i = 1; i < ap_want; i++)
                if (!ap_online(i))
                    lapic_send_sipi(i, AP_TRAMPOLINE_PADDR >> 12);
            resent = true;
        }
        uk_cpu_relax();
    }
    /* CPUs are numbered without holes: count up to the first missing one. */
    unsigned n = 1;
    while (n < ap_want && ap_online(n))
        n++;
    if (n < ap_want)
        uk_warn("smp: CPU %u did not start", n);
    ncpus = n;
}

void uk_ipi_nmi_others(void)
{
    unsigned me = uk_cpu_id();
    for (unsigned c = 0; c < ncpus; c++)
        if (c != me && percpu_area[c].online)
            lapic_send_nmi(percpu_area[c].apic_id);
}

_Static_assert(VEC_STOP == UK_VEC_STOP, "stop vector of the contract");

void uk_ipi_stop_others(void)
{
    unsigned me = uk_cpu_id();
    for (unsigned c = 0; c < ncpus; c++)
        if (c != me && percpu_area[c].online)
            lapic_send_ipi(percpu_area[c].apic_id, VEC_STOP);
}

void uk_ipi_resched(unsigned cpu)
{
    if (cpu < ncpus && cpu != uk_cpu_id())
        lapic_send_ipi(percpu_area[cpu].apic_id, VEC_RESCHED);
}

void smp_call_interrupt(void)
{
    struct call_box *b = &call_box[uk_cpu_id()];
    lapic_eoi();
    void (*fn)(void *) = b->fn;
    if (fn) {
        b->fn = NULL;
        fn(b->arg);
        __atomic_store_n(&b->done, true, __ATOMIC_RELEASE);
    }
}

uk_result uk_cpu_call(unsigned cpu, void (*fn)(void *), void *arg)
{
    if (cpu >= ncpus || !fn)
        return UK_EINVAL;
    if (cpu == uk_cpu_id()) {
        unsigned long flags = uk_irq_save();
        fn(arg);
        uk_irq_restore(flags);
        return UK_OK;
    }
    struct call_box *b = &call_box[cpu];
    uk_spin_lock(&b->lock);
    b->arg = arg;
    b->done = false;
    __atomic_store_n(&b->fn, fn, __ATOMIC_RELEASE);
    lapic_send_ipi(percpu_area[cpu].apic_id, VEC_CALL);
    while (!__atomic_load_n(&b->done, __ATOMIC_ACQUIRE))
        uk_cpu_relax();
    uk_spin_unlock(&b->lock);
    return UK_OK;
}
