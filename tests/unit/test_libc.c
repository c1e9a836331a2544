/*
 * Unit tests of the small libc (kernel-hooks/libc), mostly by comparison
 * with glibc.  The libc is linked in under ukc_* names (see test_libc.mk).
 */

/* ---- glibc region: rename macros off, reference wrappers defined here ---- */
#define UKC_UNRENAME
#include "libc_rename.h"
#undef UKC_UNRENAME

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

static int ref_vsnprintf(char *b, size_t n, const char *f, va_list ap)
{
    return vsnprintf(b, n, f, ap);
}
static void ref_qsort(void *b, size_t n, size_t s, int (*c)(const void *, const void *))
{
    qsort(b, n, s, c);
}
static unsigned long ref_strtoul(const char *s, char **e, int b)
{
    return strtoul(s, e, b);
}
static long ref_strtol(const char *s, char **e, int b)
{
    return strtol(s, e, b);
}
static unsigned long long ref_strtoull(const char *s, char **e, int b)
{
    return strtoull(s, e, b);
}
static long long ref_strtoll(const char *s, char **e, int b)
{
    return strtoll(s, e, b);
}
static int (*const ref_ctype[])(int) = {isdigit, isxdigit, isalpha, isalnum, isspace, isupper,
                                        islower, isprint,  ispunct, iscntrl, toupper, tolower};
static char *(*const ref_strstr)(const char *, const char *) = strstr;
static size_t (*const ref_strspn)(const char *, const char *) = strspn;
static size_t (*const ref_strcspn)(const char *, const char *) = strcspn;
static int (*const ref_strncasecmp)(const char *, const char *, size_t) = strncasecmp;
static int (*const ref_strncmp)(const char *, const char *, size_t) = strncmp;
static int (*const ref_memcmp)(const void *, const void *, size_t) = memcmp;
static void *(*const ref_memcpy)(void *, const void *, size_t) = memcpy;
static void *(*const ref_memset)(void *, int, size_t) = memset;
static size_t (*const ref_strlen)(const char *) = strlen;

/* ---- libc region: from here on every libc name is ukc_NAME ---- */
#include "libc_rename.h"
#include "string.h"
#include "stdio.h"
#include "stdlib.h"
#include "ctype.h"

static int sign(long v)
{
    return (v > 0) - (v < 0);
}

/* ------------------------------------------------------------ printf --- */

static unsigned long n_printf_checks;

/*
 * Format with ours and with glibc at several buffer sizes; compare return
 * values and buffer contents, and that nothing beyond size was written.
 */
static void check_fmt(const char *fmt, ...)
{
    static const size_t sizes[] = {0, 1, 2, 3, 7, 300};
    char mine[320], ref[320];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        va_list ap, aq;
        int rm, rr;

        ref_memset(mine, 'Z', sizeof(mine));
        ref_memset(ref, 'Z', sizeof(ref));
        va_start(ap, fmt);
        va_copy(aq, ap);
        rm = vsnprintf(mine, sizes[i], fmt, ap);
        rr = ref_vsnprintf(ref, sizes[i], fmt, aq);
        va_end(aq);
        va_end(ap);
        if (rm != rr || ref_memcmp(mine, ref, sizeof(mine)) != 0) {
            int shown = (int)(sizes[i] < 300 ? sizes[i] : 300);

            print_error("format \"%s\" size %zu: mine %d \"%.*s\" glibc %d \"%.*s\"\n", fmt,
                        sizes[i], rm, shown, mine, rr, shown, ref);
            fail();
        }
        n_printf_checks++;
    }
}

enum argtype { A_INT, A_LONG, A_LLONG };

static void check_int_fmt(const char *fmt, enum argtype t, long long v)
{
    if (t == A_INT)
        check_fmt(fmt, (int)v);
    else if (t == A_LONG)
        check_fmt(fmt, (long)v);
    else
        check_fmt(fmt, v);
}

