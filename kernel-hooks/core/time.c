/*
 * TSC clocksource.  Frequency, in order of preference: CPUID 0x15 (crystal
 * ratio), the hypervisor timing leaf 0x40000010 (KVM/VMware convention:
 * EAX = TSC kHz), KVM's pvclock scale (exact, what Linux's kvmclock
 * uses), PIT calibration, CPUID 0x16 (base MHz, approximate).
 * `tsc_hz=` on the command line overrides everything (for odd hosts).
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <uk/cmdline.h>
#include <uk/klog.h>
#include <uk/time.h>

/* PIT calibration window: both ends are pinned to count edges, so 2 ms
 * gives ~0.1-0.3 % under TCG (the port reads are the error); it is only the
 * fallback when neither CPUID nor the host (ukctl passes tsc_hz=) knows. */
enum { PIT_CALIBRATE_US = 2000 };

static uint64_t tsc_hz, tsc_zero;
static uint64_t ns_mult; /* ns = ticks * ns_mult >> 32 */
static const char *tsc_src = "none";

static uint64_t hz_from_cpuid15(void)
{
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    if (a < 0x15)
        return 0;
    cpuid(0x15, 0, &a, &b, &c, &d);
    if (!a || !b || !c)
        return 0;
    return (uint64_t)c * b / a;
}

static uint64_t hz_from_cpuid16(void)
{
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    if (a < 0x16)
        return 0;
    cpuid(0x16, 0, &a, &b, &c, &d);
    return (uint64_t)(a & 0xffff) * 1000000ULL;
}

static uint64_t hz_from_hypervisor(void)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    if (!(c & (1u << 31))) /* not under a hypervisor */
        return 0;
    cpuid(0x40000000, 0, &a, &b, &c, &d);
    if (a < 0x40000010)
        return 0;
    cpuid(0x40000010, 0, &a, &b, &c, &d);
    return (uint64_t)a * 1000ULL;
}

/* KVM pvclock (Documentation/virt/kvm/x86/msr.rst): the scale KVM gives
 * for TSC -> ns conversion is exactly the TSC frequency KVM uses. */
struct pvclock_time {
    uint32_t version, pad0;
    uint64_t tsc_timestamp, system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags, pad[2];
} __attribute__((aligned(64)));
enum {
    KVM_CPUID_FEATURES = 0x40000001,
    KVM_FEATURE_CLOCKSOURCE2 = 1 << 3,
    MSR_KVM_SYSTEM_TIME_NEW = 0x4b564d01,
};

static uint64_t hz_from_kvmclock(void)
{
    static struct pvclock_time pv;
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    if (!(c & (1u << 31)))
        return 0;
    cpuid(0x40000000, 0, &a, &b, &c, &d);
    if (b != 0x4b4d564b || a < KVM_CPUID_FEATURES) /* "KVMK" */
        return 0;
    cpuid(KVM_CPUID_FEATURES, 0, &a, &b, &c, &d);
    if (!(a & KVM_FEATURE_CLOCKSOURCE2))
        return 0;
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uint64_t)(uintptr_t)&pv | 1);
    uint32_t mul = UK_READ_ONCE(pv.tsc_to_system_mul);
    int shift = UK_READ_ONCE(pv.tsc_shift);
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);
    if (!mul)
        return 0;
    /* ns = (tsc << shift) * mul >> 32  =>  hz = 1e9 * 2^32 / mul >> shift */
    unsigned __int128 hz = ((unsigned __int128)UK_NSEC_PER_SEC << 32) / mul;
    return (uint64_t)(shift >= 0 ? hz >> shift : hz << -shift);
}

static void set_hz(uint64_t hz, const char *src)
{
    tsc_hz = hz;
    tsc_src = src;
    ns_mult = (uint64_t)(((unsigned __int128)UK_NSEC_PER_SEC << 32) / hz);
}

void time_init(void)
{
    uint64_t hz;
    if ((hz = uk_cmdline_get_u64("tsc_hz", 0)))
        set_hz(hz, "cmdline");
    else if ((hz = hz_from_cpuid15()))
        set_hz(hz, "cpuid15");
    else if ((hz = hz_from_hypervisor()))
        set_hz(hz, "hypervisor");
    else if ((hz = hz_from_kvmclock()))
        set_hz(hz, "kvmclock");
    else if ((hz = pit_measure_tsc(PIT_CALIBRATE_US) * (1000000 / PIT_CALIBRATE_US)))
        set_hz(hz, "pit");
    else if ((hz = hz_from_cpuid16()))
        set_hz(hz, "cpuid16");
    else
        set_hz(1000000000ULL, "assumed");
    tsc_zero = boot_tsc_entry ? boot_tsc_entry : uk_tsc();
}

uint64_t uk_tsc_hz(void)
{
    return tsc_hz;
}

const char *uk_tsc_source(void)
{
    return tsc_src;
}

uint64_t uk_tsc_boot(void)
{
    return tsc_zero;
}

uint64_t uk_tsc_to_ns(uint64_t ticks)
{
    return (uint64_t)(((unsigned __int128)ticks * ns_mult) >> 32);
}

uint64_t uk_time_ns(void)
{
    if (!tsc_hz)
        return 0;
    uint64_t now = uk_tsc();
    return now > tsc_zero ? uk_tsc_to_ns(now - tsc_zero) : 0;
}

void uk_delay_ns(uint64_t ns)
{
    uint64_t end = uk_time_ns() + ns;
    while (uk_time_ns() < end)
        uk_cpu_relax();
}
