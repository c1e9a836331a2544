/*
 * Guest TSC -> host CLOCK_MONOTONIC for `ukctl trace --with-host` and the
 * collector's crash-bundle timeline (trace_clock.c; docs/host-view.md "One
 * timeline").  No I/O: unit-tested on its own.
 */
#ifndef UKSCOPE_TRACE_CLOCK_H
#define UKSCOPE_TRACE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

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
 * shift gives a consistent (non-empty) intersection of at least 2 points
 * and half of min(ng, nh).
 */
int th_fit(struct th_clock *c, const struct th_sync *g, size_t ng, const struct th_hostw *hv,
           size_t nh);

/* Map guest ticks to host ns with c. */
uint64_t th_map(const struct th_clock *c, uint64_t tsc);

/* Host TSC at host CLOCK_MONOTONIC ns, with c's rate and pair only. */
int64_t th_host_tsc(const struct th_clock *c, uint64_t ns);

/*
 * A guest's host_sync records -> sync points, fed in each ring's order:
 * phase 0 then phase 1 of one seq on one ring (the guest writes them with
 * interrupts off around its port write).  An unmatched phase is dropped.
 * Zero-initialise; th_pairs_free when done.
 */
enum { TH_PAIR_RINGS = 256 }; /* rings beyond are ignored */
struct th_pairs {
    struct th_sync *pt;
    size_t n, cap;
    uint64_t open_seq[TH_PAIR_RINGS], open_g1[TH_PAIR_RINGS];
    uint8_t open[TH_PAIR_RINGS];
};
/* phase: 0 before the write, 1 after.  0, or -1 when out of memory. */
int th_pairs_feed(struct th_pairs *p, unsigned ring, uint64_t seq, uint64_t phase, uint64_t tsc);
void th_pairs_free(struct th_pairs *p);

#endif
