/*
 * Text exposition of the metrics page (Prometheus 0.0.4 / OpenMetrics 1.0),
 * shared by the guest's /metrics and the host's `ukctl metrics`.  Input may
 * be hostile on the host side: every string is bounded by its field size and
 * checked before it is printed.
 */
#include "common/metrics_page.h"

#include <string.h>

/*
 * Byte copy in 8-byte words: the guest's memcpy is `rep movsb`, which an
 * emulating hypervisor (TCG) runs one byte per loop turn, and the scrape
 * fast path copies about 10 KiB of template text per scrape.
 */
enum { WORD = sizeof(uint64_t), BLOCK = 4 * WORD };

/* n blocks of BLOCK bytes, four words per loop turn (one emulated branch). */
static void copy_blocks(char *d, const char *s, size_t n)
{
    for (; n; n--, d += BLOCK, s += BLOCK) {
        uint64_t w0, w1, w2, w3;
        __builtin_memcpy(&w0, s, WORD);
        __builtin_memcpy(&w1, s + WORD, WORD);
        __builtin_memcpy(&w2, s + 2 * WORD, WORD);
        __builtin_memcpy(&w3, s + 3 * WORD, WORD);
        __builtin_memcpy(d, &w0, WORD);
        __builtin_memcpy(d + WORD, &w1, WORD);
        __builtin_memcpy(d + 2 * WORD, &w2, WORD);
        __builtin_memcpy(d + 3 * WORD, &w3, WORD);
    }
}

static void copy_bytes(char *d, const char *s, size_t n)
{
    copy_blocks(d, s, n / BLOCK);
    d += n / BLOCK * BLOCK;
    s += n / BLOCK * BLOCK;
    n %= BLOCK;
    for (; n >= WORD; n -= WORD, d += WORD, s += WORD)
        __builtin_memcpy(d, s, WORD);
    while (n--)
        *d++ = *s++;
}

static void put_bytes(struct ukm_out *o, const char *s, size_t n)
{
    if (o->overflow || o->len + n > o->cap) {
        o->overflow = true;
        return;
    }
    copy_bytes(o->p + o->len, s, n);
    o->len += n;
}

void ukm_puts(struct ukm_out *o, const char *s)
{
    put_bytes(o, s, strlen(s));
}

/* Longest value text: "-", 20 integer digits, ".", 9 fraction digits. */
enum { VALUE_TEXT_MAX = 32, DEC_DIGITS_MAX = 20 };
_Static_assert(VALUE_TEXT_MAX >= BLOCK - 1, "room for whole-block copies");

/* Decimal digits of u (at least 1). */
static unsigned dec_len(uint64_t u)
{
    unsigned n = 1;
    for (uint64_t p = 10; n < DEC_DIGITS_MAX && u >= p; p *= 10)
        n++;
    return n;
}

/* The last n decimal digits of u, ending just before end; two per division. */
static void dec_put(char *end, uint64_t u, unsigned n)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    for (; n >= 2; n -= 2) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        end -= 2;
        end[0] = pairs[2 * r];
        end[1] = pairs[2 * r + 1];
    }
    if (n)
        end[-1] = (char)('0' + u % 10);
}

/* The divisions by constants, so the compiler turns them into multiplies. */
static uint64_t div_scale(uint64_t u, uint32_t scale, uint64_t *rem)
{
    uint64_t q;
    switch (scale) {
    case 1000: q = u / 1000; break;
    case 1000000: q = u / 1000000; break;
    case 1000000000: q = u / 1000000000; break;
    default: q = u / scale; break;
    }
    *rem = u - q * scale;
    return q;
}

