/*
 * Telemetry framing and host decoder: good streams in any piece size,
 * truncated, oversized and garbage frames with resync, and the stream's gap
 * and loss accounting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "telemetry_print.h"

/* ------------------------------------------------------------ helpers --- */

struct sbuf {
    uint8_t *p;
    size_t len;
};

static void put(struct sbuf *b, const void *d, size_t n)
{
    b->p = realloc(b->p, b->len + n);
    assert_non_null(b->p);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put_env(struct sbuf *b, const telem_envelope *e)
{
    size_t n = ukscope__telemetry__envelope__get_packed_size(e);
    uint8_t pre[TELEM_VARINT_MAX], *body = malloc(n ? n : 1);

    ukscope__telemetry__envelope__pack(e, body);
    put(b, pre, telem_varint_put(pre, (uint32_t)n));
    put(b, body, n);
    free(body);
}

static void put_log(struct sbuf *b, uint64_t seq, uint64_t lost, const char *text)
{
    telem_envelope e = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
    Ukscope__Telemetry__LogRecord l = UKSCOPE__TELEMETRY__LOG_RECORD__INIT;

    l.text = (char *)text;
    l.severity = 6;
    e.instance_id = "unit";
    e.seq = seq;
    e.lost = lost;
    e.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_LOG;
    e.log = &l;
    put_env(b, &e);
}

static void put_hb(struct sbuf *b, uint64_t seq, uint64_t lost, uint64_t produced,
                   uint64_t lost_total)
{
    telem_envelope e = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
    Ukscope__Telemetry__Heartbeat h = UKSCOPE__TELEMETRY__HEARTBEAT__INIT;

    h.envelopes_produced = produced;
    h.envelopes_lost = lost_total;
    e.seq = seq;
    e.lost = lost;
    e.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_HEARTBEAT;
    e.heartbeat = &h;
    put_env(b, &e);
}

/* What decoding a whole stream produced. */
struct result {
    unsigned frames, errors, resyncs;
    uint64_t seqs[64];
    char first_err[256], finish_err[256];
    bool finish_failed;
    struct telem_stream st;
    struct telem_dec_stats stats;
};

static void decode(const struct sbuf *b, size_t step, struct result *r)
{
    struct telem_decoder d;
    telem_envelope *e;
    char err[256];
    size_t off = 0;

    memset(r, 0, sizeof(*r));
    telem_stream_init(&r->st, fopen("/dev/null", "w"), false);
    assert_int_equal(telem_dec_init(&d), 0);
    while (off < b->len) {
        size_t n = b->len - off < step ? b->len - off : step;
        size_t took = telem_dec_feed(&d, b->p + off, n);
        assert_true(took > 0);
        off += took;
        for (;;) {
            enum telem_dec_status s = telem_dec_next(&d, &e, err, sizeof(err));
            if (s == TELEM_DEC_MORE)
                break;
            if (s == TELEM_DEC_ERROR) {
                if (!r->errors++)
                    snprintf(r->first_err, sizeof(r->first_err), "%s", err);
                telem_stream_problem(&r->st, "error", err);
                continue;
            }
            if (s == TELEM_DEC_RESYNCED)
                r->resyncs++;
            assert_non_null(e);
            if (r->frames < 64)
                r->seqs[r->frames] = e->seq;
            r->frames++;
            telem_stream_envelope(&r->st, e);
            telem_envelope_free(e);
        }
    }
    telem_dec_eof(&d);
    for (;;) {
        enum telem_dec_status s = telem_dec_next(&d, &e, err, sizeof(err));
        if (s == TELEM_DEC_MORE)
            break;
        if (s == TELEM_DEC_ERROR) {
            r->errors++;
            continue;
        }
        r->resyncs += s == TELEM_DEC_RESYNCED;
        if (r->frames < 64)
            r->seqs[r->frames] = e->seq;
        r->frames++;
        telem_envelope_free(e);
    }
    r->finish_failed = telem_dec_finish(&d, r->finish_err, sizeof(r->finish_err)) < 0;
    r->stats = d.stats;
    telem_dec_free(&d);
    fclose(r->st.out);
}

/* -------------------------------------------------------------- tests --- */

static void test_varint(void **state)
{
    uint8_t b[4];
    uint32_t v;
    size_t used;
    const uint32_t vals[] = {0, 1, 127, 128, 16383, 16384, TELEM_FRAME_MAX};

    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        size_t n = telem_varint_put(b, vals[i]);
        assert_true(n >= 1 && n <= TELEM_VARINT_MAX);
        assert_int_equal(telem_varint_get(b, n, &v, &used), TELEM_VARINT_OK);
        assert_int_equal(v, vals[i]);
        assert_int_equal(used, n);
        if (n > 1)
            assert_int_equal(telem_varint_get(b, n - 1, &v, &used), TELEM_VARINT_SHORT);
    }
    /* TELEM_FRAME_MAX + 1 */
    telem_varint_put(b, TELEM_FRAME_MAX + 1);
    assert_int_equal(telem_varint_get(b, 3, &v, &used), TELEM_VARINT_TOO_BIG);
    /* four continuation bytes: refused after three, without reading on */
    memset(b, 0xff, 4);
    assert_int_equal(telem_varint_get(b, 3, &v, &used), TELEM_VARINT_TOO_BIG);
    /* 0x80 0x00 is a padded zero */
    b[0] = 0x80, b[1] = 0;
    assert_int_equal(telem_varint_get(b, 2, &v, &used), TELEM_VARINT_OVERLONG);
}

