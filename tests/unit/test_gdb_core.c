/*
 * Unit tests: the gdb protocol core with a fake arch and transport.  Packet
 * tables (request payload -> exact framed reply), then framing edge cases:
 * bad checksums, NAK retransmits, truncated and oversized packets, escapes,
 * RLE, NoAck switching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdb_fake.h"

struct fx {
    struct gdb_state st;
    struct fake f;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    if (!x)
        return -1;
    gdb_init(&x->st, &fake_arch, &x->f, &fake_transport, &x->f);
    for (int i = 0; i < FAKE_MEM_SIZE; i++)
        x->f.mem[i] = (uint8_t)i;
    x->f.regs[0][0] = 0x1122334455667788ULL;
    x->f.regs[1][0] = 0x246;
    struct gdb_stop s = {.signo = GDB_SIGTRAP, .tid = 1};
    gdb_report_stop(&x->st, &s, false);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static enum gdb_feed_result feed_raw(struct fx *x, const char *s, size_t n)
{
    enum gdb_feed_result r = GDB_FEED_MORE;
    x->f.out_len = 0;
    x->f.out[0] = 0;
    for (size_t i = 0; i < n; i++)
        r = gdb_feed(&x->st, (uint8_t)s[i]);
    return r;
}

/* Frame `payload` (raw, no escaping) and feed it. */
static enum gdb_feed_result send_pkt(struct fx *x, const char *payload)
{
    char buf[GDB_PKT_MAX * 2];
    unsigned sum = 0;
    for (const char *p = payload; *p; p++)
        sum += (uint8_t)*p;
    int n = snprintf(buf, sizeof(buf), "$%s#%02x", payload, sum & 0xff);
    return feed_raw(x, buf, (size_t)n);
}

/* The expected framed form of a reply (payload already escaped). */
static const char *frame(const char *ack, const char *payload)
{
    static char buf[4096];
    unsigned sum = 0;
    for (const char *p = payload; *p; p++)
        sum += (uint8_t)*p;
    snprintf(buf, sizeof(buf), "%s$%s#%02x", ack, payload, sum & 0xff);
    return buf;
}

struct row {
    const char *req, *reply;
};

static const struct row table[] = {
    {"?", "T05thread:1;"},
    {"vMustReplyEmpty", ""},
    {"qFooBar", ""},
    {"bogus", ""},
    {"qAttached", "1"},
    {"qC", "QC1"},
    {"vCont?", "vCont;c;C;s;S;t"},
    {"g", "8877665544332211"
          "46020000"
          "0000000000000000"},
    {"p0", "8877665544332211"},
    {"p1", "46020000"},
    {"p3", "E01"},
    {"pzz", "E01"},
    {"P1=01000000", "OK"},
    {"p1", "01000000"},
    {"P1=0100", "E01"},
    {"m1000,4", "00010203"},
    {"m10fe,2", "feff"},
    {"m1fff,2", "E14"},
    {"m0,1", "E14"},
    {"mffffffffffffffff,2", "E01"},
    {"m1000", "E01"},
    {"m1000,", "E01"},
    {"m11112222333344445555,1", "E01"},
    {"M1000,2:abcd", "OK"},
    {"m1000,2", "abcd"},
    {"M1000,2:abc", "E01"},
    {"M1000,2:zzzz", "E01"},
    {"Hg2", "OK"},
    {"g", "0000000000000000"
          "00000000"
          "0000000000000000"},
    {"Hg1", "OK"},
    {"Hg5", "E01"},
    {"Hc-1", "OK"},
    {"Hx1", "E01"},
    {"T7", "OK"},
    {"T5", "E01"},
    {"qfThreadInfo", "m1,2,7"},
    {"qsThreadInfo", "l"},
    {"qThreadExtraInfo,2", "746872322072756e6e696e67"}, /* "thr2 running" */
    {"qThreadExtraInfo,9", "E01"},
    {"Z0,1010,1", "OK"},
    {"z0,1010,1", "OK"},
    {"z0,1010,1", "E01"},
    {"Z3,1010,4", ""},
    {"Z9,1010,1", ""},
    {"Z0,1010", "E01"},
    {"qXfer:features:read:target.xml:0,10", "m<target><archite"},
    {"qXfer:features:read:target.xml:1000,10", "l"},
    {"qXfer:features:read:target.xml:0", "E00"},
    {"qXfer:features:read:other.xml:0,10", ""},
    {"qRcmd,68656c70", "O68656c6c6f0a"}, /* then OK, checked separately */
    {"qRcmd,6", "E01"},
    {"vCont;x", "E01"},
    {"vCont;t:1", "OK"},
};

