/*
 * snprintf/vsnprintf: integer, character, string and pointer conversions.
 * No floating point; see the contract in <stdio.h>.  Self-contained (calls no
 * other libc function) so it is safe from any context.
 */
#include "stdio.h"

#include <limits.h>
#include <stdint.h>

#define F_LEFT  0x01 /* '-' */
#define F_ZERO  0x02 /* '0' */
#define F_PLUS  0x04 /* '+' */
#define F_SPACE 0x08 /* ' ' */
#define F_ALT   0x10 /* '#' */

/* Output sink: keeps counting past the end of the buffer. */
struct out {
    char *buf;
    size_t size; /* bytes available for characters (buffer size - 1) */
    size_t len;  /* characters produced so far */
};

static void put(struct out *o, char c)
{
    if (o->len < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void put_rep(struct out *o, char c, long n)
{
    while (n-- > 0)
        put(o, c);
}

static void put_str(struct out *o, const char *s, size_t n)
{
    while (n--)
        put(o, *s++);
}

struct spec {
    unsigned flags;
    int width; /* >= 0 */
    int prec;  /* -1 when not given */
    char conv; /* d i u x X o c s p */
};

/* Format an integer: value is the magnitude, neg the sign of signed conversions. */
static void fmt_int(struct out *o, const struct spec *sp, unsigned long long v, int neg)
{
    char digits[24];
    const char *hex = sp->conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    unsigned base = 10;
    char prefix[2];
    int nd = 0, np = 0;
    long zeros, pad;

    if (sp->conv == 'x' || sp->conv == 'X' || sp->conv == 'p')
        base = 16;
    else if (sp->conv == 'o')
        base = 8;

    /* Digits in reverse order; none at all for value 0 with precision 0. */
    for (unsigned long long t = v; t || (nd == 0 && sp->prec != 0); t /= base)
        digits[nd++] = hex[t % base];

    if (sp->conv == 'd' || sp->conv == 'i') {
        if (neg)
            prefix[np++] = '-';
        else if (sp->flags & F_PLUS)
            prefix[np++] = '+';
        else if (sp->flags & F_SPACE)
            prefix[np++] = ' ';
    } else if (sp->conv == 'p' || ((sp->flags & F_ALT) && base == 16 && v)) {
        prefix[np++] = '0';
        prefix[np++] = sp->conv == 'X' ? 'X' : 'x';
    }

    zeros = sp->prec > nd ? sp->prec - nd : 0;
    /* '#' with octal: the first digit printed must be a 0. */
    if (base == 8 && (sp->flags & F_ALT) && zeros == 0 && (nd == 0 || digits[nd - 1] != '0'))
        zeros = 1;
    if ((sp->flags & F_ZERO) && !(sp->flags & F_LEFT) && sp->prec < 0 &&
        sp->width > np + nd + zeros)
        zeros = sp->width - np - nd;
    pad = (long)sp->width - np - nd - zeros;

    if (!(sp->flags & F_LEFT))
        put_rep(o, ' ', pad);
    put_str(o, prefix, (size_t)np);
    put_rep(o, '0', zeros);
    while (nd)
        put(o, digits[--nd]);
    if (sp->flags & F_LEFT)
        put_rep(o, ' ', pad);
}

static void fmt_str(struct out *o, const struct spec *sp, const char *s, size_t n)
{
    long pad = (long)sp->width - (long)n;

    if (!(sp->flags & F_LEFT))
        put_rep(o, ' ', pad);
    put_str(o, s, n);
    if (sp->flags & F_LEFT)
        put_rep(o, ' ', pad);
}

/* Parse a decimal number, saturating at INT_MAX. */
static int parse_num(const char **pf)
{
    const char *f = *pf;
    int n = 0;

    for (; *f >= '0' && *f <= '9'; f++)
        n = n > (INT_MAX - 9) / 10 ? INT_MAX : n * 10 + (*f - '0');
    *pf = f;
    return n;
}

int vsnprintf(char *restrict buf, size_t size, const char *restrict fmt, va_list ap)
{
    struct out o = {buf, size ? size - 1 : 0, 0};
    const char *f = fmt;

    while (*f) {
        const char *start = f;
        struct spec sp = {0, 0, -1, 0};
        int len = 0; /* 'H' hh, 'h', 'l', 'L' ll, 'z', 't', 'j' */

        if (*f != '%') {
            put(&o, *f++);
            continue;
        }
        f++;
        for (;; f++) {
            if (*f == '-')
                sp.flags |= F_LEFT;
            else if (*f == '0')
                sp.flags |= F_ZERO;
            else if (*f == '+')
                sp.flags |= F_PLUS;
            else if (*f == ' ')
                sp.flags |= F_SPACE;
            else if (*f == '#')
                sp.flags |= F_ALT;
            else
                break;
        }
        if (*f == '*') {
            int w = va_arg(ap, int);

            f++;
            if (w < 0) {
                sp.flags |= F_LEFT;
                w = w == INT_MIN ? INT_MAX : -w;
            }
            sp.width = w;
        } else {
            sp.width = parse_num(&f);
        }
        if (*f == '.') {
            f++;
            if (*f == '*') {
                f++;
                sp.prec = va_arg(ap, int);
                if (sp.prec < 0)
                    sp.prec = -1;
            } else {
                sp.prec = parse_num(&f);
            }
        }
        if (*f == 'h') {
            len = *++f == 'h' ? (f++, 'H') : 'h';
        } else if (*f == 'l') {
            len = *++f == 'l' ? (f++, 'L') : 'l';
        } else if (*f == 'z' || *f == 't' || *f == 'j') {
            len = *f++;
        }
        sp.conv = *f;
        if (*f)
            f++;

        switch (sp.conv) {
        case 'd':
        case 'i': {
            long long v;

            if (len == 'L' || len == 'j')
                v = va_arg(ap, long long);
            else if (len == 'l' || len == 'z' || len == 't')
                v = va_arg(ap, long);
            else
                v = va_arg(ap, int);
            if (len == 'H')
                v = (signed char)v;
            else if (len == 'h')
                v = (short)v;
            fmt_int(&o, &sp, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, v < 0);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            unsigned long long v;

            if (len == 'L' || len == 'j')
                v = va_arg(ap, unsigned long long);
            else if (len == 'l' || len == 'z' || len == 't')
                v = va_arg(ap, unsigned long);
            else
                v = va_arg(ap, unsigned int);
            if (len == 'H')
                v = (unsigned char)v;
            else if (len == 'h')
                v = (unsigned short)v;
            fmt_int(&o, &sp, v, 0);
            break;
        }
        case 'p':
            sp.flags &= ~(unsigned)(F_PLUS | F_SPACE);
            fmt_int(&o, &sp, (uintptr_t)va_arg(ap, void *), 0);
            break;
        case 'c': {
            char c = (char)va_arg(ap, int);

            fmt_str(&o, &sp, &c, 1);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            size_t n = 0;

            if (!s)
                s = "(null)";
            /* Never read beyond the precision: s need not be terminated. */
            while ((sp.prec < 0 || n < (size_t)sp.prec) && s[n])
                n++;
            fmt_str(&o, &sp, s, n);
            break;
        }
        case '%':
            put(&o, '%');
            break;
        case 'n':
            (void)va_arg(ap, void *);
            break;
        default:
            /* Unsupported (floating point) or truncated: copy the spec literally. */
            put_str(&o, start, (size_t)(f - start));
            break;
        }
    }
    if (size)
        buf[o.len < o.size ? o.len : o.size] = '\0';
    return o.len > INT_MAX ? -1 : (int)o.len;
}

int snprintf(char *restrict buf, size_t size, const char *restrict fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return r;
}
