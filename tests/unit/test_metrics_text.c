/*
 * Unit tests of the metrics text renderer (guest-agent/common/metrics_text.c):
 * value formatting against an independent printf-based reference, and the
 * guest's template fast path (ukm_render_template + ukm_render_values)
 * against ukm_render for random values, valid and invalid entries, both
 * formats and short output buffers.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/metrics_page.h"

enum { ENTRIES_MAX = 400, OUT_BYTES = 1 << 16, ROUNDS = 300 };

static const uint32_t scales[] = {1, 1000, 1000000, 1000000000};

/* v/scale the slow, obvious way: integer part, then the fraction without trailing zeros. */
static void ref_value(char *b, size_t cap, int64_t v, uint32_t scale)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    const char *sign = v < 0 ? "-" : "";
    if (scale <= 1) {
        snprintf(b, cap, "%s%" PRIu64, sign, u);
        return;
    }
    int digits = 0;
    for (uint32_t s = scale; s > 1; s /= 10)
        digits++;
    uint64_t frac = u % scale;
    if (!frac) {
        snprintf(b, cap, "%s%" PRIu64, sign, u / scale);
        return;
    }
    snprintf(b, cap, "%s%" PRIu64 ".%0*" PRIu64, sign, u / scale, digits, frac);
    size_t n = strlen(b);
    while (b[n - 1] == '0')
        b[--n] = 0;
}

static void check_value(int64_t v, uint32_t scale)
{
    char want[64], got[64];
    struct ukm_out o = {got, 0, sizeof(got) - 1, false};
    ref_value(want, sizeof(want), v, scale);
    ukm_fmt_value(&o, v, scale);
    got[o.len] = 0;
    assert_false(o.overflow);
    assert_string_equal(got, want);
}