static void test_good_stream_any_piece_size(void **state)
{
    struct sbuf b = {0};
    struct result r;
    const size_t steps[] = {1, 2, 3, 7, 64, 100000};

    put_log(&b, 0, 0, "hello");
    put_hb(&b, 1, 0, 2, 0);
    put_log(&b, 2, 0, "");
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        decode(&b, steps[i], &r);
        assert_int_equal(r.frames, 3);
        assert_int_equal(r.errors, 0);
        assert_false(r.finish_failed);
        assert_int_equal(r.seqs[0], 0);
        assert_int_equal(r.seqs[2], 2);
        assert_int_equal(r.st.gaps, 0);
        assert_int_equal(r.st.loss_checks_ok, 1);
    }
    free(b.p);
}

static void test_truncated(void **state)
{
    struct sbuf b = {0};
    struct result r;

    put_log(&b, 0, 0, "first");
    put_log(&b, 1, 0, "second, cut short");
    b.len -= 5;
    decode(&b, 4, &r);
    assert_int_equal(r.frames, 1);
    assert_true(r.finish_failed);
    assert_non_null(strstr(r.finish_err, "truncated frame"));
    /* only a piece of a length prefix */
    b.len = 0;
    put(&b, "\x85", 1);
    decode(&b, 1, &r);
    assert_int_equal(r.frames, 0);
    assert_true(r.finish_failed);
    assert_non_null(strstr(r.finish_err, "length prefix"));
    free(b.p);
}

static void test_oversized_then_resync(void **state)
{
    struct sbuf b = {0};
    struct result r;
    uint8_t pre[TELEM_VARINT_MAX];

    put_log(&b, 0, 0, "before");
    /* A prefix announcing 2 MiB, then 40 bytes of it, then good frames. */
    put(&b, "\x80\x80\x80\x01", 4);
    for (int i = 0; i < 40; i++)
        put(&b, "\xee", 1);
    put_log(&b, 1, 0, "after");
    put_log(&b, 2, 0, "and more");
    decode(&b, 5, &r);
    assert_int_equal(r.errors, 1);
    assert_non_null(strstr(r.first_err, "oversized"));
    assert_int_equal(r.resyncs, 1);
    assert_int_equal(r.frames, 3);
    assert_int_equal(r.seqs[1], 1);
    assert_int_equal(r.seqs[2], 2);
    assert_false(r.finish_failed);
    /* Exactly TELEM_FRAME_MAX + 1 is refused as well. */
    b.len = 0;
    put(&b, pre, telem_varint_put(pre, TELEM_FRAME_MAX + 1));
    decode(&b, 3, &r);
    assert_int_equal(r.errors, 1);
    free(b.p);
}

static void test_max_size_frame_accepted(void **state)
{
    struct sbuf b = {0};
    struct result r;
    size_t n = TELEM_FRAME_MAX - 64;
    char *big = malloc(n + 1);

    memset(big, 'x', n);
    big[n] = 0;
    put_log(&b, 0, 0, big);
    assert_true(b.len <= TELEM_FRAME_MAX + TELEM_VARINT_MAX);
    decode(&b, 65536, &r);
    assert_int_equal(r.frames, 1);
    assert_int_equal(r.errors, 0);
    free(big);
    free(b.p);
}

