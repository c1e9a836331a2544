/*
 * The collector's API address parser (host-collector/lib/netaddr.c):
 * `ukcollectd --listen` and $UKCOLLECTD_ADDR.  Negative cases first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "netaddr.h"

static int parse(const char *s, struct sockaddr_storage *ss)
{
    char err[128];
    socklen_t len;
    return netaddr_parse(s, ss, &len, err, sizeof(err));
}

static void test_rejects(void **state)
{
    static const char *const bad[] = {
        "", ":", "127.0.0.1", "127.0.0.1:", ":9560", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:99999999999", "127.0.0.1:95x", "127.0.0.1:+80", "127.0.0.1:-1",
        "127.0.0.1: 80", "localhost:9560", "1.2.3:80", "256.0.0.1:80", "::1:9560",
        "[::1]", "[::1]9560", "[::1:9560", "::1]:9560", "[]:80", "[127.0.0.1]:80",
        "[fe80::1%eth0]:80", "[::1]:80:80", "[[::1]]:80", "127.0.0.1:80\n",
        "[0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef]:1",
    };
    struct sockaddr_storage ss;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i], &ss) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_accepts(void **state)
{
    struct sockaddr_storage ss;
    char err[128];
    socklen_t len;
    (void)state;
    assert_int_equal(netaddr_parse("127.0.0.1:9560", &ss, &len, err, sizeof(err)), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9560);
    assert_true(netaddr_is_loopback(&ss));
    assert_int_equal(netaddr_parse("[::1]:1", &ss, &len, err, sizeof(err)), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 1);
    assert_true(netaddr_is_loopback(&ss));
    assert_int_equal(parse("[::ffff:127.0.0.2]:65535", &ss), 0);
    assert_true(netaddr_is_loopback(&ss));
    assert_int_equal(parse("127.255.0.1:80", &ss), 0);
    assert_true(netaddr_is_loopback(&ss));
    /* not loopback: the daemon wants --allow-remote for these */
    assert_int_equal(parse("0.0.0.0:80", &ss), 0);
    assert_false(netaddr_is_loopback(&ss));
    assert_int_equal(parse("10.1.2.3:80", &ss), 0);
    assert_false(netaddr_is_loopback(&ss));
    assert_int_equal(parse("[::]:80", &ss), 0);
    assert_false(netaddr_is_loopback(&ss));
    assert_int_equal(parse("[2001:db8::1]:80", &ss), 0);
    assert_false(netaddr_is_loopback(&ss));
    assert_int_equal(parse("[::ffff:10.0.0.1]:80", &ss), 0);
    assert_false(netaddr_is_loopback(&ss));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