static void test_printf_int_grid(void **state)
{
    static const char *const flags[] = {"",   "-",  "0",  "+",  " ",   "#",   "-0",
                                        "+ ", "0#", "-#", "0+", "- +", "0 #", "-+#"};
    static const char *const widths[] = {"", "1", "6", "24"};
    static const char *const precs[] = {"", ".", ".0", ".1", ".4", ".22"};
    static const struct {
        const char *mod;
        enum argtype t;
    } mods[] = {{"hh", A_INT},   {"h", A_INT},  {"", A_INT},   {"l", A_LONG},
                {"ll", A_LLONG}, {"z", A_LONG}, {"t", A_LONG}, {"j", A_LLONG}};
    static const char convs[] = "diuxXo";
    static const long long vals[] = {0,
                                     1,
                                     -1,
                                     7,
                                     8,
                                     -8,
                                     255,
                                     256,
                                     -129,
                                     32767,
                                     -32768,
                                     65535,
                                     INT_MAX,
                                     INT_MIN,
                                     UINT_MAX,
                                     LLONG_MAX,
                                     LLONG_MIN,
                                     0x7fedcba9876543LL,
                                     -1234567890123LL};
    char fmt[32];

    for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
        for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++)
            for (size_t p = 0; p < sizeof(precs) / sizeof(precs[0]); p++)
                for (size_t m = 0; m < sizeof(mods) / sizeof(mods[0]); m++)
                    for (size_t c = 0; convs[c]; c++) {
                        snprintf(fmt, sizeof(fmt), "<%%%s%s%s%s%c>", flags[f], widths[w], precs[p],
                                 mods[m].mod, convs[c]);
                        for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++)
                            check_int_fmt(fmt, mods[m].t, vals[v]);
                    }
    assert_true(n_printf_checks > 1000000);
}

static void test_printf_misc(void **state)
{
    static const char nonterm[3] = {'a', 'b', 'c'};
    char buf[64];
    int x;

    check_fmt("plain text, no conversions");
    check_fmt("");
    check_fmt("%d %i %u", INT_MIN, INT_MAX, UINT_MAX);
    check_fmt("%lld|%llu|%llx|%llo", LLONG_MIN, ULLONG_MAX, ULLONG_MAX, ULLONG_MAX);
    check_fmt("%ld %lu %zu %zd %td %jd %ju", LONG_MIN, ULONG_MAX, SIZE_MAX, (ptrdiff_t)-5,
              (ptrdiff_t)PTRDIFF_MIN, (intmax_t)INTMAX_MIN, (uintmax_t)UINTMAX_MAX);
    check_fmt("%hhd %hhu %hd %hu", 300, 300, 70000, 70000);
    check_fmt("[%c][%5c][%-5c][%c]", 'a', 'b', 'c', 0xff);
    check_fmt("[%s][%10s][%-10s][%.2s][%10.3s][%-10.1s][%.0s]", "hello", "hi", "left", "trunc",
              "abcdef", "xyz", "gone");
    check_fmt("[%.3s]", nonterm); /* must not read past the precision */
    check_fmt("[%*d][%-*d][%*d][%.*d][%.*d][%*.*x]", 6, 42, 6, 42, -6, 42, 5, 42, -3, 42, 8, 4,
              0xab);
    check_fmt("%%|%5d%%|%d%%%d", 1, 2, 3);
    check_fmt("%p|%20p|%-20p|", (void *)0x1234, (void *)buf, (void *)&x);
    check_fmt("%s=%d, %s=0x%08x, %c", "a", -1, "bee", 0xdead, 'z');
    check_fmt("%#x %#X %#o %#.0o %#.0x %.0d %5.0d|", 0, 0, 0, 0, 0, 0, 0);
    check_fmt("%0-8d|%-08d|%+ d|% +d|%08.3d|%+.0d|% .0d", 5, 5, 5, 5, -5, 0, 0);

    /* Documented differences from glibc. */
    {
        const char *volatile null = NULL; /* hide the NULL from -Wformat-overflow */
        assert_int_equal(snprintf(buf, sizeof(buf), "%s", null), 6);
    }
    assert_string_equal(buf, "(null)");
    assert_int_equal(snprintf(buf, sizeof(buf), "%p", NULL), 3);
    assert_string_equal(buf, "0x0");
    assert_int_equal(snprintf(buf, sizeof(buf), "a%nb", &x), 2);
    assert_string_equal(buf, "ab");
    {
        /* Non-literal format: float conversions are copied literally. */
        const char *volatile f = "[%5.2f|%e|%d|%";
        assert_int_equal(snprintf(buf, sizeof(buf), f, 7), 13);
        assert_string_equal(buf, "[%5.2f|%e|7|%");
    }
    /* Truncation keeps the NUL and the untruncated length. */
    ref_memset(buf, 'Z', sizeof(buf));
    assert_int_equal(snprintf(buf, 4, "%d", 1234567), 7);
    assert_string_equal(buf, "123");
    assert_int_equal(buf[4], 'Z');
    assert_int_equal(snprintf(NULL, 0, "%s%d", "abc", 12), 5);
}

