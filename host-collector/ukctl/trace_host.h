/*
 * `ukctl trace --with-host` (trace_host.c): record the host's scheduler,
 * syscall and KVM events of one instance's QEMU (hosttrace BPF programs)
 * while draining the guest's rings, map the guest TSC to the host's
 * CLOCK_MONOTONIC from the guest's host_sync points, and write one Perfetto
 * trace with both.  docs/host-view.md "One timeline".
 */
#ifndef UKCTL_TRACE_HOST_H
#define UKCTL_TRACE_HOST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_reader.h"

/* A guest TSC (ticks since guest time zero) -> host CLOCK_MONOTONIC ns map:
 * host_ns = m0 + (tsc + k - t0) * ns_per_tick, where k is the constant
 * host TSC - guest TSC and (t0, m0) a sampled host (TSC, monotonic) pair. */
struct th_clock {
    long double ns_per_tick;
    int64_t t0, m0;
    int64_t k;         /* host TSC minus guest ticks since guest time zero */
    double bound_ns;   /* half the width of the intersected sync brackets */
    double bracket_ns; /* median width of one sync bracket */
    unsigned points;   /* sync points used */
};

/* One guest sync point: guest ticks just before and just after the port
 * write (g1 <= g2) and its sequence number. */
struct th_sync {
    uint64_t seq, g1, g2;
};

/* One host sync write: host TSC at the syscall's entry and at its return
 * (ret >= enter; ret = enter when the return was not seen). */
struct th_hostw {
    int64_t enter, ret;
};

/*
 * Fit c->k from ng guest sync points (any order) and the host writes
 * hv[0..nh) in time order (hv[j] belongs to the guest point with
 * seq = j + d for one unknown shift d): k lies in [ret - g2, enter - g1]
 * for every pair.  c->ns_per_tick, t0, m0 must be set.  0, or -1 when no
 * shift gives a consistent (non-empty) intersection of at least 2 points.
 */
int th_fit(struct th_clock *c, const struct th_sync *g, size_t ng, const struct th_hostw *hv,
           size_t nh);

/* Map guest ticks to host ns with c. */
uint64_t th_map(const struct th_clock *c, uint64_t tsc);

/* The whole command after the trace header is open; out is the Perfetto
 * output path.  Returns the process exit code. */
int trace_with_host(const char *run_dir, struct utr *t, double duration_s, const char *out,
                    volatile sig_atomic_t *stop);

#endif
