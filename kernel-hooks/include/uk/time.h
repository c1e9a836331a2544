/*
 * Time: a monotonic nanosecond clock from the TSC.  The TSC frequency comes
 * from CPUID 0x15/0x16, the hypervisor leaf 0x40000010, or calibration
 * against the PIT, in that order (see uk_tsc_source()).
 */
#ifndef UK_TIME_H
#define UK_TIME_H

#include <uk/types.h>

#define UK_NSEC_PER_SEC 1000000000ULL
#define UK_MSEC(ms) ((uint64_t)(ms)*1000000ULL)
#define UK_USEC(us) ((uint64_t)(us)*1000ULL)

static inline uint64_t uk_tsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* TSC ticks per second; 0 before time is initialised. */
uint64_t uk_tsc_hz(void);

/* Where the TSC frequency came from: "cpuid15", "cpuid16", "hypervisor", "pit". */
const char *uk_tsc_source(void);

/* Convert TSC ticks (a difference) to nanoseconds without overflow. */
uint64_t uk_tsc_to_ns(uint64_t ticks);

/* Nanoseconds since boot (since time initialisation).  Monotonic across CPUs. */
uint64_t uk_time_ns(void);

/* TSC value at time zero; uk_time_ns() == uk_tsc_to_ns(uk_tsc() - uk_tsc_boot()). */
uint64_t uk_tsc_boot(void);

/* Busy-wait for at least ns nanoseconds (no scheduling). */
void uk_delay_ns(uint64_t ns);

#endif