/* -------------------------------------------------------------- strto --- */

static void test_strto(void **state)
{
    static const char *const strs[] = {
        "0",
        "1",
        "-1",
        "+1",
        "  42",
        "\t\n\v\f\r 42z",
        "   -17xyz",
        "+-5",
        "-+5",
        "",
        "   ",
        "-",
        "+",
        "abc",
        "0x",
        "0X",
        "0x1g",
        "0xG",
        "0x7fffffffffffffff",
        "0x8000000000000000",
        "0xffffffffffffffff",
        "0x10000000000000000",
        "-0x8000000000000000",
        "-0x8000000000000001",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "-18446744073709551615",
        "-18446744073709551616",
        "99999999999999999999999999999999",
        "-99999999999999999999999999",
        "0777",
        "0778",
        "08",
        "0b101",
        "101012",
        "zz",
        "ZZ",
        "1z",
        "1Z9",
        "007",
        "0x0x1",
        " 0x 1",
        "123456789abcdefghijklmnopqrstuvwxyz",
        "1111111111111111111111111111111111111111111111111111111111111111",
        "11111111111111111111111111111111111111111111111111111111111111111",
        "\x80"
        "1",
        "1\xff"};
    static const int bases[] = {0, 2, 3, 8, 10, 16, 35, 36};

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
            const char *s = strs[i];
            int base = bases[b];
            char *em, *er;

            assert_true(strtoul(s, &em, base) == ref_strtoul(s, &er, base));
            assert_ptr_equal(em, er);
            assert_true(strtol(s, &em, base) == ref_strtol(s, &er, base));
            assert_ptr_equal(em, er);
            assert_true(strtoull(s, &em, base) == ref_strtoull(s, &er, base));
            assert_ptr_equal(em, er);
            assert_true(strtoll(s, &em, base) == ref_strtoll(s, &er, base));
            assert_ptr_equal(em, er);
        }

    /* Explicit expectations (independent of glibc). */
    {
        const char *s = "  -x";
        char *e;

        assert_int_equal(strtol(s, &e, 0), 0);
        assert_ptr_equal(e, s); /* no digits: endptr is the start */
        assert_true(strtoul("18446744073709551616", NULL, 10) == ULONG_MAX);
        assert_true(strtol("-9223372036854775809", NULL, 10) == LONG_MIN);
        assert_true(strtol("9223372036854775808", NULL, 10) == LONG_MAX);
        assert_true(strtoul("-1", NULL, 10) == ULONG_MAX);
        assert_int_equal(strtol("0x1F", NULL, 0), 31);
        assert_int_equal(strtol("017", NULL, 0), 15);
        assert_int_equal(strtol("z", NULL, 36), 35);
        s = "0x";
        assert_int_equal(strtoul(s, &e, 16), 0);
        assert_ptr_equal(e, s + 1);
        /* Invalid base: 0 and no conversion. */
        s = "123";
        assert_int_equal(strtol(s, &e, 1), 0);
        assert_ptr_equal(e, s);
        assert_int_equal(strtol(s, &e, 37), 0);
        assert_ptr_equal(e, s);
    }
    assert_int_equal(atoi("  -123abc"), -123);
    assert_int_equal(atoi("99999999999"), INT_MAX);
    assert_int_equal(atoi("-99999999999"), INT_MIN);
    assert_int_equal(abs(-5), 5);
    assert_int_equal(labs(LONG_MIN + 1), LONG_MAX);
}

/* ------------------------------------------------------- qsort/bsearch --- */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

struct rec {
    unsigned key;
    char pad[9]; /* odd size: 13 bytes */
} __attribute__((packed));

static int cmp_rec(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;

    return (x->key > y->key) - (x->key < y->key);
}

