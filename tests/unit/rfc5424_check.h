/* A strict reader of what rfc5424_format() must produce, for test_rfc5424
 * and fuzz_rfc5424: the six header fields, one SD element with properly
 * escaped values, then an optional MSG; all of it valid UTF-8 without control
 * characters.  Returns NULL if fine, else what is wrong. */
#ifndef RFC5424_CHECK_H
#define RFC5424_CHECK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *rfc5424_check_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t c = s[i], len, k;
        if (c < 0x20 || c == 0x7F)
            return "control character";
        if (c < 0x80) {
            i++;
            continue;
        }
        len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n)
            return "bad UTF-8 lead or truncated";
        c &= 0x7F >> len;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return "bad UTF-8 continuation";
            c = c << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
            c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) || (c >= 0x80 && c < 0xA0))
            return "overlong, surrogate, C1 or out of range";
        i += len;
    }
    return NULL;
}

/* seq_out: the seq="" value parsed back (or NULL). */
static const char *rfc5424_check(const char *buf, size_t n, unsigned long long *seq_out)
{
    const char *p = buf, *end = buf + n, *err;
    int field;

    if ((err = rfc5424_check_utf8((const unsigned char *)buf, n)) != NULL)
        return err;
    if (n < 2 || *p != '<')
        return "no PRI";
    for (field = 0; field < 6; field++) { /* PRI+VERSION, TS, HOST, APP, PROCID, MSGID */
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        if (!sp || sp == p)
            return "missing header field";
        for (const char *q = p; q < sp; q++)
            if (*q < 33 || *q > 126)
                return "header field not PRINTUSASCII";
        p = sp + 1;
    }
    if (end - p < 15 || memcmp(p, "[ukscope@32473 ", 15) != 0)
        return "no ukscope SD element";
    p += 14;
    while (p < end && *p == ' ') {
        const char *name = ++p;
        while (p < end && *p != '=')
            if (*p == ' ' || *p == ']' || *p == '"' || (unsigned char)*p > 126)
                return "bad SD-NAME";
            else
                p++;
        if (p + 1 >= end || p[1] != '"' || p == name)
            return "bad SD-PARAM";
        int is_seq = p - name == 3 && memcmp(name, "seq", 3) == 0;
        p += 2;
        const char *val = p;
        while (p < end && *p != '"') {
            if (*p == ']')
                return "unescaped ] in a value";
            if (*p == '\\') {
                if (p + 1 >= end || (p[1] != '"' && p[1] != '\\' && p[1] != ']'))
                    return "bad escape in a value";
                p++;
            }
            p++;
        }
        if (p >= end)
            return "unterminated value";
        if (is_seq && seq_out)
            *seq_out = strtoull(val, NULL, 10);
        p++;
    }
    if (p >= end || *p != ']')
        return "SD element not closed";
    p++;
    if (p < end && *p != ' ')
        return "no space before MSG";
    return NULL;
}

#endif
