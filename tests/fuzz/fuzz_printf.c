/*
 * Fuzz snprintf against glibc.
 *
 * A fuzzed format string could make either implementation read arbitrary
 * pointers (%s) or write through them (%n), so the input is not used as a
 * format directly: it drives a small grammar that only produces literal text,
 * "%%" and the integer conversions d i u x X o c with flags, width and
 * precision (numbers or '*') and length modifiers.  Combinations that ISO C
 * leaves undefined ('#' with d/i/u/c, '0' '+' ' ' with c) are not generated.
 *
 * Every argument is passed as a 64-bit value; conversions that read an int
 * get the low half of the 8-byte slot, as the x86_64 ABI lays it out, which
 * both implementations see identically.
 */
#define UKC_UNRENAME
#include "../unit/libc_rename.h"
#undef UKC_UNRENAME

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ref_snprintf_ll(char *b, size_t n, const char *f, const long long *a)
{
    return snprintf(b, n, f, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
                    a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21],
                    a[22], a[23]);
}
static void *(*const ref_memset)(void *, int, size_t) = memset;
static int (*const ref_memcmp)(const void *, const void *, size_t) = memcmp;

#include "../unit/libc_rename.h"
#include "stdio.h"

#define MAX_CONV 8
#define NARGS    (3 * MAX_CONV)

struct input {
    const uint8_t *p;
    size_t n;
};

static unsigned byte(struct input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static long long word(struct input *in)
{
    unsigned long long v = 0;
    unsigned kind = byte(in) % 4;

    for (int i = 0; i < 8; i++)
        v = v << 8 | byte(in);
    if (kind == 0) /* small values and the edges matter most */
        v %= 300;
    else if (kind == 1)
        v = (unsigned long long)(long long)(int8_t)v;
    return (long long)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const mods[] = {"", "hh", "h", "l", "ll", "z", "t", "j"};
    static const char convs[] = "diuxXoc%";
    struct input in = {data, size};
    char fmt[512], mine[1024], ref[1024];
    long long args[NARGS] = {0};
    size_t fl = 0, na = 0, bufsize = byte(&in) * 4 % 1025;
    int rm, rr;

    for (int c = 0; c < MAX_CONV && in.n; c++) {
        unsigned sel = byte(&in), fbits = byte(&in), wp = byte(&in);
        char conv = convs[sel % 8];

        /* Some literal text. */
        for (unsigned i = (sel >> 4) % 4; i; i--)
            fmt[fl++] = (char)('A' + byte(&in) % 26);
        fmt[fl++] = '%';
        if (conv == '%') {
            fmt[fl++] = '%';
            continue;
        }
        if (conv == 'c' || conv == 'd' || conv == 'i' || conv == 'u')
            fbits &= ~0x10u;
        if (conv == 'c')
            fbits &= ~0x0eu;
        for (int b = 0; b < 5; b++)
            if (fbits & (1u << b))
                fmt[fl++] = "-0+ #"[b];
        switch (wp % 4) { /* width */
        case 1:
            fl += (size_t)sprintf(fmt + fl, "%u", byte(&in) % 100);
            break;
        case 2:
            fmt[fl++] = '*';
            args[na++] = (long long)(int)(byte(&in) % 200) - 100;
            break;
        }
        switch ((wp >> 2) % 4) { /* precision */
        case 1:
            fmt[fl++] = '.';
            break;
        case 2:
            fl += (size_t)sprintf(fmt + fl, ".%u", byte(&in) % 100);
            break;
        case 3:
            fmt[fl++] = '.';
            fmt[fl++] = '*';
            args[na++] = (long long)(int)(byte(&in) % 200) - 100;
            break;
        }
        if (conv != 'c')
            fl += (size_t)sprintf(fmt + fl, "%s", mods[(wp >> 4) % 8]);
        fmt[fl++] = conv;
        args[na++] = word(&in);
    }
    fmt[fl] = '\0';

    ref_memset(mine, 'Z', sizeof(mine));
    ref_memset(ref, 'Z', sizeof(ref));
    rm = snprintf(mine, bufsize, fmt, args[0], args[1], args[2], args[3], args[4], args[5], args[6],
                  args[7], args[8], args[9], args[10], args[11], args[12], args[13], args[14],
                  args[15], args[16], args[17], args[18], args[19], args[20], args[21], args[22],
                  args[23]);
    rr = ref_snprintf_ll(ref, bufsize, fmt, args);
    if (rm != rr || ref_memcmp(mine, ref, sizeof(mine)) != 0) {
        fprintf(stderr,
                "format \"%s\" size %zu: mine %d glibc %d\n  mine  \"%.*s\"\n  glibc \"%.*s\"\n",
                fmt, bufsize, rm, rr, (int)bufsize, mine, (int)bufsize, ref);
        abort();
    }
    return 0;
}
