/* virtio_mmio_parse_arg: the virtio_mmio.device=SIZE@BASE:IRQ parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "virtio_internal.h"

struct good {
    const char *s;
    uint64_t base, size;
    unsigned irq;
};

static const struct good goods[] = {
    {"512@0xfeb00e00:12", 0xfeb00e00, 512, 12},
    {"512@0xfeb00000:5", 0xfeb00000, 512, 5},
    {"0x200@0XFEB00E00:0", 0xfeb00e00, 0x200, 0},
    {"4K@0xfeb00000:23", 0xfeb00000, 4096, 23},
    {"4k@4273995264:7", 4273995264ULL, 4096, 7},
    {"1M@0x0:1", 0, 1 << 20, 1},
    {"2G@0x1000:1", 0x1000, 2ULL << 30, 1},
    {"0x1@0xffffffffffffffff:3", UINT64_MAX, 1, 3},
    {"0x10@0xfffffffffffffff0:3", 0xfffffffffffffff0ULL, 16, 3},
    {"18446744073709551615@0x1:4", 1, UINT64_MAX, 4},
    {"0x3fffffffffffffK@0x0:4", 0, 0x3fffffffffffffULL << 10, 4},
};

static const char *const bads[] = {
    "",
    "512",
    "512@",
    "512@0xfeb00e00",     /* missing : */
    "512@0xfeb00e00:",    /* empty irq */
    "5120xfeb00e00:12",   /* missing @ */
    "512 @0xfeb00e00:12", /* space */
    " 512@0xfeb00e00:12",
    "512@0xfeb00e00:12 ", /* trailing junk */
    "512@0xfeb00e00:12x",
    "512@0xfeb00e00:12:0", /* Linux's :ID suffix is not accepted */
    "512@0xfeb00e00:24",   /* irq > 23 */
    "512@0xfeb00e00:99999999999999999999999",
    "512@0xfeb00e00:0x5", /* irq is decimal */
    "512@0xfeb00e00:05",
    "512@0xfeb00e00:-1",
    "512@0xfeb00e00:+1",
    "-512@0xfeb00e00:12",
    "+512@0xfeb00e00:12",
    "0@0xfeb00e00:12", /* size 0 */
    "0K@0xfeb00e00:12",
    "@0xfeb00e00:12",   /* empty size */
    "512@:12",          /* empty base */
    "0x@0xfeb00e00:12", /* 0x without digits */
    "512@0x:12",
    "512@0xg:12",
    "0512@0xfeb00e00:12", /* octal-looking */
    "512@0777:12",
    "512KK@0xfeb00e00:12",        /* double suffix */
    "512T@0xfeb00e00:12",         /* unknown suffix */
    "512@0xfeb00e00K:12",         /* suffix on base */
    "18446744073709551616@0x0:1", /* size overflow */
    "0x10000000000000000@0x0:1",
    "512@0x10000000000000000:1", /* base overflow */
    "0x40000000000000K@0x0:1",   /* K overflows */
    "0x400000000000000M@0x0:1",
    "0x400000000000G@0x0:1",
    "0x2@0xffffffffffffffff:1", /* base + size wraps */
    "0x11@0xfffffffffffffff0:3",
    "512@0xfeb00e00:12\n",
};

static void test_good(void **state)
{
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        uint64_t base = 1, size = 2;
        unsigned irq = 3;

        if (virtio_mmio_parse_arg(goods[i].s, &base, &size, &irq) != 0)
            fail_msg("rejected good input \"%s\"", goods[i].s);
        assert_int_equal(base, goods[i].base);
        assert_int_equal(size, goods[i].size);
        assert_int_equal(irq, goods[i].irq);
    }
}

static void test_bad(void **state)
{
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        uint64_t base = 1, size = 2;
        unsigned irq = 3;

        if (virtio_mmio_parse_arg(bads[i], &base, &size, &irq) == 0)
            fail_msg("accepted bad input \"%s\"", bads[i]);
        /* Outputs untouched on failure. */
        assert_int_equal(base, 1);
        assert_int_equal(size, 2);
        assert_int_equal(irq, 3);
    }
}

static void test_null(void **state)
{
    uint64_t base, size;
    unsigned irq;

    assert_int_equal(virtio_mmio_parse_arg(NULL, &base, &size, &irq), -1);
    assert_int_equal(virtio_mmio_parse_arg("512@0x0:1", NULL, &size, &irq), -1);
    assert_int_equal(virtio_mmio_parse_arg("512@0x0:1", &base, NULL, &irq), -1);
    assert_int_equal(virtio_mmio_parse_arg("512@0x0:1", &base, &size, NULL), -1);
}

static void test_every_irq(void **state)
{
    char buf[64];

    for (unsigned i = 0; i < 40; i++) {
        uint64_t base, size;
        unsigned irq = 99;

        snprintf(buf, sizeof(buf), "512@0xfeb00e00:%u", i);
        int r = virtio_mmio_parse_arg(buf, &base, &size, &irq);
        if (i <= 23) {
            assert_int_equal(r, 0);
            assert_int_equal(irq, i);
        } else {
            assert_int_equal(r, -1);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_every_irq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