static int64_t rand_value(void)
{
    static const int64_t edges[] = {0, 1, -1, 9, 10, 99, 100, 999, 1000, 1001, 999999999,
                                    1000000000, 1000000001, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    switch (rand() % 4) {
    case 0:
        return edges[rand() % (int)(sizeof(edges) / sizeof(edges[0]))];
    case 1:
        return rand() % 2000 - 100;
    default: {
        uint64_t u = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
        return (int64_t)(u >> (rand() % 64));
    }
    }
}

static void test_values(void **st)
{
    check_value(1234567, 1000);
    check_value(-5, 1000);
    check_value(1500000000, 1000000000);
    check_value(INT64_MIN, 1);
    check_value(INT64_MAX, 1000000000);
    for (int i = 0; i < 200000; i++)
        check_value(rand_value(), scales[rand() % 4]);
    /* Exact text for a few, independent of the reference. */
    char b[32];
    struct ukm_out o = {b, 0, sizeof(b), false};
    ukm_fmt_value(&o, -1234500, 1000000);
    assert_int_equal(o.len, 7);
    assert_memory_equal(b, "-1.2345", 7);
    /* No room: flagged, nothing written past cap. */
    struct ukm_out small = {b, 0, 3, false};
    ukm_fmt_value(&small, 12345, 1);
    assert_true(small.overflow);
    assert_true(small.len <= 3);
}

static void family(struct ukm_entry *e, const char *name, enum ukm_type type, const char *help)
{
    memset(e, 0, sizeof(*e));
    e->kind = UKM_KIND_FAMILY;
    e->type = (uint16_t)type;
    e->scale = 1;
    snprintf(e->name, sizeof(e->name), "%s", name);
    snprintf(e->text, sizeof(e->text), "%s", help);
}

static void sample(struct ukm_entry *e, unsigned fam, const char *name, const char *labels,
                   uint32_t scale)
{
    memset(e, 0, sizeof(*e));
    e->kind = UKM_KIND_SAMPLE;
    e->family = (uint16_t)fam;
    e->scale = scale;
    snprintf(e->name, sizeof(e->name), "%s", name);
    snprintf(e->text, sizeof(e->text), "%s", labels);
}

/*
 * A page like the guest's: families of each type, samples interleaved with
 * later families (series created after other families), and a few bad
 * entries the renderer must skip the same way on both paths.
 */
static unsigned make_page(struct ukm_entry *e, bool with_bad)
{
    unsigned n = 0;
    family(&e[n++], "up_seconds", UKM_GAUGE, "Time since boot");
    sample(&e[n++], 0, "up_seconds", "", 1000000000);
    unsigned req = n;
    family(&e[n++], "reqs", UKM_COUNTER, "Requests");
    unsigned hist = n;
    family(&e[n++], "lat_seconds", UKM_HISTOGRAM, "Latency");
    static const char *const le[] = {"0.001", "0.01", "+Inf"};
    for (unsigned b = 0; b < 3; b++) {
        char l[32];
        snprintf(l, sizeof(l), "le=\"%s\"", le[b]);
        sample(&e[n++], hist, "lat_seconds_bucket", l, 1);
    }
    sample(&e[n++], hist, "lat_seconds_sum", "", 1000000000);
    sample(&e[n++], hist, "lat_seconds_count", "", 1);
    for (unsigned i = 0; i < 150; i++) {
        char l[48];
        snprintf(l, sizeof(l), "code=\"%u\",path=\"/p%u\"", 200 + i % 5, i);
        sample(&e[n++], req, "reqs_total", l, 1);
        if (i % 40 == 7) {
            char name[32];
            snprintf(name, sizeof(name), "g%u_bytes", i);
            unsigned f = n;
            family(&e[n++], name, UKM_GAUGE, "A gauge with a long help text, printable: ~!@#$%^&*()");
            sample(&e[n++], f, name, "", scales[(i / 40) % 4]);
        }
    }
    if (with_bad) {
        sample(&e[n++], req, "bad name", "", 1);          /* bad sample name */
        sample(&e[n++], req, "reqs_total", "a=\"\\\"", 1); /* backslash in labels */
        sample(&e[n++], req, "reqs_total", "", 7);        /* bad scale */
        sample(&e[n], n + 5, "orphan", "", 1); /* family after it */
        n++;
        family(&e[n++], "9bad", UKM_GAUGE, "bad family name");
        sample(&e[n], n - 1, "x", "", 1); /* its family is bad */
        n++;
        family(&e[n++], "badtype", 9, "x");
        e[n].kind = 77; /* unknown kind */
        n++;
    }
    return n;
}

/* Random values for a random subset of entries (the rest keep theirs). */
static void change_values(struct ukm_entry *e, unsigned count)
{
    unsigned mode = (unsigned)rand() % 3;
    for (unsigned i = 0; i < count; i++)
        if (mode == 0 || (mode == 1 && rand() % 8 == 0))
            e[i].value = rand_value();
        else if (mode == 2 && rand() % 4 == 0)
            e[i].value = (int64_t)((uint64_t)e[i].value + (uint64_t)(rand() % 3)); /* small steps */
}

/* ukm_render_values(t, e) must equal ukm_render(e, count) within cap. */
static void check_values(struct ukm_template *t, const struct ukm_entry *e, unsigned count,
                         bool om, size_t cap)
{
    static char want[OUT_BYTES], got[OUT_BYTES];
    struct ukm_out w = {want, 0, cap, false}, g = {got, 0, cap, false};
    ukm_render(e, count, om, &w);
    ukm_render_values(t, e, &g);
    assert_true(w.len <= cap);
    assert_true(g.len <= cap);
    assert_int_equal(g.overflow, w.overflow);
    if (!w.overflow) {
        assert_int_equal(g.len, w.len);
        assert_memory_equal(got, want, w.len);
    }
}

/* A template of e[0, count); its text is ukm_render's output. */
static void make_template(struct ukm_template *t, char *text, struct ukm_slot *slots,
                          const struct ukm_entry *e, unsigned count, bool om)
{
    static char want[OUT_BYTES];
    struct ukm_out tout = {text, 0, OUT_BYTES, false}, w = {want, 0, OUT_BYTES, false};
    unsigned nslots;
    unsigned bad = ukm_render_template(e, count, om, &tout, slots, &nslots);
    assert_false(tout.overflow);
    assert_true(nslots <= count);
    assert_int_equal(bad, ukm_render(e, count, om, &w));
    assert_int_equal(tout.len, w.len);
    assert_memory_equal(text, want, w.len);
    *t = (struct ukm_template){text, tout.len, slots, nslots};
}

static void test_template_equals_render(void **st)
{
    static struct ukm_entry e[ENTRIES_MAX];
    static char text[OUT_BYTES];
    static struct ukm_slot slots[ENTRIES_MAX];
    for (int bad = 0; bad < 2; bad++) {
        unsigned full = make_page(e, bad);
        assert_true(full <= ENTRIES_MAX);
        for (unsigned r = 0; r < 40; r++) {
            /* Every prefix of the page: a template is made per entry count. */
            unsigned count = r % 4 ? full : (unsigned)rand() % (full + 1);
            bool om = r & 1;
            struct ukm_template t;
            for (unsigned i = 0; i < full; i++)
                e[i].value = rand_value();
            make_template(&t, text, slots, e, count, om);
            check_values(&t, e, count, om, OUT_BYTES); /* nothing changed */
            for (unsigned k = 0; k < 30; k++) {
                change_values(e, full);
                check_values(&t, e, count, om, OUT_BYTES);
            }
        }
    }
}

/* Output buffers too small: both paths flag it and stay within cap. */
static void test_template_overflow(void **st)
{
    static struct ukm_entry e[ENTRIES_MAX];
    static char text[OUT_BYTES];
    static struct ukm_slot slots[ENTRIES_MAX];
    unsigned count = make_page(e, false);
    for (unsigned r = 0; r < ROUNDS; r++) {
        struct ukm_template t;
        make_template(&t, text, slots, e, count, r & 1);
        change_values(e, count);
        check_values(&t, e, count, r & 1, (size_t)rand() % 4096);
        check_values(&t, e, count, r & 1, OUT_BYTES);
    }
}

/* Slots point at the values' text; changing one value changes only its text. */
static void test_template_slots(void **st)
{
    static struct ukm_entry e[ENTRIES_MAX];
    static char text[OUT_BYTES], got[OUT_BYTES];
    static struct ukm_slot slots[ENTRIES_MAX];
    unsigned count = make_page(e, false);
    for (unsigned i = 0; i < count; i++)
        e[i].value = 0;
    struct ukm_template t;
    make_template(&t, text, slots, e, count, false);
    unsigned samples = 0;
    for (unsigned i = 0; i < count; i++)
        samples += e[i].kind == UKM_KIND_SAMPLE;
    assert_int_equal(t.nslots, samples);
    for (unsigned i = 0; i < t.nslots; i++) {
        assert_true(i == 0 || slots[i].at > slots[i - 1].at);
        assert_int_equal(e[slots[i].entry].kind, UKM_KIND_SAMPLE);
        assert_int_equal(slots[i].len, 1);
        assert_memory_equal(text + slots[i].at - 1, " 0\n", 3);
    }
    e[slots[3].entry].value = 424242; /* longer: the template keeps "0" */
    e[slots[5].entry].value = 7;      /* same length: the template shows 7 from now on */
    struct ukm_out g = {got, 0, sizeof(got) - 1, false};
    ukm_render_values(&t, e, &g);
    got[g.len] = 0;
    assert_non_null(strstr(got, " 424242\n"));
    assert_int_equal(g.len, t.len + 5);
    assert_int_equal(text[slots[3].at], '0');
    assert_int_equal(text[slots[5].at], '7');
    assert_int_equal(slots[5].value, 7);
}

/*
 * OpenMetrics gets a # UNIT line for every family whose name ends with a
 * base unit (seconds, bytes), right after # TYPE; the 0.0.4 text never does
 * (Prometheus 2.42's text parser has no UNIT), and unitless names get none.
 */
static void test_unit_lines(void **st)
{
    struct ukm_entry e[6];
    char buf[4096];
    struct ukm_out o = {buf, 0, sizeof(buf) - 1, false};

    family(&e[0], "ukscope_uptime_seconds", UKM_GAUGE, "Seconds since boot");
    sample(&e[1], 0, "ukscope_uptime_seconds", "", 1000000000);
    e[1].value = 1500000000;
    family(&e[2], "ukscope_net_bytes", UKM_COUNTER, "Bytes");
    sample(&e[3], 2, "ukscope_net_bytes_total", "direction=\"rx\"", 1);
    family(&e[4], "ukscope_threads", UKM_GAUGE, "Threads");
    sample(&e[5], 4, "ukscope_threads", "state=\"ready\"", 1);
    assert_int_equal(ukm_render(e, 6, true, &o), 0);
    buf[o.len] = 0;
    assert_non_null(strstr(buf, "# TYPE ukscope_uptime_seconds gauge\n"
                                "# UNIT ukscope_uptime_seconds seconds\n"
                                "ukscope_uptime_seconds 1.5\n"));
    assert_non_null(strstr(buf, "# TYPE ukscope_net_bytes counter\n"
                                "# UNIT ukscope_net_bytes bytes\n"));
    assert_null(strstr(buf, "# UNIT ukscope_threads"));
    assert_non_null(strstr(buf, "# EOF\n"));
    o.len = 0;
    assert_int_equal(ukm_render(e, 6, false, &o), 0);
    buf[o.len] = 0;
    assert_null(strstr(buf, "# UNIT"));
    assert_non_null(strstr(buf, "# TYPE ukscope_net_bytes_total counter\n"));
}

int main(void)
{
    srand(12345);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_unit_lines),
        cmocka_unit_test(test_template_equals_render),
        cmocka_unit_test(test_template_overflow),
        cmocka_unit_test(test_template_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