static void test_table(void **state)
{
    struct fx *x = *state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        assert_int_equal(send_pkt(x, table[i].req), GDB_FEED_MORE);
        const char *want = frame("+", table[i].reply);
        if (strncmp(x->f.out, want, strlen(want))) {
            print_error("request %s: got '%s' want '%s'\n", table[i].req, x->f.out, want);
            fail();
        }
    }
}

static void test_qsupported(void **state)
{
    struct fx *x = *state;
    send_pkt(x, "qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
    char want[32];
    snprintf(want, sizeof(want), "PacketSize=%x;", GDB_PKT_MAX); /* hex, per the protocol */
    assert_non_null(strstr(x->f.out, want));
    assert_non_null(strstr(x->f.out, "QStartNoAckMode+"));
    assert_non_null(strstr(x->f.out, "swbreak+"));
    assert_non_null(strstr(x->f.out, "qXfer:features:read+"));
    struct gdb_stop s = {.signo = GDB_SIGTRAP, .tid = 2, .kind = GDB_STOP_SWBREAK};
    gdb_report_stop(&x->st, &s, false);
    send_pkt(x, "?");
    assert_string_equal(x->f.out, frame("+", "T05swbreak:;thread:2;"));
    s = (struct gdb_stop){.signo = GDB_SIGTRAP, .tid = 7, .kind = GDB_STOP_WATCH, .addr = 0x1234};
    x->f.out_len = 0;
    gdb_report_stop(&x->st, &s, true);
    assert_string_equal(x->f.out, frame("", "T05watch:1234;thread:7;"));
}

static void test_resume(void **state)
{
    struct fx *x = *state;
    assert_int_equal(send_pkt(x, "c"), GDB_FEED_RESUME);
    assert_int_equal(x->st.resume.kind, GDB_RESUME_CONT);
    assert_int_equal(send_pkt(x, "s"), GDB_FEED_RESUME);
    assert_int_equal(x->st.resume.kind, GDB_RESUME_STEP);
    assert_int_equal(send_pkt(x, "vCont;s:2;c"), GDB_FEED_RESUME);
    assert_int_equal(x->st.resume.kind, GDB_RESUME_STEP);
    assert_int_equal(x->st.resume.tid, 2);
    assert_int_equal(send_pkt(x, "vCont;C0b:1;c"), GDB_FEED_RESUME);
    assert_int_equal(x->st.resume.kind, GDB_RESUME_CONT);
    assert_int_equal(send_pkt(x, "D"), GDB_FEED_RESUME);
    assert_int_equal(x->st.resume.kind, GDB_RESUME_DETACH);
    assert_string_equal(x->f.out, frame("+", "OK"));
    assert_int_equal(send_pkt(x, "k"), GDB_FEED_RESUME);
    assert_int_equal(x->st.resume.kind, GDB_RESUME_KILL);
}

static void test_monitor_ok(void **state)
{
    struct fx *x = *state;
    send_pkt(x, "qRcmd,7468726561647320");
    assert_string_equal(x->f.last_monitor, "threads ");
    char want[256];
    snprintf(want, sizeof(want), "%s", frame("+", "O68656c6c6f0a"));
    strcat(want, frame("", "OK"));
    assert_string_equal(x->f.out, want);
}

static void test_bad_checksum_and_nak(void **state)
{
    struct fx *x = *state;
    feed_raw(x, "$?#00", 5);
    assert_string_equal(x->f.out, "-");
    feed_raw(x, "$?#zz", 5);
    assert_string_equal(x->f.out, "-");
    assert_int_equal(x->st.stats.bad_checksum, 2);
    send_pkt(x, "qC");
    assert_string_equal(x->f.out, frame("+", "QC1"));
    /* gdb NAKs our reply: the same bytes go out again. */
    feed_raw(x, "-", 1);
    assert_string_equal(x->f.out, frame("", "QC1"));
    feed_raw(x, "+", 1);
    assert_string_equal(x->f.out, "");
}

static void test_truncated(void **state)
{
    struct fx *x = *state;
    /* A packet cut short by a new '$' is dropped; the new one is served. */
    const char *s = "$m1000,4$qC#b4";
    feed_raw(x, s, strlen(s));
    assert_string_equal(x->f.out, frame("+", "QC1"));
    assert_int_equal(x->st.stats.truncated, 1);
    /* Packet without checksum followed by noise: nothing happens until '#xx'. */
    feed_raw(x, "$qC", 3);
    assert_string_equal(x->f.out, "");
    feed_raw(x, "#b4", 3);
    assert_string_equal(x->f.out, frame("+", "QC1"));
}

static void test_oversized(void **state)
{
    struct fx *x = *state;
    size_t n = GDB_PKT_MAX + 100;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[0] = 'M';
    big[n] = 0;
    send_pkt(x, big);
    assert_string_equal(x->f.out, frame("+", "E0e"));
    assert_int_equal(x->st.stats.oversized, 1);
    free(big);
    send_pkt(x, "m1000,1");
    assert_string_equal(x->f.out, frame("+", "00"));
    /* A huge m is clamped to what fits a packet. */
    send_pkt(x, "m1000,100000");
    assert_string_equal(x->f.out, frame("+", "E14")); /* clamped to 8 KiB, not all mapped */
    send_pkt(x, "m1000,1000");
    assert_int_equal(strlen(x->f.out), 1 + 1 + 2 * 4096 + 3);
}

static void test_escape_and_binary(void **state)
{
    struct fx *x = *state;
    /* X1000,4:  bytes 7d 23 24 2a escaped as }] }\x03 }\x04 }\x0a */
    const char body[] = "X1000,4:}]}\x03}\x04}\x0a";
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof(body) - 1; i++)
        sum += (uint8_t)body[i];
    char pkt[64];
    int n = snprintf(pkt, sizeof(pkt), "$%s#%02x", body, sum & 0xff);
    feed_raw(x, pkt, (size_t)n);
    assert_string_equal(x->f.out, frame("+", "OK"));
    assert_memory_equal(x->f.mem, "\x7d\x23\x24\x2a", 4);
    /* X with a NUL byte in the data */
    n = snprintf(pkt, sizeof(pkt), "$X1000,1:");
    pkt[n++] = 0;
    unsigned s2 = 0;
    for (int i = 1; i < n; i++)
        s2 += (uint8_t)pkt[i];
    n += snprintf(pkt + n, sizeof(pkt) - (size_t)n, "#%02x", s2 & 0xff);
    feed_raw(x, pkt, (size_t)n);
    assert_string_equal(x->f.out, frame("+", "OK"));
    assert_int_equal(x->f.mem[0], 0);
    /* Length mismatch */
    send_pkt(x, "X1000,3:ab");
    assert_string_equal(x->f.out, frame("+", "E01"));
    /* A NUL outside X is refused, not parsed short. */
    const char bad[] = "$m1000\0,4#";
    unsigned s3 = 0;
    for (size_t i = 1; i < sizeof(bad) - 2; i++)
        s3 += (uint8_t)bad[i];
    n = snprintf(pkt, sizeof(pkt), "#%02x", s3 & 0xff);
    feed_raw(x, bad, sizeof(bad) - 2);
    feed_raw(x, pkt, (size_t)n);
    assert_string_equal(x->f.out, frame("+", "E01"));
    /* Replies escape $ # } *: memory holding them comes back escaped in X-free
     * hex anyway, but qXfer text is binary. */
    x->f.mem[0] = '$';
    send_pkt(x, "m1000,1");
    assert_string_equal(x->f.out, frame("+", "24"));
}