static void test_qsort(void **state)
{
    static int a[3000], r[3000];
    static struct rec ra[700], rr[700];

    srand(12345);
    for (int iter = 0; iter < 300; iter++) {
        size_t n = (size_t)rand() % (iter < 100 ? 20 : 3000);
        int range = iter % 3 == 0 ? 5 : INT_MAX; /* many duplicates sometimes */

        for (size_t i = 0; i < n; i++)
            a[i] = r[i] = (rand() % range) - range / 2;
        if (iter % 7 == 1) /* already sorted input */
            ref_qsort(a, n, sizeof(int), cmp_int), ref_memcpy(r, a, n * sizeof(int));
        qsort(a, n, sizeof(int), cmp_int);
        ref_qsort(r, n, sizeof(int), cmp_int);
        assert_memory_equal(a, r, n * sizeof(int) + 1 * (n == 0));

        /* bsearch finds every element and nothing absent. */
        for (size_t i = 0; i < n; i++) {
            int *p = bsearch(&a[i], a, n, sizeof(int), cmp_int);
            assert_non_null(p);
            assert_int_equal(*p, a[i]);
        }
        if (range == INT_MAX) {
            int missing = INT_MAX; /* values are < INT_MAX/2 */
            assert_null(bsearch(&missing, a, n, sizeof(int), cmp_int));
            missing = INT_MIN;
            assert_null(bsearch(&missing, a, n, sizeof(int), cmp_int));
        }
    }
    /* Odd element size; unstable sort, so compare keys only. */
    for (size_t i = 0; i < 700; i++) {
        ra[i].key = (unsigned)rand() % 500;
        ref_memset(ra[i].pad, (int)ra[i].key, sizeof(ra[i].pad));
        rr[i] = ra[i];
    }
    qsort(ra, 700, sizeof(struct rec), cmp_rec);
    ref_qsort(rr, 700, sizeof(struct rec), cmp_rec);
    for (size_t i = 0; i < 700; i++) {
        assert_int_equal(ra[i].key, rr[i].key);
        assert_int_equal(ra[i].pad[8], (char)ra[i].key); /* records moved whole */
    }
}

/* ------------------------------------------------------------- memory --- */

static void test_mem(void **state)
{
    unsigned char buf[80], ref[80];

    /* memmove with every overlap direction and distance. */
    for (size_t src = 0; src < 40; src++)
        for (size_t dst = 0; dst < 40; dst++)
            for (size_t n = 0; n <= 40; n++) {
                unsigned char tmp[40];

                for (size_t i = 0; i < sizeof(buf); i++)
                    buf[i] = ref[i] = (unsigned char)(i * 7 + 1);
                ref_memcpy(tmp, ref + src, n);
                ref_memcpy(ref + dst, tmp, n);
                assert_ptr_equal(memmove(buf + dst, buf + src, n), buf + dst);
                assert_memory_equal(buf, ref, sizeof(buf));
            }
    for (size_t off = 0; off < 16; off++)
        for (size_t n = 0; n < 48; n++) {
            ref_memset(buf, 0, sizeof(buf));
            ref_memset(ref, 0, sizeof(ref));
            memset(buf + off, 0x1a5, n);
            ref_memset(ref + off, 0xa5, n);
            assert_memory_equal(buf, ref, sizeof(buf));
            for (size_t i = 0; i < n; i++)
                ref[40 + i % 40] = (unsigned char)(i * 13);
            memcpy(buf + off, ref + 40, n < 40 ? n : 40);
            assert_int_equal(ref_memcmp(buf + off, ref + 40, n < 40 ? n : 40), 0);
        }
    assert_true(memcmp("abc", "abd", 3) < 0);
    assert_true(memcmp("abd", "abc", 3) > 0);
    assert_true(memcmp("\x80", "\x01", 1) > 0); /* unsigned comparison */
    assert_int_equal(memcmp("abc", "abd", 2), 0);
    assert_ptr_equal(memchr("hello", 'l', 5), (const char *)"hello" + 2);
    assert_null(memchr("hello", 'l', 2));
    assert_null(memchr("hello", 'z', 6));
}

/* ------------------------------------------------------------ strings --- */

