/*
 * In-guest tests of the metrics registry (guest-agent/guest/metrics.h):
 * series identity and bounds, per-CPU counters added from every CPU at
 * once, cumulative histogram buckets, label sanitising, all checked in the
 * rendered Prometheus text, the form users see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uk/cpu.h>
#include <uk/test.h>
#include <uk/thread.h>

#include "guest/metrics.h"

enum { ADDS_PER_THREAD = 20000, OUT_BYTES = 256 * 1024 };

/* Render the registry into a fresh buffer (caller frees); NULL on overflow. */
static char *render(void)
{
    struct ukm_out o = {malloc(OUT_BYTES), 0, OUT_BYTES - 1, false};
    if (!o.p)
        return NULL;
    um_update(false, &o);
    if (o.overflow) {
        free(o.p);
        return NULL;
    }
    o.p[o.len] = 0;
    return o.p;
}

/* True when `line` (a whole line) is in text. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

UK_TEST(metrics_series)
{
    static const char *const lbl[] = {"shape", "color", NULL};
    struct um_family *f = um_family("test_series_things", "Things", UKM_COUNTER, 1, lbl, 3, NULL, 0);
    UK_CHECK(f != NULL);
    struct um_series *a = um_series(f, "round", "red");
    UK_CHECK(a != NULL);
    /* The same label values find the same series, from another stack frame too. */
    char v0[16] = "round", v1[16] = "red";
    UK_CHECK(um_series(f, v0, v1) == a);
    UK_CHECK(um_series(f, "round", "blue") != a);
    /* Quotes, backslashes and control bytes cannot break the exposition. */
    struct um_series *odd = um_series(f, "a\"b\\c\nd", "x");
    UK_CHECK(odd != NULL);
    /* The bound: a fourth label set is refused and counted. */
    char *before = render();
    UK_CHECK(before != NULL);
    UK_CHECK(has_line(before, "ukscope_metrics_series_overflow_total 0"));
    UK_CHECK(um_series(f, "square", "red") == NULL);
    UK_CHECK(um_series(f, "round", "red") == a); /* existing ones still found */
    um_add(a, 5);
    um_add(um_series(f, "round", "red"), 2);
    um_add(NULL, 1); /* refused series: a no-op, not a crash */
    char *text = render();
    UK_CHECK(text != NULL);
    UK_CHECK(has_line(text, "ukscope_metrics_series_overflow_total 1"));
    UK_CHECK(has_line(text, "# TYPE test_series_things_total counter"));
    UK_CHECK(has_line(text, "test_series_things_total{shape=\"round\",color=\"red\"} 7"));
    UK_CHECK(has_line(text, "test_series_things_total{shape=\"round\",color=\"blue\"} 0"));
    UK_CHECK(has_line(text, "test_series_things_total{shape=\"a_b_c_d\",color=\"x\"} 0"));
    UK_CHECK(!strstr(text, "square"));
    free(before);
    free(text);
    return 0;
}

static struct um_series *shared;

static void adder(void *arg)
{
    for (unsigned i = 0; i < ADDS_PER_THREAD; i++)
        um_add(shared, 1);
}

UK_TEST(metrics_percpu)
{
    struct um_family *f = um_family("test_percpu_adds", "Adds from every CPU", UKM_COUNTER, 1,
                                    NULL, 1, NULL, 0);
    shared = um_series(f, NULL, NULL);
    UK_CHECK(shared != NULL);
    unsigned n = uk_cpu_count() < UK_CPU_MAX ? uk_cpu_count() : UK_CPU_MAX;
    struct uk_thread *th[UK_CPU_MAX];
    for (unsigned c = 0; c < n; c++) {
        struct uk_thread_attr at = {.cpu = (int)c};
        UK_CHECK(uk_thread_create("adder", adder, NULL, &at, &th[c]) == UK_OK);
    }
    for (unsigned c = 0; c < n; c++)
        UK_CHECK(uk_thread_join(th[c]) == UK_OK);
    char want[64], *text = render();
    UK_CHECK(text != NULL);
    snprintf(want, sizeof(want), "test_percpu_adds_total %u", n * ADDS_PER_THREAD);
    UK_CHECK(has_line(text, want));
    free(text);
    return 0;
}

UK_TEST(metrics_histogram)
{
    static const int64_t b[] = {1000, 5000, 250000}; /* ns: 1 µs, 5 µs, 250 µs */
    struct um_family *f = um_family("test_hist_seconds", "A histogram", UKM_HISTOGRAM,
                                    1000000000, NULL, 1, b, 3);
    struct um_series *s = um_series(f, NULL, NULL);
    UK_CHECK(s != NULL);
    static const int64_t obs[] = {500, 1000, 1001, 4000, 300000, 7};
    for (unsigned i = 0; i < UK_ARRAY_SIZE(obs); i++)
        um_observe(s, obs[i]);
    char *text = render();
    UK_CHECK(text != NULL);
    /* Upper bounds are inclusive and counts cumulative. */
    UK_CHECK(has_line(text, "# TYPE test_hist_seconds histogram"));
    UK_CHECK(has_line(text, "test_hist_seconds_bucket{le=\"0.000001\"} 3"));
    UK_CHECK(has_line(text, "test_hist_seconds_bucket{le=\"0.000005\"} 5"));
    UK_CHECK(has_line(text, "test_hist_seconds_bucket{le=\"0.00025\"} 5"));
    UK_CHECK(has_line(text, "test_hist_seconds_bucket{le=\"+Inf\"} 6"));
    UK_CHECK(has_line(text, "test_hist_seconds_sum 0.000306508"));
    UK_CHECK(has_line(text, "test_hist_seconds_count 6"));
    free(text);
    return 0;
}