/* v/scale as text at d (room for VALUE_TEXT_MAX); returns its length. */
static size_t fmt_value(char *d, int64_t v, uint32_t scale)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t frac = 0;
    unsigned fdigits = 0;
    char *p = d;

    if (v < 0)
        *p++ = '-';
    if (scale > 1) {
        for (uint32_t s = scale; s > 1; s /= 10)
            fdigits++;
        u = div_scale(u, scale, &frac);
        if (!frac)
            fdigits = 0;
        else
            while (frac % 10 == 0) {
                frac /= 10;
                fdigits--;
            }
    }
    unsigned n = dec_len(u);
    p += n;
    dec_put(p, u, n);
    if (fdigits) {
        *p++ = '.';
        p += fdigits;
        dec_put(p, frac, fdigits);
    }
    return (size_t)(p - d);
}

void ukm_fmt_value(struct ukm_out *o, int64_t v, uint32_t scale)
{
    char b[VALUE_TEXT_MAX];
    put_bytes(o, b, fmt_value(b, v, scale));
}

static bool valid_name(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n == 0 || n == max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Printable ASCII only, terminated within the field. */
static bool valid_text(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n == max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\')
            return false;
    return true;
}

static bool valid_scale(uint32_t s)
{
    return s == 1 || s == 1000 || s == 1000000 || s == 1000000000;
}

static const char *type_name(unsigned t)
{
    switch (t) {
    case UKM_COUNTER: return "counter";
    case UKM_GAUGE: return "gauge";
    case UKM_HISTOGRAM: return "histogram";
    default: return NULL;
    }
}

/*
 * OpenMetrics unit of a family: the base-unit suffix its name ends with
 * (Prometheus naming), or NULL.  OpenMetrics requires the name to end with
 * the unit, so the name is the one source of truth.
 */
static const char *unit_of(const char *name)
{
    static const char *const units[] = {"seconds", "bytes", "ratio"};
    size_t n = strlen(name);

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t u = strlen(units[i]);
        if (n > u + 1 && name[n - u - 1] == '_' && !strcmp(name + n - u, units[i]))
            return units[i];
    }
    return NULL;
}

/*
 * The one renderer.  slots not NULL: each printed sample's value text is
 * also recorded in slots[(*nslots)++].
 */
static unsigned render(const struct ukm_entry *e, unsigned count, bool om, struct ukm_out *out,
                       struct ukm_slot *slots, unsigned *nslots)
{
    unsigned bad = 0;
    for (unsigned f = 0; f < count; f++) {
        const struct ukm_entry *fe = &e[f];
        if (fe->kind == UKM_KIND_SAMPLE)
            continue;
        const char *tn = type_name(fe->type);
        if (fe->kind != UKM_KIND_FAMILY || !tn || !valid_name(fe->name, UKM_NAME_MAX) ||
            !valid_text(fe->text, UKM_TEXT_MAX)) {
            bad++;
            continue;
        }
        ukm_puts(out, "# HELP ");
        ukm_puts(out, fe->name);
        if (!om && fe->type == UKM_COUNTER)
            ukm_puts(out, "_total");
        ukm_puts(out, " ");
        ukm_puts(out, fe->text);
        ukm_puts(out, "\n# TYPE ");
        ukm_puts(out, fe->name);
        if (!om && fe->type == UKM_COUNTER)
            ukm_puts(out, "_total");
        ukm_puts(out, " ");
        ukm_puts(out, tn);
        ukm_puts(out, "\n");
        if (om && unit_of(fe->name)) {
            ukm_puts(out, "# UNIT ");
            ukm_puts(out, fe->name);
            ukm_puts(out, " ");
            ukm_puts(out, unit_of(fe->name));
            ukm_puts(out, "\n");
        }
        for (unsigned s = f + 1; s < count; s++) {
            const struct ukm_entry *se = &e[s];
            if (se->kind != UKM_KIND_SAMPLE || se->family != f)
                continue;
            if (!valid_name(se->name, UKM_NAME_MAX) || !valid_text(se->text, UKM_TEXT_MAX) ||
                !valid_scale(se->scale)) {
                bad++;
                continue;
            }
            ukm_puts(out, se->name);
            if (se->text[0]) {
                ukm_puts(out, "{");
                ukm_puts(out, se->text);
                ukm_puts(out, "}");
            }
            ukm_puts(out, " ");
            size_t at = out->len;
            ukm_fmt_value(out, se->value, se->scale);
            if (slots)
                slots[(*nslots)++] = (struct ukm_slot){(uint32_t)at, (uint32_t)(out->len - at), s,
                                                       se->scale, se->value};
            ukm_puts(out, "\n");
        }
    }
    /* Samples whose family index is not a family entry before them. */
    for (unsigned s = 0; s < count; s++)
        if (e[s].kind == UKM_KIND_SAMPLE && (e[s].family >= s || e[e[s].family].kind != UKM_KIND_FAMILY))
            bad++;
    if (om)
        ukm_puts(out, "# EOF\n");
    return bad;
}

