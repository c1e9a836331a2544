/*
 * Kernel command-line parser: words, key=value, quotes, repeats, numbers
 * with suffixes, flags, limits, and malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <uk/cmdline.h>

static void basic(void **state)
{
    assert_int_equal(uk_cmdline_parse("  a=1 b  c=x=y   d=\"two  words\" e= "), UK_OK);
    assert_string_equal(uk_cmdline_get("a"), "1");
    assert_string_equal(uk_cmdline_get("b"), "");
    assert_string_equal(uk_cmdline_get("c"), "x=y"); /* only the first = splits */
    assert_string_equal(uk_cmdline_get("d"), "two  words");
    assert_string_equal(uk_cmdline_get("e"), "");
    assert_null(uk_cmdline_get("f"));
    assert_null(uk_cmdline_get("A")); /* case-sensitive */
    assert_string_equal(uk_cmdline_raw(), "  a=1 b  c=x=y   d=\"two  words\" e= ");
}

static void repeats_and_iteration(void **state)
{
    uk_cmdline_parse("virtio_mmio.device=512@0xfeb00e00:12 x virtio_mmio.device=512@0xfeb00c00:11");
    assert_string_equal(uk_cmdline_get("virtio_mmio.device"), "512@0xfeb00c00:11"); /* last */
    unsigned it = 0, n = 0;
    const struct uk_cmdline_arg *a;
    while ((a = uk_cmdline_next("virtio_mmio.device", &it)))
        n++;
    assert_int_equal(n, 2);
    it = 0;
    n = 0;
    while (uk_cmdline_next(NULL, &it))
        n++;
    assert_int_equal(n, 3);
}

static void numbers(void **state)
{
    uk_cmdline_parse("a=10 b=0x20 c=4k d=2M e=1G f=12q g= h=-1 i=010");
    assert_int_equal(uk_cmdline_get_u64("a", 0), 10);
    assert_int_equal(uk_cmdline_get_u64("b", 0), 0x20);
    assert_int_equal(uk_cmdline_get_u64("c", 0), 4096);
    assert_int_equal(uk_cmdline_get_u64("d", 0), 2 << 20);
    assert_int_equal(uk_cmdline_get_u64("e", 0), 1ULL << 30);
    assert_int_equal(uk_cmdline_get_u64("f", 77), 77); /* junk suffix: default */
    assert_int_equal(uk_cmdline_get_u64("g", 5), 5);
    assert_int_equal(uk_cmdline_get_u64("zz", 9), 9);
    assert_int_equal(uk_cmdline_get_u64("i", 0), 8); /* C rules: leading 0 is octal */
}

static void flags(void **state)
{
    uk_cmdline_parse("a b=1 c=0 d=off e=no f=false g=yes");
    assert_true(uk_cmdline_flag("a"));
    assert_true(uk_cmdline_flag("b"));
    assert_false(uk_cmdline_flag("c"));
    assert_false(uk_cmdline_flag("d"));
    assert_false(uk_cmdline_flag("e"));
    assert_false(uk_cmdline_flag("f"));
    assert_true(uk_cmdline_flag("g"));
    assert_false(uk_cmdline_flag("h"));
}

static void malformed(void **state)
{
    assert_int_equal(uk_cmdline_parse("a=1 b=\"unterminated"), UK_EINVAL);
    assert_null(uk_cmdline_get("a")); /* nothing half-parsed survives */
    assert_int_equal(uk_cmdline_parse(NULL), UK_OK);
    assert_null(uk_cmdline_get("a"));
    assert_int_equal(uk_cmdline_parse(""), UK_OK);
}

static void limits(void **state)
{
    /* More words than UK_CMDLINE_ARGS: the first ones are kept. */
    char buf[UK_CMDLINE_MAX];
    size_t o = 0;
    for (int i = 0; i < UK_CMDLINE_ARGS + 10 && o + 8 < sizeof(buf); i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "k%d=%d ", i, i);
    assert_int_equal(uk_cmdline_parse(buf), UK_OK);
    assert_string_equal(uk_cmdline_get("k0"), "0");
    assert_string_equal(uk_cmdline_get("k63"), "63");
    assert_null(uk_cmdline_get("k64"));
    /* Longer than UK_CMDLINE_MAX: cut, never overflowing. */
    static char big[UK_CMDLINE_MAX * 3];
    memset(big, 'x', sizeof(big) - 1);
    memcpy(big, "long=", 5);
    assert_int_equal(uk_cmdline_parse(big), UK_OK);
    assert_int_equal(strlen(uk_cmdline_get("long")), UK_CMDLINE_MAX - 1 - 5);
    assert_int_equal(strlen(uk_cmdline_raw()), UK_CMDLINE_MAX - 1);
}