static void test_strings(void **state)
{
    static const char *const s[] = {"",
                                    "a",
                                    "ab",
                                    "abc",
                                    "aab",
                                    "abab",
                                    "ababc",
                                    "Hello, World",
                                    "hello, world",
                                    "xyz\x80",
                                    "needle in haystack",
                                    " \t,;"};
    char buf[32], *save, *tok;

    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        assert_int_equal(strlen(s[i]), ref_strlen(s[i]));
        for (size_t j = 0; j < sizeof(s) / sizeof(s[0]); j++) {
            assert_ptr_equal(strstr(s[i], s[j]), ref_strstr(s[i], s[j]));
            assert_int_equal(strspn(s[i], s[j]), ref_strspn(s[i], s[j]));
            assert_int_equal(strcspn(s[i], s[j]), ref_strcspn(s[i], s[j]));
            assert_int_equal(sign(strcmp(s[i], s[j])), sign(ref_strncmp(s[i], s[j], SIZE_MAX)));
            assert_int_equal(sign(strcasecmp(s[i], s[j])),
                             sign(ref_strncasecmp(s[i], s[j], SIZE_MAX)));
            for (size_t n = 0; n < 6; n++) {
                assert_int_equal(sign(strncmp(s[i], s[j], n)), sign(ref_strncmp(s[i], s[j], n)));
                assert_int_equal(sign(strncasecmp(s[i], s[j], n)),
                                 sign(ref_strncasecmp(s[i], s[j], n)));
            }
        }
    }
    assert_ptr_equal(strchr("abcb", 'b'), (const char *)"abcb" + 1);
    assert_ptr_equal(strrchr("abcb", 'b'), (const char *)"abcb" + 3);
    assert_ptr_equal(strchr("abc", '\0'), (const char *)"abc" + 3);
    assert_null(strchr("abc", 'z'));
    assert_null(strrchr("abc", 'z'));
    assert_int_equal(strnlen("abcdef", 3), 3);
    assert_int_equal(strnlen("ab", 3), 2);

    ref_memset(buf, 'Z', sizeof(buf));
    assert_int_equal(strlcpy(buf, "hello world", 6), 11);
    assert_string_equal(buf, "hello");
    assert_int_equal(buf[6], 'Z');
    assert_int_equal(strlcpy(buf, "abc", 0), 3);
    assert_int_equal(buf[0], 'h');
    ref_memset(buf, 'Z', sizeof(buf));
    strncpy(buf, "ab", 5);
    assert_memory_equal(buf, "ab\0\0\0Z", 6);
    strncpy(buf, "abcdef", 3);
    assert_memory_equal(buf, "abc\0\0Z", 6);
    strcpy(buf, "foo");
    strcat(buf, "bar");
    assert_string_equal(buf, "foobar");

    strcpy(buf, ",,a,b;;c ,");
    tok = strtok_r(buf, ",; ", &save);
    assert_string_equal(tok, "a");
    tok = strtok_r(NULL, ",; ", &save);
    assert_string_equal(tok, "b");
    tok = strtok_r(NULL, ",; ", &save);
    assert_string_equal(tok, "c");
    assert_null(strtok_r(NULL, ",; ", &save));
    assert_null(strtok_r(NULL, ",; ", &save));
    strcpy(buf, ";;;");
    assert_null(strtok_r(buf, ";", &save));
    strcpy(buf, "single");
    assert_string_equal(strtok_r(buf, ",", &save), "single");
    assert_null(strtok_r(NULL, ",", &save));
}

static void test_ctype(void **state)
{
    static int (*const mine[])(int) = {isdigit, isxdigit, isalpha, isalnum, isspace, isupper,
                                       islower, isprint,  ispunct, iscntrl, toupper, tolower};

    for (size_t f = 0; f < sizeof(mine) / sizeof(mine[0]); f++)
        for (int c = -1; c < 256; c++) {
            if (f < 10)
                assert_int_equal(!!mine[f](c), !!ref_ctype[f](c));
            else
                assert_int_equal(mine[f](c), ref_ctype[f](c));
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printf_int_grid),
        cmocka_unit_test(test_printf_misc),
        cmocka_unit_test(test_strto),
        cmocka_unit_test(test_qsort),
        cmocka_unit_test(test_mem),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_ctype),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