unsigned ukm_render(const struct ukm_entry *e, unsigned count, bool om, struct ukm_out *out)
{
    return render(e, count, om, out, NULL, NULL);
}

unsigned ukm_render_template(const struct ukm_entry *e, unsigned count, bool om,
                             struct ukm_out *out, struct ukm_slot *slots, unsigned *nslots)
{
    *nslots = 0;
    return render(e, count, om, out, slots, nslots);
}

void ukm_render_values(struct ukm_template *t, const struct ukm_entry *e, struct ukm_out *out)
{
    size_t from = 0; /* template text not yet copied */
    for (unsigned i = 0; i < t->nslots; i++) {
        struct ukm_slot *sl = &t->slots[i];
        int64_t v = e[sl->entry].value;
        if (v == sl->value)
            continue; /* the template's text already shows it */
        size_t gap = sl->at - from;
        size_t blocks = (gap + BLOCK - 1) / BLOCK;
        if (!out->overflow && out->cap - out->len >= gap + VALUE_TEXT_MAX &&
            from + blocks * BLOCK <= t->len) {
            /*
             * Room for the text and any value, so no bound checks per piece,
             * and whole blocks only: the bytes copied past the gap (fewer
             * than BLOCK, still inside the text and the output's room) are
             * overwritten by the value and what follows it, or lie past len.
             */
            char *d = out->p + out->len;
            copy_blocks(d, t->text + from, blocks);
            size_t n = fmt_value(d + gap, v, sl->scale);
            out->len += gap + n;
            if (n == sl->len) {
                /* Same length: the template shows the new value from now on. */
                copy_bytes(t->text + sl->at, d + gap, n);
                sl->value = v;
            }
        } else {
            put_bytes(out, t->text + from, gap);
            ukm_fmt_value(out, v, sl->scale);
        }
        from = sl->at + sl->len;
    }
    put_bytes(out, t->text + from, t->len - from);
}

int ukm_validate(const void *buf, size_t len, unsigned *count, const char **why)
{
    struct ukm_header h;
    if (len < sizeof(h)) {
        *why = "page shorter than its header";
        return -1;
    }
    memcpy(&h, buf, sizeof(h));
    if (memcmp(h.magic, UKM_MAGIC, UKM_MAGIC_LEN) != 0) {
        *why = "bad magic";
        return -1;
    }
    if (h.version != UKM_VERSION || h.header_size != sizeof(h) ||
        h.entry_size != sizeof(struct ukm_entry)) {
        *why = "unsupported version or layout";
        return -1;
    }
    if (h.capacity == 0 || h.capacity > UKM_CAPACITY ||
        h.total_bytes != sizeof(h) + (uint64_t)h.capacity * sizeof(struct ukm_entry) ||
        h.total_bytes > len) {
        *why = "bad capacity or size";
        return -1;
    }
    if (h.count > h.capacity) {
        *why = "entry count larger than capacity";
        return -1;
    }
    *count = h.count;
    return 0;
}