static void test_garbage(void **state)
{
    struct sbuf b = {0};
    struct result r;
    /* A body that is not protobuf: field 0 / wire type 7 */
    const uint8_t bad[] = {0x04, 0x07, 0xff, 0xff, 0xff};
    /* A valid Envelope with no payload (only seq = 5) */
    const uint8_t empty[] = {0x02, 0x10, 0x05};

    srand(7);
    put_log(&b, 0, 0, "ok");
    put(&b, bad, sizeof(bad));
    for (int i = 0; i < 300; i++) {
        uint8_t c = (uint8_t)rand();
        put(&b, &c, 1);
    }
    put_log(&b, 1, 0, "ok again");
    put(&b, empty, sizeof(empty));
    put_log(&b, 2, 0, "last");
    decode(&b, 13, &r);
    assert_int_equal(r.errors, 2);
    assert_non_null(strstr(r.first_err, "garbage frame"));
    assert_int_equal(r.resyncs, 2);
    assert_int_equal(r.frames, 3);
    assert_int_equal(r.seqs[1], 1);
    assert_int_equal(r.seqs[2], 2);
    free(b.p);
}

/*
 * The resync work must be linear in the input: every position is
 * header-checked about once, and the bytes handed to protobuf stay within
 * the documented budget.  (The old decoder re-unpacked a candidate at every
 * byte of a 24 KB tail, for minutes.)  Counted, not timed.
 */
static void assert_linear(const struct result *r)
{
    assert_true(r->stats.positions <= 2 * r->stats.fed + 64);
    assert_true(r->stats.unpack_bytes <=
                TELEM_RESYNC_WORK * r->stats.fed + TELEM_RESYNC_MAX);
}

static void test_garbage_tail_is_linear(void **state)
{
    static const size_t steps[] = {65536, 4096, 7, 1};
    struct sbuf b = {0};
    struct result r;
    uint32_t x = 12345;

    put_log(&b, 0, 0, "before");
    put(&b, "\x05\x07\xff\xff\xff\xff", 6); /* a bad frame starts the resync */
    for (int i = 0; i < 100 * 1024; i++) {
        uint8_t c;
        x = x * 1103515245 + 12345;
        c = (uint8_t)(x >> 16);
        put(&b, &c, 1);
    }
    put_log(&b, 1, 0, "after 100 KB of garbage");
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        decode(&b, steps[k], &r);
        assert_int_equal(r.frames, 2);
        assert_int_equal(r.seqs[1], 1);
        assert_int_equal(r.resyncs, 1);
        assert_linear(&r);
        /* random garbage rarely even looks like a frame start */
        assert_true(r.stats.unpacks < 64);
    }
    free(b.p);
}

/*
 * Hostile garbage: a plausible header (length 60000, the right instance_id,
 * a rising seq) every 10 bytes, so that every candidate is complete and
 * overlaps thousands of others.  The budget keeps the work linear.
 */
static void test_crafted_candidates_bounded(void **state)
{
    struct sbuf b = {0};
    struct result r;
    uint8_t h[16];

    put_log(&b, 0, 0, "before");
    put(&b, "\x05\x07\xff\xff\xff\xff", 6);
    for (uint32_t i = 0; i < 10000; i++) {
        size_t n = telem_varint_put(h, 60000);
        memcpy(h + n, "\x0a\x04unit\x10", 7);
        h[n + 7] = (uint8_t)(1 + i % 127);
        put(&b, h, n + 8);
    }
    put_log(&b, 200, 0, "after");
    decode(&b, 4096, &r);
    assert_true(r.frames >= 1);
    assert_true(r.stats.budget_refused > 0);
    assert_linear(&r);
    free(b.p);
}

