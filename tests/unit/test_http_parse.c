/* Unit tests of the mini-httpd request parser (guest-agent/common/http_parse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/http_parse.h"

static const struct http_limits lim = {.max_target = 64, .max_head = 256, .max_headers = 4, .max_body = 16};

static enum http_parse_result parse(const char *s, struct http_request *r)
{
    return http_parse(s, strlen(s), &lim, r);
}

static unsigned status_of(const char *s)
{
    struct http_request r;
    enum http_parse_result res = parse(s, &r);
    return res == HTTP_PARSE_ERROR ? r.status : res == HTTP_PARSE_DONE ? 200 : 0;
}

static void test_get(void **st)
{
    struct http_request r;
    const char *s = "GET /dmesg?since=5 HTTP/1.1\r\nHost: a\r\nAccept: text/plain, "
                    "application/openmetrics-text;version=1.0.0\r\nAuthorization: Bearer xyz \r\n\r\nGET";
    assert_int_equal(parse(s, &r), HTTP_PARSE_DONE);
    assert_int_equal(r.method, HTTP_GET);
    assert_int_equal(r.path.len, 6);
    assert_memory_equal(r.path.p, "/dmesg", 6);
    assert_int_equal(r.query.len, 7);
    assert_memory_equal(r.query.p, "since=5", 7);
    assert_true(r.keep_alive);
    assert_true(r.accept_openmetrics);
    assert_int_equal(r.authorization.len, 10);
    assert_int_equal(r.total, strlen(s) - 3); /* pipelined "GET" left over */
}

static void test_body_and_more(void **st)
{
    struct http_request r;
    assert_int_equal(parse("POST /kv/a HTTP/1.1\r\nContent-Length: 3\r\n\r\nab", &r), HTTP_PARSE_MORE);
    assert_int_equal(parse("POST /kv/a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", &r), HTTP_PARSE_DONE);
    assert_memory_equal(r.body, "abc", 3);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost", &r), HTTP_PARSE_MORE);
    assert_int_equal(parse("", &r), HTTP_PARSE_MORE);
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &r), HTTP_PARSE_DONE);
    assert_false(r.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", &r), HTTP_PARSE_DONE);
    assert_false(r.keep_alive);
    assert_int_equal(parse("BREW / HTTP/1.1\r\n\r\n", &r), HTTP_PARSE_DONE);
    assert_int_equal(r.method, HTTP_OTHER);
}

static void test_errors(void **st)
{
    char big[400];
    assert_int_equal(status_of("GARBAGE\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\n\n"), 400);
    assert_int_equal(status_of("GET  / HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET x HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\n folded\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nContent-Length: 17\r\n\r\n"), 413);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
    assert_int_equal(status_of("GET / HTTP/2.0\r\n\r\n"), 505);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n"), 431);
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /", 5);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(status_of(big), 414); /* long target, no line end yet */
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    assert_int_equal(status_of(big), 431); /* long header */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n"), 400);
    struct http_request r;
    assert_int_equal(http_parse("GET /\0 HTTP/1.1\r\n\r\n", 20, &lim, &r), HTTP_PARSE_ERROR);
}

/* Which answers end the connection (docs/metrics.md, "Connections"). */
static void test_status_closes(void **st)
{
    static const unsigned closes[] = {400, 408, 413, 414, 431, 501, 503, 505};
    static const unsigned keeps[] = {200, 204, 401, 403, 404, 405, 409, 500};

    for (size_t i = 0; i < sizeof(closes) / sizeof(closes[0]); i++)
        assert_true(http_status_closes(closes[i]));
    for (size_t i = 0; i < sizeof(keeps) / sizeof(keeps[0]); i++)
        assert_false(http_status_closes(keeps[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_status_closes),
        cmocka_unit_test(test_body_and_more),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
