/*
 * strto*, atoi, abs, qsort and bsearch.  See <stdlib.h> for the overflow
 * contract (saturation, no errno).
 */
#include "stdlib.h"
#include "ctype.h"

#include <limits.h>
#include <stdint.h>

static int digit_value(int c)
{
    if (isdigit(c))
        return c - '0';
    if (islower(c))
        return c - 'a' + 10;
    if (isupper(c))
        return c - 'A' + 10;
    return 99;
}

/*
 * Common parser.  Returns the magnitude, saturated to ULLONG_MAX (with *over set
 * when it did not fit), *neg for a '-' sign and *end just after the digits
 * (or s itself when there were none).
 */
static unsigned long long parse(const char *s, const char **end, int base, int *neg, int *over)
{
    const char *p = s;
    unsigned long long acc = 0;
    int any = 0;

    *neg = 0;
    *over = 0;
    *end = s;
    if (base < 0 || base == 1 || base > 36)
        return 0;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '+' || *p == '-')
        *neg = *p++ == '-';
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
        isxdigit((unsigned char)p[2])) {
        p += 2;
        base = 16;
    } else if (base == 0) {
        base = p[0] == '0' ? 8 : 10;
    }
    for (;; p++) {
        int d = digit_value((unsigned char)*p);

        if (d >= base)
            break;
        any = 1;
        if (acc > (ULLONG_MAX - (unsigned)d) / (unsigned)base)
            *over = 1;
        else
            acc = acc * (unsigned)base + (unsigned)d;
    }
    if (any)
        *end = p;
    return *over ? ULLONG_MAX : acc;
}

unsigned long long strtoull(const char *restrict s, char **restrict endptr, int base)
{
    const char *end;
    int neg, over;
    unsigned long long v = parse(s, &end, base, &neg, &over);

    if (endptr)
        *endptr = (char *)end;
    if (over)
        return ULLONG_MAX;
    return neg ? 0ULL - v : v;
}

long long strtoll(const char *restrict s, char **restrict endptr, int base)
{
    const char *end;
    int neg, over;
    unsigned long long v = parse(s, &end, base, &neg, &over);

    if (endptr)
        *endptr = (char *)end;
    if (neg) {
        if (over || v > (unsigned long long)LLONG_MAX + 1)
            return LLONG_MIN;
        return v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    }
    if (over || v > (unsigned long long)LLONG_MAX)
        return LLONG_MAX;
    return (long long)v;
}

/* long and long long are both 64 bits on x86_64 (LP64). */
_Static_assert(sizeof(long) == sizeof(long long), "LP64 expected");

unsigned long strtoul(const char *restrict s, char **restrict endptr, int base)
{
    return strtoull(s, endptr, base);
}

long strtol(const char *restrict s, char **restrict endptr, int base)
{
    return strtoll(s, endptr, base);
}

int atoi(const char *s)
{
    long v = strtol(s, NULL, 10);

    return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

int abs(int x)
{
    return x < 0 ? -x : x;
}

long labs(long x)
{
    return x < 0 ? -x : x;
}

static void swap(unsigned char *a, unsigned char *b, size_t size)
{
    while (size--) {
        unsigned char t = *a;

        *a++ = *b;
        *b++ = t;
    }
}

/* Move element i of the heap down until both children are not greater. */
static void sift_down(unsigned char *base, size_t i, size_t n, size_t size,
                      int (*cmp)(const void *, const void *))
{
    for (;;) {
        size_t big = i, l = 2 * i + 1, r = l + 1;

        if (l < n && cmp(base + l * size, base + big * size) > 0)
            big = l;
        if (r < n && cmp(base + r * size, base + big * size) > 0)
            big = r;
        if (big == i)
            return;
        swap(base + i * size, base + big * size, size);
        i = big;
    }
}

void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    unsigned char *b = base;

    if (n < 2 || size == 0)
        return;
    /* Insertion sort for short arrays, heapsort otherwise. */
    if (n <= 12) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && cmp(b + (j - 1) * size, b + j * size) > 0; j--)
                swap(b + (j - 1) * size, b + j * size, size);
        return;
    }
    for (size_t i = n / 2; i-- > 0;)
        sift_down(b, i, n, size, cmp);
    for (size_t end = n - 1; end > 0; end--) {
        swap(b, b + end * size, size);
        sift_down(b, 0, end, size, cmp);
    }
}

void *bsearch(const void *key, const void *base, size_t n, size_t size,
              int (*cmp)(const void *, const void *))
{
    const unsigned char *b = base;

    while (n) {
        const unsigned char *mid = b + (n / 2) * size;
        int c = cmp(key, mid);

        if (c == 0)
            return (void *)mid;
        if (c > 0) {
            b = mid + size;
            n -= n / 2 + 1;
        } else {
            n /= 2;
        }
    }
    return NULL;
}
