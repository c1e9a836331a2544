/* Unit tests of the RFC 5424 rendering of log records (collectd/rfc5424.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "collectd/rfc5424.h"
#include "rfc5424_check.h"

static struct logrec base(void)
{
    struct logrec r;
    memset(&r, 0, sizeof(r));
    strcpy(r.instance, "web-1");
    strcpy(r.boot_id, "0f8e2a4c-1111-4222-8333-444455556666");
    strcpy(r.build_id, "00112233445566778899aabbccddeeff00112233");
    r.seq = 42;
    r.time_wall_ns = 1700000000123456789LL; /* 2023-11-14T22:13:20.123456Z */
    r.severity = 4;
    r.cpu = 1;
    strcpy(r.thread, "idle");
    r.len = 5;
    memcpy(r.text, "hello", 5);
    return r;
}

static char out[RFC5424_MAX + 1];

static const char *fmt(const struct logrec *r, const char *host)
{
    size_t n = rfc5424_format(r, host, out, RFC5424_MAX);
    assert_true(n > 0);
    out[n] = 0;
    unsigned long long seq = ~0ULL;
    const char *err = rfc5424_check(out, n, &seq);
    if (err)
        fail_msg("%s in: %s", err, out);
    assert_int_equal(seq, r->seq);
    return out;
}

static void test_exact_klog(void **state)
{
    struct logrec r = base();
    assert_string_equal(
        fmt(&r, "host1"),
        "<132>1 2023-11-14T22:13:20.123456Z host1 ukscope web-1 klog [ukscope@32473 "
        "instance=\"web-1\" boot=\"0f8e2a4c-1111-4222-8333-444455556666\" "
        "build=\"00112233445566778899aabbccddeeff00112233\" seq=\"42\" cpu=\"1\" "
        "thread=\"idle\"] hello");
}

static void test_console_unknowns_and_nil(void **state)
{
    struct logrec r = base();
    r.source = LOGREC_CONSOLE;
    r.severity = 200; /* clamped to debug */
    r.cpu = -7;
    r.time_wall_ns = 0;
    r.instance[0] = 0;
    r.thread[0] = 0;
    r.len = 0;
    assert_string_equal(
        fmt(&r, NULL),
        "<15>1 - - ukscope - console [ukscope@32473 instance=\"\" "
        "boot=\"0f8e2a4c-1111-4222-8333-444455556666\" "
        "build=\"00112233445566778899aabbccddeeff00112233\" seq=\"42\" cpu=\"-1\" thread=\"\"]");
}

static void test_sd_escaping(void **state)
{
    struct logrec r = base();
    strcpy(r.instance, "a\"b\\c]d");
    strcpy(r.thread, "t]\"");
    const char *s = fmt(&r, "h");
    assert_non_null(strstr(s, " instance=\"a\\\"b\\\\c\\]d\" "));
    assert_non_null(strstr(s, " thread=\"t\\]\\\"\"]"));
    /* PROCID is PRINTUSASCII only: kept, quote and all, but no spaces. */
    assert_non_null(strstr(s, " ukscope a\"b\\c]d klog "));
}

static void test_hostile_text(void **state)
{
    struct logrec r = base();
    static const char t[] = "a\0b\nc\x1b[31m\x7f"
                            "\xc0\xaf"         /* overlong '/' */
                            "\xed\xa0\x80"     /* surrogate */
                            "\xf4\x90\x80\x80" /* > U+10FFFF */
                            "\xc2\x85"         /* C1 NEL */
                            "\xe2\x82"         /* truncated */
                            "\xc3\xa9]\"\\";   /* é and characters MSG does not escape */
    r.len = sizeof(t) - 1;
    memcpy(r.text, t, r.len);
    const char *s = fmt(&r, "h");
    const char *msg = strstr(s, "] ") + 2;
    assert_string_equal(msg, "a?b?c?[31m?"
                             "\xef\xbf\xbd\xef\xbf\xbd"
                             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                             "\xef\xbf\xbd"
                             "\xef\xbf\xbd\xef\xbf\xbd"
                             "\xc3\xa9]\"\\");
}

static void test_unterminated_fields_and_len(void **state)
{
    struct logrec r = base();
    memset(r.instance, 'i', sizeof(r.instance));
    memset(r.boot_id, '\xff', sizeof(r.boot_id));
    memset(r.build_id, ']', sizeof(r.build_id));
    memset(r.thread, 'x', sizeof(r.thread));
    memset(r.text, '\xff', sizeof(r.text));
    r.len = 65535; /* beyond text[]: clamped */
    size_t n = strlen(fmt(&r, "h"));
    assert_true(n < RFC5424_MAX);
    char inst[80] = "instance=\"";
    memset(inst + 10, 'i', 64);
    inst[74] = '"';
    inst[75] = 0;
    assert_non_null(strstr(out, inst));
}

static void test_hostname_sanitised_and_small_buffer(void **state)
{
    struct logrec r = base();
    char big[400];
    memset(big, 'h', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    big[3] = ' ';
    const char *s = fmt(&r, big);
    assert_non_null(strstr(s, " hhh_hhh"));
    char tiny[20];
    assert_int_equal(rfc5424_format(&r, "h", tiny, sizeof(tiny)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_klog),
        cmocka_unit_test(test_console_unknowns_and_nil),
        cmocka_unit_test(test_sd_escaping),
        cmocka_unit_test(test_hostile_text),
        cmocka_unit_test(test_unterminated_fields_and_len),
        cmocka_unit_test(test_hostname_sanitised_and_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
