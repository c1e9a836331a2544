/*
 * Text exposition of the metrics page (Prometheus 0.0.4 / OpenMetrics 1.0),
 * shared by the guest's /metrics and the host's `ukctl metrics`.  Input may
 * be hostile on the host side: every string is bounded by its field size and
 * checked before it is printed.
 */
#include "common/metrics_page.h"

#include <string.h>

void ukm_puts(struct ukm_out *o, const char *s)
{
    size_t n = strlen(s);
    if (o->len + n > o->cap) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_u64(struct ukm_out *o, uint64_t v, unsigned min_digits)
{
    char b[24];
    int i = sizeof(b);
    b[--i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
        if (min_digits)
            min_digits--;
    } while (v || min_digits);
    ukm_puts(o, b + i);
}

void ukm_fmt_value(struct ukm_out *o, int64_t v, uint32_t scale)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    unsigned digits = 0;
    if (v < 0)
        ukm_puts(o, "-");
    for (uint32_t s = scale; s > 1; s /= 10)
        digits++;
    if (scale <= 1) {
        put_u64(o, u, 0);
        return;
    }
    put_u64(o, u / scale, 0);
    uint64_t frac = u % scale;
    if (!frac)
        return;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    ukm_puts(o, ".");
    put_u64(o, frac, digits);
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

unsigned ukm_render(const struct ukm_entry *e, unsigned count, bool om, struct ukm_out *out)
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
            ukm_fmt_value(out, se->value, se->scale);
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
