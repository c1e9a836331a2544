/*
 * Guest TSC -> host CLOCK_MONOTONIC (trace_clock.h, docs/host-view.md
 * "One timeline").
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

#include "trace_clock.h"

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

/* How far the host's last sync write may be from the guest's last sync
 * point in sequence numbers: writes after the guest's last drain, points
 * whose writes came before the host recording started are ng at most. */
#define SEQ_SLACK 16

int th_fit(struct th_clock *c, const struct th_sync *g, size_t ng, const struct th_hostw *hv,
           size_t nh)
{
    if (ng < 2 || nh < 2 || nh > INT32_MAX || ng > INT32_MAX)
        return -1;
    int64_t smax = -1;
    for (size_t i = 0; i < ng; i++) {
        /* guest numbers: a forged huge seq only fails the fit (no overflow) */
        if (g[i].g2 < g[i].g1 || g[i].seq > INT64_MAX / 4 || g[i].g2 > INT64_MAX / 4)
            return -1;
        smax = (int64_t)g[i].seq > smax ? (int64_t)g[i].seq : smax;
    }
    /* Shifts d (host write j <-> guest seq j + d) that put the last host
     * write near the last guest point: at most ng + 2 * SEQ_SLACK candidates,
     * however the guest numbers its points.  The right shift is the one
     * whose brackets agree (a wrong one is off by whole sync periods). */
    unsigned best_n = 0;
    int64_t best_lo = 0, best_hi = 0;
    int64_t dlo = smax - (int64_t)ng - SEQ_SLACK - ((int64_t)nh - 1);
    int64_t dhi = smax + SEQ_SLACK - ((int64_t)nh - 1);
    for (int64_t d = dlo; d <= dhi; d++) {
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
    /* A pairing that agrees on a handful of points only is chance (two
     * brackets at the edge of a wrong shift can overlap): most of the host
     * writes must pair consistently. */
    if (!best_n || 2 * (size_t)best_n < (nh < ng ? nh : ng))
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

int64_t th_host_tsc(const struct th_clock *c, uint64_t ns)
{
    return c->t0 + (int64_t)((long double)((int64_t)ns - c->m0) / c->ns_per_tick);
}

int th_pairs_feed(struct th_pairs *p, unsigned ring, uint64_t seq, uint64_t phase, uint64_t tsc)
{
    if (ring >= TH_PAIR_RINGS)
        return 0;
    if (phase == 0) {
        p->open[ring] = 1;
        p->open_seq[ring] = seq;
        p->open_g1[ring] = tsc;
        return 0;
    }
    if (phase != 1 || !p->open[ring] || p->open_seq[ring] != seq) {
        p->open[ring] = 0;
        return 0;
    }
    p->open[ring] = 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct th_sync *n = realloc(p->pt, cap * sizeof(*n));
        if (!n)
            return -1;
        p->pt = n;
        p->cap = cap;
    }
    p->pt[p->n++] = (struct th_sync){seq, p->open_g1[ring], tsc};
    return 0;
}

void th_pairs_free(struct th_pairs *p)
{
    free(p->pt);
    p->pt = NULL;
    p->n = p->cap = 0;
}
