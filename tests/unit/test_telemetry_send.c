/*
 * The guest sender's framing and loss accounting (guest-agent/guest/
 * telemetry_send.c, compiled for the host) against a scripted port that
 * accepts a chosen number of bytes: partial writes never leave half a
 * frame or interleave frames, drops are counted, and the host decoder
 * finds every gap accounted for.  The real port is exercised by
 * tests/e2e/test_telemetry.py; only here can partial writes be forced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "telemetry.h"
#include "telemetry_print.h"

/* ------------------------------------------------------- scripted port --- */

static struct {
    uint8_t out[1 << 20];
    size_t len;
    size_t budget;      /* bytes the port will still accept */
    size_t poll_refill; /* added by each uk_vcon_poll */
    bool connected;
    uint64_t now;
} port;

size_t uk_vcon_write(struct uk_vcon_port *p, const void *buf, size_t len)
{
    size_t n = len < port.budget ? len : port.budget;

    assert_true(port.len + n <= sizeof(port.out));
    memcpy(port.out + port.len, buf, n);
    port.len += n;
    port.budget -= n;
    return n;
}

void uk_vcon_poll(struct uk_vcon_port *p)
{
    port.budget += port.poll_refill;
}

bool uk_vcon_host_connected(const struct uk_vcon_port *p)
{
    return port.connected;
}

uint64_t uk_time_ns(void)
{
    return port.now += 1000;
}

void uk_delay_ns(uint64_t ns)
{
    port.now += ns;
}

const char *telem_instance_id(void)
{
    return "unit";
}

static void reset(size_t budget)
{
    memset(&port, 0, sizeof(port));
    port.budget = budget;
    port.connected = true;
    telem_send_init((struct uk_vcon_port *)&port);
}

static bool send_log(const char *text)
{
    telem_envelope e = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
    Ukscope__Telemetry__LogRecord l = UKSCOPE__TELEMETRY__LOG_RECORD__INIT;

    l.text = (char *)text;
    e.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_LOG;
    e.log = &l;
    return telem_send(&e);
}

/* Decode what reached the port; checks that it is a clean stream. */
static void decode_port(struct telem_stream *st, uint64_t *seqs, size_t *n)
{
    struct telem_decoder d;
    telem_envelope *e;
    char err[256];
    size_t off = 0;

    *n = 0;
    telem_stream_init(st, fopen("/dev/null", "w"), false);
    assert_int_equal(telem_dec_init(&d), 0);
    while (off < port.len) {
        off += telem_dec_feed(&d, port.out + off, port.len - off);
        for (;;) {
            enum telem_dec_status s = telem_dec_next(&d, &e, err, sizeof(err));
            if (s == TELEM_DEC_MORE)
                break;
            if (s != TELEM_DEC_FRAME)
                fail_msg("decoder: %s", err);
            seqs[(*n)++] = e->seq;
            telem_stream_envelope(st, e);
            telem_envelope_free(e);
        }
    }
    assert_int_equal(telem_dec_finish(&d, err, sizeof(err)), 0);
    telem_dec_free(&d);
    fclose(st->out);
}

/* --------------------------------------------------------------- tests --- */

static void test_all_accepted(void **state)
{
    struct telem_stream st;
    uint64_t seqs[16];
    size_t n;

    reset(SIZE_MAX);
    for (int i = 0; i < 10; i++)
        assert_true(send_log("hello"));
    decode_port(&st, seqs, &n);
    assert_int_equal(n, 10);
    assert_int_equal(seqs[9], 9);
    assert_int_equal(st.gaps, 0);
}

static void test_no_host_then_host(void **state)
{
    struct telem_counters c;
    struct telem_stream st;
    uint64_t seqs[16];
    size_t n;

    reset(0);
    for (int i = 0; i < 3; i++)
        assert_false(send_log("nobody reads"));
    port.connected = false; /* not even open: dropped without writing */
    port.budget = SIZE_MAX;
    for (int i = 0; i < 2; i++)
        assert_false(send_log("nobody there"));
    assert_int_equal(port.len, 0);
    port.connected = true;
    assert_true(send_log("now"));
    telem_counters_get(&c);
    assert_int_equal(c.produced, 6);
    assert_int_equal(c.lost, 5);
    decode_port(&st, seqs, &n);
    assert_int_equal(n, 1);
    assert_int_equal(seqs[0], 5);
    assert_true(st.complete); /* seq 5 says 5 lost */
    assert_int_equal(st.lost_sum, 5);
}

static void test_partial_write_is_completed_never_interleaved(void **state)
{
    struct telem_counters c;
    struct telem_stream st;
    uint64_t seqs[16];
    size_t n, first;

    reset(SIZE_MAX);
    assert_true(send_log("zero"));
    first = port.len;
    port.budget = 3; /* frame 1: only 3 bytes go out */
    assert_true(send_log("one, accepted in part"));
    assert_int_equal(port.len, first + 3);
    assert_false(send_log("two: frame 1 unfinished")); /* dropped whole */
    assert_int_equal(port.len, first + 3);
    port.budget = SIZE_MAX;
    assert_true(send_log("three")); /* completes 1, then writes 3 */
    telem_counters_get(&c);
    assert_int_equal(c.lost, 1);
    decode_port(&st, seqs, &n);
    assert_int_equal(n, 3);
    assert_int_equal(seqs[1], 1);
    assert_int_equal(seqs[2], 3);
    assert_int_equal(st.gaps, 1);
    assert_int_equal(st.unexplained_gaps, 0);
}

static void test_random_budgets_exact_accounting(void **state)
{
    static uint64_t seqs[4096];
    struct telem_counters c;
    struct telem_stream st;
    size_t n;
    char text[64];

    reset(0);
    srand(11);
    for (int i = 0; i < 3000; i++) {
        port.budget = (size_t)(rand() % 4 ? rand() % 40 : 0);
        snprintf(text, sizeof(text), "record %d %.*s", i, rand() % 30,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        send_log(text);
    }
    port.budget = SIZE_MAX;
    telem_send_flush();
    telem_counters_get(&c);
    decode_port(&st, seqs, &n);
    assert_true(c.lost > 100 && n > 100);
    assert_int_equal(n + c.lost, c.produced);
    /* every drop is reported by the next delivered envelope... */
    assert_int_equal(st.lost_sum + c.lost_since, c.lost);
    assert_int_equal(st.unexplained_gaps, 0);
    assert_true(st.complete);
}

static void test_polled_send_waits_for_room(void **state)
{
    telem_envelope e = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
    Ukscope__Telemetry__CrashReport cr = UKSCOPE__TELEMETRY__CRASH_REPORT__INIT;
    struct telem_stream st;
    uint64_t seqs[4];
    size_t n;

    reset(0);
    port.poll_refill = 7; /* room appears only when polled */
    cr.message = "boom";
    e.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_CRASH;
    e.crash = &cr;
    assert_true(telem_send_polled(&e, port.now + 1000000000ull));
    decode_port(&st, seqs, &n);
    assert_int_equal(n, 1);
    assert_int_equal(st.crashes, 1);
    /* No room ever and a deadline: gives up, counts the drop. */
    reset(0);
    assert_false(telem_send_polled(&e, port.now + 1000000ull));
    assert_int_equal(port.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_accepted),
        cmocka_unit_test(test_no_host_then_host),
        cmocka_unit_test(test_partial_write_is_completed_never_interleaved),
        cmocka_unit_test(test_random_budgets_exact_accounting),
        cmocka_unit_test(test_polled_send_waits_for_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