/* Secret values never reach uk_cmdline_raw, whatever the quoting. */
static void secrets_masked(void **state)
{
    uk_cmdline_parse("a=1 token=s3cret b token \"tok\"en=\"x y\" agent.token=z tokenx=keep "
                     "password= secret=q=r");
    assert_string_equal(uk_cmdline_raw(), "a=1 token=*** b token \"tok\"en=*** agent.token=*** "
                                          "tokenx=keep password=*** secret=***");
    /* The values themselves are still there, by key. */
    assert_string_equal(uk_cmdline_get("token"), "x y");
    assert_string_equal(uk_cmdline_get("agent.token"), "z");
    assert_string_equal(uk_cmdline_get("secret"), "q=r");
    assert_true(uk_cmdline_is_secret("token"));
    assert_true(uk_cmdline_is_secret("gdb.password"));
    assert_false(uk_cmdline_is_secret("xtoken"));
    assert_false(uk_cmdline_is_secret("token.x"));
    /* An unterminated quote still masks. */
    assert_int_equal(uk_cmdline_parse("token=\"ab cd"), UK_EINVAL);
    assert_string_equal(uk_cmdline_raw(), "token=***");
}

/* uk_cmdline_set: wins over the command line, never shown, validated. */
static void set_values(void **state)
{
    uk_cmdline_parse("token=old x=1");
    assert_int_equal(uk_cmdline_set("token", "fromfile\n", 8), UK_OK);
    assert_string_equal(uk_cmdline_get("token"), "fromfile");
    assert_string_equal(uk_cmdline_raw(), "token=*** x=1");
    assert_int_equal(uk_cmdline_set("token", "a b", 3), UK_EINVAL);
    assert_int_equal(uk_cmdline_set("token", "", 0), UK_EINVAL); /* empty: no token */
    assert_int_equal(uk_cmdline_set("token", "a\x80", 2), UK_EINVAL);
    char big[UK_SECRET_MAX + 1];
    memset(big, 'a', sizeof(big));
    assert_int_equal(uk_cmdline_set("token", big, sizeof(big)), UK_EINVAL);
    assert_int_equal(uk_cmdline_set("token", big, UK_SECRET_MAX), UK_OK);
    for (int i = 2; i < UK_CMDLINE_SET_MAX; i++)
        assert_int_equal(uk_cmdline_set("k", "v", 1), UK_OK);
    assert_int_equal(uk_cmdline_set("k", "v", 1), UK_EINVAL);
    /* A new parse drops what was set. */
    uk_cmdline_parse("");
    assert_null(uk_cmdline_get("token"));
}

static void secret_equal(void **state)
{
    uk_cmdline_parse("token=abc empty=");
    assert_true(uk_cmdline_secret_equal("token", "abc", 3));
    assert_false(uk_cmdline_secret_equal("token", "abd", 3));
    assert_false(uk_cmdline_secret_equal("token", "xbc", 3));
    assert_false(uk_cmdline_secret_equal("token", "ab", 2));
    assert_false(uk_cmdline_secret_equal("token", "abcabc", 6)); /* not a prefix match */
    assert_false(uk_cmdline_secret_equal("token", "", 0));
    assert_false(uk_cmdline_secret_equal("empty", "", 0)); /* no secret set: nothing matches */
    assert_false(uk_cmdline_secret_equal("absent", "", 0));
    assert_int_equal(uk_cmdline_set("token", "xyz", 3), UK_OK);
    assert_true(uk_cmdline_secret_equal("token", "xyz", 3));
    assert_false(uk_cmdline_secret_equal("token", "abc", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic),          cmocka_unit_test(repeats_and_iteration),
        cmocka_unit_test(numbers),        cmocka_unit_test(flags),
        cmocka_unit_test(malformed),      cmocka_unit_test(limits),
        cmocka_unit_test(secrets_masked), cmocka_unit_test(set_values),
        cmocka_unit_test(secret_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
