/*
 * libFuzzer: the guest TSC -> host clock fit of `ukctl trace --with-host`
 * (host-collector/bpf/trace_clock.c) on arbitrary sync points and host
 * writes.  The guest's numbers (seq, g1, g2) are hostile: the fit must stay
 * bounded in time and memory, never overflow, and when it succeeds its k
 * must lie inside every bracket it paired (checked via the bound).  The
 * rest of the input is a stream of hostile host_sync records for the
 * pairer (th_pairs_feed), whose points then go through the fit as well.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace_clock.h"

#define MAXN 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct th_sync g[MAXN];
    struct th_hostw h[MAXN];
    size_t ng = 0, nh = 0;

    if (size < 2)
        return 0;
    size_t want_g = data[0] % MAXN, want_h = data[1] % MAXN;
    data += 2;
    size -= 2;
    while (ng < want_g && size >= 24) {
        memcpy(&g[ng].seq, data, 8);
        memcpy(&g[ng].g1, data + 8, 8);
        memcpy(&g[ng].g2, data + 16, 8);
        ng++;
        data += 24;
        size -= 24;
    }
    while (nh < want_h && size >= 16) {
        memcpy(&h[nh].enter, data, 8);
        memcpy(&h[nh].ret, data + 8, 8);
        /* the caller's host values are its own clock reads: keep them sane */
        h[nh].enter &= INT64_MAX >> 2;
        h[nh].ret = h[nh].enter + (h[nh].ret & 0xffffff);
        nh++;
        data += 16;
        size -= 16;
    }
    struct th_clock c = {.ns_per_tick = 0.4L, .t0 = 1000, .m0 = 1000};
    if (th_fit(&c, g, ng, h, nh) == 0) {
        if (c.points < 2 || c.bound_ns < 0)
            abort();
        (void)th_map(&c, ng ? g[0].g1 : 0);
    }
    /* ring (1 byte, may be out of range), seq, phase (1 byte), tsc */
    struct th_pairs p = {0};
    size_t recs = 0;
    while (size >= 18) {
        uint64_t seq, tsc;
        memcpy(&seq, data + 1, 8);
        memcpy(&tsc, data + 10, 8);
        unsigned ring = data[0] == 0xff ? TH_PAIR_RINGS + 1 : data[0];
        if (th_pairs_feed(&p, ring, seq, data[9], tsc))
            abort(); /* only out of memory fails */
        recs++;
        data += 18;
        size -= 18;
    }
    if (p.n > recs / 2)
        abort(); /* a point takes two records */
    struct th_clock c2 = {.ns_per_tick = 0.4L, .t0 = 1000, .m0 = 1000};
    if (th_fit(&c2, p.pt, p.n, h, nh) == 0 && c2.points < 2)
        abort();
    th_pairs_free(&p);
    return 0;
}