static void test_rle(void **state)
{
    struct fx *x = *state;
    /* X*n repeats X n-29 more times: '"' (34) gives 5 more. */
    send_pkt(x, "M1000,4:ff0*\"");
    assert_string_equal(x->f.out, frame("+", "OK")); /* "ff" + '0' + 5 more = 4 bytes */
    assert_memory_equal(x->f.mem, "\xff\x00\x00\x00", 4);
    send_pkt(x, "M1000,4:ff0*!"); /* '!' = 4 more: 7 hex digits */
    assert_string_equal(x->f.out, frame("+", "E01"));
    send_pkt(x, "M1000,4:f*\"00");
    assert_string_equal(x->f.out, frame("+", "OK"));
    assert_memory_equal(x->f.mem, "\xff\xff\xff\x00", 4);
}

static void test_noack(void **state)
{
    struct fx *x = *state;
    send_pkt(x, "QStartNoAckMode");
    assert_string_equal(x->f.out, frame("+", "OK"));
    send_pkt(x, "qC");
    assert_string_equal(x->f.out, frame("", "QC1"));
    feed_raw(x, "$?#00", 5); /* bad checksum: silently dropped */
    assert_string_equal(x->f.out, "");
    feed_raw(x, "-", 1); /* no retransmit in NoAck mode */
    assert_string_equal(x->f.out, "");
    /* qSupported leaves the mode alone (lldb negotiates NoAck first). */
    send_pkt(x, "qSupported");
    assert_int_equal(x->f.out[0], '$');
    assert_true(x->st.no_ack);
    /* A new client says '+' on connecting: ack mode is back on. */
    feed_raw(x, "+", 1);
    send_pkt(x, "qSupported");
    assert_int_equal(x->f.out[0], '+');
    assert_false(x->st.no_ack);
    assert_int_equal(x->st.stats.new_clients, 1);
    /* And so is it after gdb_reset_session (the transport saw a new client). */
    send_pkt(x, "QStartNoAckMode");
    gdb_reset_session(&x->st);
    send_pkt(x, "qC");
    assert_int_equal(x->f.out[0], '+');
}

