/*
 * TSC clocksource.  Frequency, in order of preference: CPUID 0x15 (crystal
 * ratio), the hypervisor timing leaf 0x40000010 (KVM/VMware convention:
 * EAX = TSC kHz), CPUID 0x16 (base MHz, approximate), PIT calibration.
 * `tsc_hz=` on the command line overrides everything (for odd hosts).
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <uk/cmdline.h>
#include <uk/klog.h>
#include <uk/time.h>

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
    else if ((hz = pit_measure_tsc(20000) * 50))
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
