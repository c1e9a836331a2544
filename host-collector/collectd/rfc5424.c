/* RFC 5424 rendering of a struct logrec; the contract is in rfc5424.h. */
#include "rfc5424.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum {
    FACILITY_USER = 1,
    FACILITY_LOCAL0 = 16,
    SEVERITY_MAX = 7,
    HOSTNAME_MAX = 255, /* RFC 5424 6.2.4 */
    PROCID_MAX = 128,   /* RFC 5424 6.2.6 */
};

/* A bounded output buffer: once full, `ok` stays 0 and nothing more is written. */
struct out {
    char *p;
    size_t len, cap;
    int ok;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (!o->ok || n > o->cap - o->len) {
        o->ok = 0;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Length of the decoded UTF-8 sequence at s (n bytes left) and its code point,
 * or 0 if it is not valid, shortest-form UTF-8 of a scalar value. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len, i;
    uint32_t c = s[0], min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        len = 2, c &= 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, c &= 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Copy n bytes of untrusted text: valid UTF-8 passes, C0 controls, NUL and DEL
 * become '?', C1 controls and invalid bytes U+FFFD.  esc: also backslash-escape
 * the three characters an SD-PARAM value must escape. */
static void put_text(struct out *o, const char *s, size_t n, int esc)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, l;
    uint32_t cp;

    while (i < n) {
        l = utf8_decode(u + i, n - i, &cp);
        if (l == 0 || (cp >= 0x80 && cp < 0xA0)) {
            put(o, "\xEF\xBF\xBD", 3);
            i += l ? l : 1;
            continue;
        }
        if (cp < 0x20 || cp == 0x7F)
            put(o, "?", 1);
        else if (esc && (cp == '"' || cp == '\\' || cp == ']')) {
            put(o, "\\", 1);
            put(o, s + i, 1);
        } else
            put(o, s + i, l);
        i += l;
    }
}

/* A header field: printable ASCII without spaces (RFC 5424 PRINTUSASCII), at
 * most max bytes; anything else becomes '_'; empty gives the NILVALUE "-". */
static void put_field(struct out *o, const char *s, size_t n, size_t max)
{
    size_t i;
    char c;

    if (n > max)
        n = max;
    if (n == 0) {
        put(o, "-", 1);
        return;
    }
    for (i = 0; i < n; i++) {
        c = s[i];
        if (c < 33 || c > 126)
            c = '_';
        put(o, &c, 1);
    }
}

/* A fixed-size char array from the record: it may lack its NUL. */
#define FIXED(a) (a), strnlen((a), sizeof(a))

static void put_param(struct out *o, const char *name, const char *v, size_t n)
{
    put(o, " ", 1);
    puts_(o, name);
    put(o, "=\"", 2);
    put_text(o, v, n, 1);
    put(o, "\"", 1);
}

static void put_timestamp(struct out *o, int64_t ns)
{
    char buf[64];
    struct tm tm;
    time_t sec;

    if (ns <= 0) {
        put(o, "-", 1);
        return;
    }
    sec = (time_t)(ns / 1000000000);
    if (!gmtime_r(&sec, &tm) || tm.tm_year + 1900 > 9999) {
        put(o, "-", 1);
        return;
    }
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ns % 1000000000 / 1000));
    puts_(o, buf);
}

size_t rfc5424_format(const struct logrec *r, const char *hostname, char *out, size_t cap)
{
    struct out o = {out, 0, cap, 1};
    int console = r->source == LOGREC_CONSOLE;
    unsigned sev = r->severity > SEVERITY_MAX ? SEVERITY_MAX : r->severity;
    char num[32];
    size_t tlen = r->len > sizeof(r->text) ? sizeof(r->text) : r->len;

    snprintf(num, sizeof(num), "<%u>1 ", (console ? FACILITY_USER : FACILITY_LOCAL0) * 8 + sev);
    puts_(&o, num);
    put_timestamp(&o, r->time_wall_ns);
    put(&o, " ", 1);
    put_field(&o, hostname ? hostname : "", hostname ? strlen(hostname) : 0, HOSTNAME_MAX);
    puts_(&o, " ukscope ");
    put_field(&o, FIXED(r->instance), PROCID_MAX);
    puts_(&o, console ? " console " : " klog ");

    puts_(&o, "[ukscope@" RFC5424_ENTERPRISE);
    put_param(&o, "instance", FIXED(r->instance));
    put_param(&o, "boot", FIXED(r->boot_id));
    put_param(&o, "build", FIXED(r->build_id));
    snprintf(num, sizeof(num), "%" PRIu64, r->seq);
    put_param(&o, "seq", num, strlen(num));
    snprintf(num, sizeof(num), "%" PRId32, r->cpu < 0 ? -1 : r->cpu);
    put_param(&o, "cpu", num, strlen(num));
    put_param(&o, "thread", FIXED(r->thread));
    put(&o, "]", 1);
    if (tlen) {
        put(&o, " ", 1);
        put_text(&o, r->text, tlen, 0);
    }
    return o.ok ? o.len : 0;
}