/* What lldb 14 sends on `gdb-remote`, in its order: '+', QStartNoAckMode,
 * its ack of our OK, then qSupported and the rest.  After the OK the stub
 * must never send a '+' again (lldb logged "discarding spurious '+'"). */
static void test_noack_lldb_order(void **state)
{
    struct fx *x = *state;
    static const char *const after[] = {
        "qSupported:xmlRegisters=i386,arm,mips,arc;multiprocess+",
        "QThreadSuffixSupported",
        "QListThreadsInStopReply",
        "qHostInfo",
        "vCont?",
        "qVAttachOrWaitSupported",
        "QEnableErrorStrings",
        "qProcessInfo",
        "qC",
        "qfThreadInfo",
        "qsThreadInfo",
        "?",
        "jThreadsInfo",
        "qThreadStopInfo2",
        "qMemoryRegionInfo:1000",
        "qXfer:features:read:target.xml:0,fff",
        "p10",
    };
    feed_raw(x, "+", 1);
    assert_string_equal(x->f.out, "");
    send_pkt(x, "QStartNoAckMode");
    assert_string_equal(x->f.out, frame("+", "OK"));
    feed_raw(x, "+", 1); /* lldb acks the OK */
    for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
        send_pkt(x, after[i]);
        if (x->f.out_len && x->f.out[0] != '$') {
            print_error("after %s: '%s' (an ack in NoAck mode)\n", after[i], x->f.out);
            fail();
        }
    }
    assert_true(x->st.no_ack);
    assert_int_equal(x->st.stats.new_clients, 0);
}

