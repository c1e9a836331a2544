/*
 * The host's TSC frequency, for the guest's tsc_hz= (under TCG the guest
 * reads the host's TSC: QEMU's rdtsc is the host counter plus an offset).
 */
#ifndef UKCTL_HOST_TSC_H
#define UKCTL_HOST_TSC_H

#include <stdint.h>

/*
 * Hz of the host TSC, measured against CLOCK_MONOTONIC_RAW over about
 * 10 ms (each end is the best of a few samples, bracketed by two TSC
 * reads: ~1e-5).  0 when the TSC is not invariant (no constant_tsc and
 * nonstop_tsc in /proc/cpuinfo) or not x86: then say nothing.
 */
uint64_t host_tsc_hz(void);

/*
 * One (host TSC, CLOCK_MONOTONIC ns) pair: the TSC read in the middle of
 * the tightest of a few brackets around clock_gettime.  Two pairs far
 * apart give the TSC's rate in monotonic ns (the guest-to-host timeline,
 * docs/host-view.md).  Zeros where there is no TSC.
 */
void host_tsc_pair(int64_t *tsc, int64_t *mono_ns);

#endif
