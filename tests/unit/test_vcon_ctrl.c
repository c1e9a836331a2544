/* vcon_ctrl_parse / vcon_ctrl_encode: virtio-console control messages
 * (virtio 1.x, 5.3.6.2) as the device writes them -- hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vcon_internal.h"

#define MAXP 4

/* Build a message: header + optional payload of plen bytes. */
static size_t msg(uint8_t *buf, uint32_t id, uint16_t ev, uint16_t val, const void *payload,
                  size_t plen)
{
    vcon_ctrl_encode(buf, id, (enum vcon_ctrl_event)ev, val);
    if (plen)
        memcpy(buf + VCON_CTRL_HDR_LEN, payload, plen);
    return VCON_CTRL_HDR_LEN + plen;
}

static void test_encode_layout(void **state)
{
    uint8_t b[8];
    static const uint8_t want[8] = {0x04, 0x03, 0x02, 0x01, 0x06, 0x00, 0x01, 0x00};
    (void)state;
    vcon_ctrl_encode(b, 0x01020304, VCON_PORT_OPEN, 1);
    assert_memory_equal(b, want, 8); /* little-endian le32 id, le16 event, le16 value */
}

static void test_good(void **state)
{
    uint8_t b[128];
    struct vcon_ctrl_msg m;
    size_t n;
    (void)state;

    n = msg(b, 1, VCON_DEVICE_ADD, 1, NULL, 0);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_OK);
    assert_int_equal(m.id, 1);
    assert_int_equal(m.event, VCON_DEVICE_ADD);
    assert_int_equal(m.value, 1);

    n = msg(b, 3, VCON_PORT_OPEN, 0, NULL, 0);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_OK);
    assert_int_equal(m.event, VCON_PORT_OPEN);
    assert_int_equal(m.value, 0);

    /* QEMU's form: name + NUL. */
    n = msg(b, 2, VCON_PORT_NAME, 1, "org.ukscope.gdb", 16);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_OK);
    assert_int_equal(m.event, VCON_PORT_NAME);
    assert_string_equal(m.name, "org.ukscope.gdb");

    /* Without the NUL (the spec does not require one): runs to the end. */
    n = msg(b, 2, VCON_PORT_NAME, 1, "abc", 3);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_OK);
    assert_string_equal(m.name, "abc");

    /* Bytes after the NUL are ignored. */
    n = msg(b, 0, VCON_PORT_NAME, 1, "ab\0\xff\x01", 5);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_OK);
    assert_string_equal(m.name, "ab");

    /* Longest name accepted: VCON_NAME_MAX characters. */
    char name[VCON_NAME_MAX + 1];
    memset(name, 'n', VCON_NAME_MAX);
    name[VCON_NAME_MAX] = '\0';
    n = msg(b, 0, VCON_PORT_NAME, 1, name, sizeof(name));
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_OK);
    assert_int_equal(strlen(m.name), VCON_NAME_MAX);

    n = msg(b, 0, VCON_RESIZE, 0, "\x50\x00\x19\x00", 4);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_OK);
    n = msg(b, 0, VCON_CONSOLE_PORT, 1, NULL, 0);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_OK);
    n = msg(b, 1, VCON_DEVICE_REMOVE, 0, NULL, 0);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_OK);
}

static void test_bad(void **state)
{
    uint8_t b[128];
    struct vcon_ctrl_msg m;
    size_t n;
    (void)state;

    /* Short: every length below the header. */
    n = msg(b, 1, VCON_DEVICE_ADD, 1, NULL, 0);
    for (size_t len = 0; len < VCON_CTRL_HDR_LEN; len++)
        assert_int_equal(vcon_ctrl_parse(b, len, MAXP, &m), UK_EINVAL);
    assert_int_equal(vcon_ctrl_parse(NULL, 8, MAXP, &m), UK_EINVAL);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, NULL), UK_EINVAL);

    /* Port id out of range (including huge ids). */
    n = msg(b, MAXP, VCON_DEVICE_ADD, 1, NULL, 0);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_EINVAL);
    n = msg(b, 0xffffffff, VCON_PORT_OPEN, 1, NULL, 0);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_EINVAL);
    n = msg(b, 0, VCON_DEVICE_ADD, 1, NULL, 0);
    assert_int_equal(vcon_ctrl_parse(b, n, 0, &m), UK_EINVAL); /* no ports at all */

    /* Events that only go driver -> device, and unknown ones. */
    static const uint16_t evs[] = {VCON_DEVICE_READY, VCON_PORT_READY, 8, 0x100, 0xffff};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        n = msg(b, 0, evs[i], 1, NULL, 0);
        assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_EINVAL);
    }

    /* Names: empty, NUL first, too long, non-printable, space. */
    n = msg(b, 1, VCON_PORT_NAME, 1, NULL, 0);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_EINVAL);
    n = msg(b, 1, VCON_PORT_NAME, 1, "\0abc", 4);
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_EINVAL);
    char name[VCON_NAME_MAX + 2];
    memset(name, 'n', VCON_NAME_MAX + 1);
    name[VCON_NAME_MAX + 1] = '\0';
    n = msg(b, 1, VCON_PORT_NAME, 1, name, sizeof(name));
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_EINVAL);
    n = msg(b, 1, VCON_PORT_NAME, 1, name, VCON_NAME_MAX + 1); /* no NUL either */
    assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_EINVAL);
    static const char *const bad_names[] = {"a b", "ab\n", "\x7f", "x\x80y", "\x1b[2J", "tab\t"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        n = msg(b, 1, VCON_PORT_NAME, 1, bad_names[i], strlen(bad_names[i]));
        assert_int_equal(vcon_ctrl_parse(b, n, MAXP, &m), UK_EINVAL);
    }
}

static void test_queue_numbers(void **state)
{
    (void)state;
    assert_int_equal(vcon_port_rxq(0), 0);
    assert_int_equal(vcon_port_txq(0), 1);
    assert_int_equal(vcon_port_rxq(1), 4);
    assert_int_equal(vcon_port_txq(1), 5);
    assert_int_equal(vcon_port_rxq(3), 8);
    assert_int_equal(vcon_port_txq(3), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_layout),
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_queue_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