/* lldb's queries: thread names, stop info, host/process info, regions. */
static void test_lldb_queries(void **state)
{
    struct fx *x = *state;
    char want[256];
    send_pkt(x, "jThreadsInfo");
    assert_non_null(
        strstr(x->f.out, "\"tid\":1,\"name\":\"thr1\",\"signal\":5,\"reason\":\"signal\""));
    assert_non_null(strstr(x->f.out, "\"tid\":2,\"name\":\"thr2\",\"signal\":0}"));
    /* Guest text is JSON-escaped; '"' and '}' escaped again by the framing. */
    assert_non_null(strstr(x->f.out, "\"name\":\"a<b>&\\\"c\""));
    assert_null(strstr(x->f.out, "E0"));
    send_pkt(x, "qThreadStopInfo7");
    snprintf(want, sizeof(want), "%s", frame("+", "T00thread:7;hexname:613c623e262263;"));
    assert_string_equal(x->f.out, want);
    send_pkt(x, "qThreadStopInfo1");
    assert_string_equal(x->f.out, frame("+", "T05thread:1;hexname:74687231;"));
    send_pkt(x, "qThreadStopInfo9");
    assert_string_equal(x->f.out, frame("+", "E01"));
    send_pkt(x, "qThreadStopInfozz");
    assert_string_equal(x->f.out, frame("+", "E01"));
    send_pkt(x, "qThreadStopInfo11111111111111111");
    assert_string_equal(x->f.out, frame("+", "E01"));
    /* "x86_64-unknown-none" in hex */
    send_pkt(x, "qHostInfo");
    assert_string_equal(x->f.out, frame("+", "triple:7838365f36342d756e6b6e6f776e2d6e6f6e65;"
                                             "ptrsize:8;endian:little;"));
    send_pkt(x, "qProcessInfo");
    assert_non_null(strstr(x->f.out, "$pid:1;triple:7838365f"));
    send_pkt(x, "qMemoryRegionInfo:1800");
    assert_string_equal(x->f.out, frame("+", "start:1000;size:1000;permissions:rw;"));
    send_pkt(x, "qMemoryRegionInfo:10");
    assert_string_equal(x->f.out, frame("+", "start:0;size:1000;"));
    send_pkt(x, "qMemoryRegionInfo:");
    assert_string_equal(x->f.out, frame("+", "E01"));
    send_pkt(x, "QListThreadsInStopReply");
    assert_string_equal(x->f.out, frame("+", "OK"));
    send_pkt(x, "?");
    assert_string_equal(x->f.out, frame("+", "T05thread:1;threads:1,2,7;"));
    /* A new session forgets it. */
    gdb_reset_session(&x->st);
    send_pkt(x, "?");
    assert_string_equal(x->f.out, frame("+", "T05thread:1;"));
}

/* Unknown registers travel as 'x' so gdb shows <unavailable>. */
static void test_unavailable_regs(void **state)
{
    struct fx *x = *state;
    send_pkt(x, "Hg7");
    send_pkt(x, "g");
    assert_string_equal(x->f.out, frame("+", "0000000000000000"
                                             "00000000"
                                             "xxxxxxxxxxxxxxxx"));
    send_pkt(x, "p2");
    assert_string_equal(x->f.out, frame("+", "xxxxxxxxxxxxxxxx"));
    send_pkt(x, "p1");
    assert_string_equal(x->f.out, frame("+", "00000000"));
}

static void test_threads_xml(void **state)
{
    struct fx *x = *state;
    send_pkt(x, "qXfer:threads:read::0,fff");
    assert_non_null(
        strstr(x->f.out, "<thread id=\"7\" core=\"0\" name=\"a&lt;b&gt;&amp;&quot;c\">"));
    assert_non_null(strstr(x->f.out, "<thread id=\"1\" core=\"0\" name=\"thr1\">running</thread>"));
    assert_int_equal(x->f.out[2], 'l');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qsupported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_monitor_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_checksum_and_nak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escape_and_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noack_lldb_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lldb_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable_regs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_xml, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
