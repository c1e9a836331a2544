/*
 * Parser of the `virtio_mmio.device=SIZE@BASE:IRQ` command-line values.
 * External input: strict, no undefined behaviour on any string.  Kept apart
 * from virtio_mmio.c so it builds for the host (unit test and fuzzer).
 */
#include "virtio_internal.h"

#define VIRTIO_MMIO_IRQ_MAX 23

static int digit_value(char c, unsigned base)
{
    unsigned v;

    if (c >= '0' && c <= '9')
        v = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
        v = (unsigned)(c - 'a') + 10;
    else if (c >= 'A' && c <= 'F')
        v = (unsigned)(c - 'A') + 10;
    else
        return -1;
    return v < base ? (int)v : -1;
}

/*
 * Unsigned number at *p: decimal, or hex after 0x/0X.  Advances *p past it.
 * Returns 0, or -1 on no digits, an octal-looking leading zero, or overflow.
 */
static int parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    unsigned base = 10;
    uint64_t v = 0;
    int d;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && digit_value(s[1], 10) >= 0) {
        return -1;
    }
    if (digit_value(*s, base) < 0)
        return -1;
    while ((d = digit_value(*s, base)) >= 0) {
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return -1;
        v = v * base + (uint64_t)d;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

int virtio_mmio_parse_arg(const char *s, uint64_t *base, uint64_t *size, unsigned *irq)
{
    uint64_t sz, b, n;
    unsigned shift = 0;

    if (!s || !base || !size || !irq)
        return -1;
    if (parse_u64(&s, &sz))
        return -1;
    switch (*s) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    }
    if (shift) {
        if (sz > (UINT64_MAX >> shift))
            return -1;
        sz <<= shift;
        s++;
    }
    if (sz == 0 || *s++ != '@')
        return -1;
    if (parse_u64(&s, &b))
        return -1;
    if (*s++ != ':')
        return -1;
    /* IRQ: decimal only, as QEMU writes it. */
    if (digit_value(*s, 10) < 0 || (s[0] == '0' && s[1] != '\0'))
        return -1;
    if (parse_u64(&s, &n) || n > VIRTIO_MMIO_IRQ_MAX)
        return -1;
    if (*s != '\0')
        return -1;
    if (b > UINT64_MAX - sz + 1) /* last byte b + sz - 1 must not wrap */
        return -1;
    *base = b;
    *size = sz;
    *irq = (unsigned)n;
    return 0;
}
