/*
 * Float equality helpers for code built with -mgeneral-regs-only: gcc
 * turns `f == 0.0` into calls to __eqsf2/__eqdf2 (libgcc's soft-float
 * routines, absent from the x86-64 libgcc).  The protobuf-c runtime needs
 * them to test float/double fields for zero.  Integer-only: IEEE 754
 * equality is bit equality, except that NaN is unequal to everything and
 * +0 == -0.  Like libgcc, they return 0 when equal, non-zero otherwise.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

int __eqsf2(float a, float b);
int __nesf2(float a, float b);
int __eqdf2(double a, double b);
int __nedf2(double a, double b);

static int eq_bits(uint64_t x, uint64_t y, uint64_t sign, uint64_t exp_mask, uint64_t frac_mask)
{
    bool x_nan = (x & exp_mask) == exp_mask && (x & frac_mask);
    bool y_nan = (y & exp_mask) == exp_mask && (y & frac_mask);

    if (x_nan || y_nan)
        return 1;
    if (((x | y) & ~sign) == 0) /* +0 and -0 */
        return 0;
    return x != y;
}

int __eqsf2(float a, float b)
{
    uint32_t x, y;

    memcpy(&x, &a, sizeof(x));
    memcpy(&y, &b, sizeof(y));
    return eq_bits(x, y, 1u << 31, 0xffu << 23, (1u << 23) - 1);
}

int __nesf2(float a, float b)
{
    return __eqsf2(a, b);
}

int __eqdf2(double a, double b)
{
    uint64_t x, y;

    memcpy(&x, &a, sizeof(x));
    memcpy(&y, &b, sizeof(y));
    return eq_bits(x, y, 1ull << 63, 0x7ffull << 52, (1ull << 52) - 1);
}

int __nedf2(double a, double b)
{
    return __eqdf2(a, b);
}