static void test_gaps_and_loss_check(void **state)
{
    struct sbuf b = {0};
    struct result r;

    /* Reader joins late: seq 3 says 3 lost (0..2 dropped), complete. */
    put_log(&b, 3, 3, "a");
    put_log(&b, 4, 0, "b");
    put_log(&b, 9, 4, "c");   /* 5..8 dropped: accounted */
    put_hb(&b, 10, 0, 11, 7); /* guest: 11 produced, 7 lost == 3 + 4 */
    decode(&b, 8, &r);
    assert_int_equal(r.st.gaps, 1);
    assert_int_equal(r.st.unexplained_gaps, 0);
    assert_true(r.st.complete);
    assert_int_equal(r.st.loss_checks_ok, 1);
    assert_int_equal(r.st.loss_checks_bad, 0);
    assert_int_equal(r.st.lost_sum, 7);

    /* A gap the guest does not account for, and a wrong total. */
    b.len = 0;
    put_log(&b, 0, 0, "a");
    put_log(&b, 5, 2, "b");
    decode(&b, 8, &r);
    assert_int_equal(r.st.unexplained_gaps, 1);
    b.len = 0;
    put_log(&b, 0, 0, "a");
    put_hb(&b, 1, 0, 2, 1);
    decode(&b, 8, &r);
    assert_int_equal(r.st.loss_checks_bad, 1);
    free(b.p);
}

/* Metric samples: scaled integers print as exact decimals, a scale the
 * guest may not send is ignored (the raw integer), labels and parts shown. */
static void test_metric_samples_printed(void **state)
{
    telem_envelope e = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
    Ukscope__Telemetry__MetricSnapshot m = UKSCOPE__TELEMETRY__METRIC_SNAPSHOT__INIT;
    Ukscope__Telemetry__Sample s[3], *sp[3];
    Ukscope__Telemetry__Label l = UKSCOPE__TELEMETRY__LABEL__INIT, *lp = &l;
    struct telem_stream st;
    char *text = NULL;
    size_t len = 0;

    for (int i = 0; i < 3; i++) {
        ukscope__telemetry__sample__init(&s[i]);
        s[i].value_case = UKSCOPE__TELEMETRY__SAMPLE__VALUE_INT_VALUE;
        sp[i] = &s[i];
    }
    s[0].name = "ukscope_uptime_seconds";
    s[0].int_value = 1500000000;
    s[0].scale = 1000000000;
    s[0].type = UKSCOPE__TELEMETRY__SAMPLE__TYPE__GAUGE;
    s[1].name = "x_seconds_bucket";
    s[1].int_value = 42;
    s[1].scale = 7; /* not a scale the guest sends */
    s[1].type = UKSCOPE__TELEMETRY__SAMPLE__TYPE__HISTOGRAM;
    l.name = "le";
    l.value = "0.5";
    s[1].n_labels = 1;
    s[1].labels = &lp;
    s[2].name = "neg";
    s[2].int_value = -2500;
    s[2].scale = 1000;
    m.samples = sp;
    m.n_samples = 3;
    m.part = 1;
    m.parts = 2;
    m.snapshot_ns = 99;
    e.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_METRICS;
    e.metrics = &m;

    FILE *f = open_memstream(&text, &len);
    telem_stream_init(&st, f, false);
    telem_stream_envelope(&st, &e);
    fclose(f);
    assert_non_null(strstr(text, "metrics part 2/2, 3 samples\n"));
    assert_non_null(strstr(text, "    ukscope_uptime_seconds 1.5\n"));
    assert_non_null(strstr(text, "    x_seconds_bucket{le=\"0.5\"} 42\n"));
    assert_non_null(strstr(text, "    neg -2.5\n"));
    free(text);

    json_t *j = telem_payload_json(&e);
    json_t *a = json_object_get(j, "samples");
    assert_int_equal(json_integer_value(json_object_get(j, "parts")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "snapshot_ns")), 99);
    json_t *up = json_array_get(a, 0), *b = json_array_get(a, 1);
    assert_true(json_real_value(json_object_get(up, "value")) == 1.5);
    assert_int_equal(json_integer_value(json_object_get(up, "int_value")), 1500000000);
    assert_int_equal(json_integer_value(json_object_get(up, "scale")), 1000000000);
    assert_string_equal(json_string_value(json_object_get(b, "type")), "histogram");
    assert_int_equal(json_integer_value(json_object_get(b, "value")), 42);
    assert_null(json_object_get(b, "scale"));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_good_stream_any_piece_size),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_oversized_then_resync),
        cmocka_unit_test(test_max_size_frame_accepted),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_garbage_tail_is_linear),
        cmocka_unit_test(test_crafted_candidates_bounded),
        cmocka_unit_test(test_gaps_and_loss_check),
        cmocka_unit_test(test_metric_samples_printed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
