/*
 * Guest TSC -> host CLOCK_MONOTONIC for `ukctl trace --with-host`
 * (trace_host.h, docs/host-view.md "One timeline").
 *
 * Under TCG QEMU's guest TSC is the host TSC plus a constant (QEMU's
 * cpu_ticks_offset, fixed when the VM starts); under KVM the VM's TSC offset
 * plays that role (no TSC scaling between two counters of the same host).
 * So host TSC = guest ticks + k for one unknown k.  Each guest host_sync
 * point brackets a span the host saw (QEMU's write(2) of the sync byte,
 * from syscall entry e to return r) between two guest stamps g1 <= g2: the
 * guest read g1 before e and g2 after r, so k lies in [r - g2, e - g1].  Intersecting all brackets bounds k; its midpoint is the
 * estimate and half the width the error bound.  That bound is rigorous as
 * long as the model holds: an empty intersection says it does not (or the
 * pairing is wrong), and the fit fails instead of guessing.
 */
#include <stdlib.h>
#include <string.h>

#include "trace_host.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Intersection of the brackets for host index j = seq - d. */
static unsigned intersect(const struct th_sync *g, size_t ng, const struct th_hostw *hv, size_t nh,
                          int64_t d, int64_t *lo, int64_t *hi)
{
    unsigned n = 0;
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    for (size_t i = 0; i < ng; i++) {
        int64_t j = (int64_t)g[i].seq - d;
        if (j < 0 || j >= (int64_t)nh)
            continue;
        int64_t a = hv[j].ret - (int64_t)g[i].g2, b = hv[j].enter - (int64_t)g[i].g1;
        if (a > *lo)
            *lo = a;
        if (b < *hi)
            *hi = b;
        n++;
    }
    return n;
}

int th_fit(struct th_clock *c, const struct th_sync *g, size_t ng, const struct th_hostw *hv,
           size_t nh)
{
    if (ng < 2 || nh < 2)
        return -1;
    uint64_t smin = UINT64_MAX, smax = 0;
    for (size_t i = 0; i < ng; i++) {
        if (g[i].g2 < g[i].g1)
            return -1;
        smin = g[i].seq < smin ? g[i].seq : smin;
        smax = g[i].seq > smax ? g[i].seq : smax;
    }
    /* Every shift that pairs at least two points; the right one is the one
     * whose brackets agree (a wrong one is off by a whole sync period). */
    unsigned best_n = 0;
    int64_t best_lo = 0, best_hi = 0;
    for (int64_t d = (int64_t)smin - (int64_t)nh + 1; d <= (int64_t)smax; d++) {
        int64_t lo, hi;
        unsigned n = intersect(g, ng, hv, nh, d, &lo, &hi);
        if (n < 2 || lo > hi)
            continue;
        if (n > best_n || (n == best_n && hi - lo < best_hi - best_lo)) {
            best_n = n;
            best_lo = lo;
            best_hi = hi;
        }
    }
    if (!best_n)
        return -1;
    c->k = best_lo + (best_hi - best_lo) / 2;
    c->bound_ns = (double)((long double)(best_hi - best_lo) / 2 * c->ns_per_tick);
    c->points = best_n;
    uint64_t *w = malloc(ng * sizeof(*w));
    if (w) {
        for (size_t i = 0; i < ng; i++)
            w[i] = g[i].g2 - g[i].g1;
        qsort(w, ng, sizeof(*w), cmp_u64);
        c->bracket_ns = (double)((long double)w[ng / 2] * c->ns_per_tick);
        free(w);
    }
    return 0;
}

uint64_t th_map(const struct th_clock *c, uint64_t tsc)
{
    long double ticks = (long double)(int64_t)tsc + (long double)c->k - (long double)c->t0;
    long double ns = (long double)c->m0 + ticks * c->ns_per_tick;
    return ns < 0 ? 0 : (uint64_t)ns;
}
