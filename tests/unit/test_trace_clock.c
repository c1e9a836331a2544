/* The guest TSC -> host CLOCK_MONOTONIC fit of `ukctl trace --with-host`
 * (host-collector/bpf/trace_clock.c): brackets from synthetic sync
 * points with a known offset, the pairing shift found, and the cases where
 * the fit must refuse (inconsistent brackets, too few points, forged
 * numbers from the guest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "trace_clock.h"

#define K      1000000000LL /* host TSC - guest ticks */
#define PERIOD 25000        /* ticks between sync points (10 us at 2.5 GHz) */
#define N      50

static struct th_sync g[N];
static struct th_hostw h[N];

static struct th_clock clk(void)
{
    struct th_clock c = {.ns_per_tick = 0.4L, .t0 = K, .m0 = 5000000};
    return c;
}

/* Guest points seq first..first+n-1; host writes for seq >= host_first.
 * The write starts pre ticks after g1 and ends post ticks before g2, both
 * varying per point; returns the number of host writes. */
static size_t make(uint64_t first, size_t n, uint64_t host_first, int64_t k)
{
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = first + i;
        int64_t g1 = 1000000 + (int64_t)i * PERIOD + (int64_t)(i * 7919 % 3000);
        int64_t pre = 500 + (int64_t)(i * 31 % 400), dur = 2000, post = 300 + (int64_t)(i * 17 % 500);
        g[i] = (struct th_sync){seq, (uint64_t)g1, (uint64_t)(g1 + pre + dur + post)};
        if (seq >= host_first)
            h[nh++] = (struct th_hostw){g1 + pre + k, g1 + pre + dur + k};
    }
    return nh;
}

static void test_fit_known_offset(void **st)
{
    struct th_clock c = clk();
    size_t nh = make(100, N, 110, K);
    assert_int_equal(th_fit(&c, g, N, h, nh), 0);
    assert_int_equal(c.points, nh);
    /* the true k is inside the bound, and the bound is half the tightest
     * pre + post of the paired points (503 and 310 ticks here) */
    assert_true(c.k - c.bound_ns / 0.4 - 1 <= K && K <= c.k + c.bound_ns / 0.4 + 1);
    assert_true(c.bound_ns >= (503 + 310) * 0.4 / 2 - 1 && c.bound_ns <= (503 + 310) * 0.4 / 2 + 1);
    /* mapping: guest ticks x -> m0 + (x + k - t0) * ns_per_tick */
    assert_int_equal(th_map(&c, 0), 5000000 + (uint64_t)((c.k - K) * 0.4L));
}

static void test_fit_unpaired_host_tail(void **st)
{
    /* host saw writes the guest's drain did not (the last 3) */
    struct th_clock c = clk();
    size_t nh = make(7, N, 10, K);
    assert_int_equal(th_fit(&c, g, N - 3, h, nh), 0);
    assert_int_equal(c.points, N - 3 - 3);
    assert_true(llabs(c.k - K) <= 400);
}

static void test_fit_inconsistent(void **st)
{
    /* the offset jumps half way (a VM paused and resumed, a TSC reset):
     * no single k fits, and the fit says so rather than guess */
    struct th_clock c = clk();
    size_t nh = make(0, N, 0, K);
    for (size_t j = nh / 2; j < nh; j++) {
        h[j].enter += 37000; /* 1.48 periods: no shift re-pairs them either */
        h[j].ret += 37000;
    }
    assert_int_equal(th_fit(&c, g, N, h, nh), -1);
}

static void test_fit_refuses(void **st)
{
    struct th_clock c = clk();
    size_t nh = make(0, N, 0, K);
    assert_int_equal(th_fit(&c, g, 1, h, nh), -1);
    assert_int_equal(th_fit(&c, g, N, h, 1), -1);
    assert_int_equal(th_fit(&c, g, 0, h, 0), -1);
    struct th_sync bad = g[3];
    g[3].g2 = g[3].g1 - 1; /* after before before */
    assert_int_equal(th_fit(&c, g, N, h, nh), -1);
    g[3] = bad;
    g[4].seq = UINT64_MAX; /* forged numbering: refused, no overflow */
    assert_int_equal(th_fit(&c, g, N, h, nh), -1);
    g[4].seq = INT64_MAX / 8; /* huge but valid: the real points no longer pair */
    assert_int_equal(th_fit(&c, g, N, h, nh), -1);
}

/* host_sync records -> sync points: phase 0 then 1 of one seq on one ring;
 * a phase 1 without its phase 0 (or of another seq), a second phase 0, an
 * unknown phase and a ring out of range make no point. */
static void test_pairs(void **st)
{
    struct th_pairs p = {0};
    assert_int_equal(th_pairs_feed(&p, 0, 5, 0, 100), 0);
    assert_int_equal(th_pairs_feed(&p, 1, 9, 0, 150), 0); /* another ring, interleaved */
    assert_int_equal(th_pairs_feed(&p, 0, 5, 1, 120), 0);
    assert_int_equal(th_pairs_feed(&p, 1, 9, 1, 160), 0);
    assert_int_equal(p.n, 2);
    assert_true(p.pt[0].seq == 5 && p.pt[0].g1 == 100 && p.pt[0].g2 == 120);
    assert_true(p.pt[1].seq == 9 && p.pt[1].g1 == 150 && p.pt[1].g2 == 160);
    th_pairs_feed(&p, 0, 6, 1, 200);          /* no phase 0 */
    th_pairs_feed(&p, 0, 7, 0, 210);
    th_pairs_feed(&p, 0, 8, 1, 220);          /* other seq */
    th_pairs_feed(&p, 0, 9, 0, 230);
    th_pairs_feed(&p, 0, 9, 7, 240);          /* unknown phase closes it */
    th_pairs_feed(&p, 0, 9, 1, 250);
    th_pairs_feed(&p, TH_PAIR_RINGS, 1, 0, 1); /* out of range: ignored */
    th_pairs_feed(&p, TH_PAIR_RINGS, 1, 1, 2);
    assert_int_equal(p.n, 2);
    for (unsigned i = 0; i < 100; i++) { /* grows */
        assert_int_equal(th_pairs_feed(&p, 3, i, 0, 1000 + i), 0);
        assert_int_equal(th_pairs_feed(&p, 3, i, 1, 1001 + i), 0);
    }
    assert_int_equal(p.n, 102);
    th_pairs_free(&p);
    assert_null(p.pt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_known_offset),
        cmocka_unit_test(test_fit_unpaired_host_tail),
        cmocka_unit_test(test_fit_inconsistent),
        cmocka_unit_test(test_fit_refuses),
        cmocka_unit_test(test_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
