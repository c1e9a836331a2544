/*
 * MetricSnapshot: the metrics registry's values -- the same series, names
 * and integers as /metrics and the shared page -- split into envelopes of at
 * most SAMPLES_PER_PART samples so that every frame stays under the guest's
 * frame bound (TELEM_GUEST_FRAME_MAX): a sample is at most ~220 bytes
 * encoded (64-byte name, 112 bytes of labels, value, scale, type).
 */
#include <string.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/time.h>

#include "guest/metrics.h"
#include "telemetry.h"

enum {
    SAMPLES_PER_PART = 32,
    LABELS_MAX = UM_LABELS_MAX + 1, /* a histogram bucket adds le */
};

typedef Ukscope__Telemetry__Sample sample_t;
typedef Ukscope__Telemetry__Label label_t;

/* One envelope's worth; only the telemetry thread sends snapshots. */
struct part {
    sample_t s[SAMPLES_PER_PART];
    sample_t *sp[SAMPLES_PER_PART];
    label_t l[SAMPLES_PER_PART][LABELS_MAX];
    label_t *lp[SAMPLES_PER_PART][LABELS_MAX];
    char text[SAMPLES_PER_PART][UKM_TEXT_MAX]; /* label text, split in place */
    unsigned n;
};

static struct part part;
static struct ukm_entry *copy; /* the registry page, copied */

/*
 * Split `name="value",...` (the registry writes it: values hold no quote or
 * backslash) into labels pointing into text.  Returns the label count; a
 * malformed text yields the labels before the fault.
 */
static unsigned split_labels(char *text, label_t *l, label_t **lp)
{
    unsigned n = 0;
    char *p = text;

    while (*p && n < LABELS_MAX) {
        char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"')
            break;
        char *end = strchr(eq + 2, '"');
        if (!end)
            break;
        *eq = 0;
        *end = 0;
        ukscope__telemetry__label__init(&l[n]);
        l[n].name = p;
        l[n].value = eq + 2;
        lp[n] = &l[n];
        n++;
        p = end + 1;
        if (*p != ',')
            break;
        p++;
    }
    return n;
}

static Ukscope__Telemetry__Sample__Type sample_type(unsigned t)
{
    switch (t) {
    case UKM_COUNTER: return UKSCOPE__TELEMETRY__SAMPLE__TYPE__COUNTER;
    case UKM_GAUGE: return UKSCOPE__TELEMETRY__SAMPLE__TYPE__GAUGE;
    case UKM_HISTOGRAM: return UKSCOPE__TELEMETRY__SAMPLE__TYPE__HISTOGRAM;
    default: return UKSCOPE__TELEMETRY__SAMPLE__TYPE__UNTYPED;
    }
}

static void add(const struct ukm_entry *fam, const struct ukm_entry *e)
{
    unsigned i = part.n++;
    sample_t *s = &part.s[i];

    ukscope__telemetry__sample__init(s);
    s->name = (char *)e->name;
    s->type = sample_type(fam->type);
    s->value_case = UKSCOPE__TELEMETRY__SAMPLE__VALUE_INT_VALUE;
    s->int_value = e->value;
    s->scale = e->scale > 1 ? e->scale : 0;
    memcpy(part.text[i], e->text, UKM_TEXT_MAX);
    part.text[i][UKM_TEXT_MAX - 1] = 0;
    s->n_labels = split_labels(part.text[i], part.l[i], part.lp[i]);
    s->labels = part.lp[i];
    part.sp[i] = s;
}

static void send_part(unsigned index, unsigned parts, uint64_t snapshot_ns)
{
    telem_envelope env = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
    Ukscope__Telemetry__MetricSnapshot ms = UKSCOPE__TELEMETRY__METRIC_SNAPSHOT__INIT;

    ms.n_samples = part.n;
    ms.samples = part.sp;
    ms.part = index;
    ms.parts = parts;
    ms.snapshot_ns = snapshot_ns;
    env.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_METRICS;
    env.metrics = &ms;
    telem_send(&env);
    part.n = 0;
}

void telem_send_metrics(void);
void telem_send_metrics(void)
{
    if (!copy && !(copy = uk_page_alloc(UKM_PAGE_BYTES / UK_PAGE_SIZE))) {
        uk_warn("telemetry: no memory for metric snapshots");
        return;
    }
    unsigned count = um_snapshot(copy, UKM_CAPACITY), samples = 0, index = 0;
    uint64_t now = uk_time_ns();

    for (unsigned i = 0; i < count; i++)
        samples += copy[i].kind == UKM_KIND_SAMPLE && copy[i].family < i;
    unsigned parts = (samples + SAMPLES_PER_PART - 1) / SAMPLES_PER_PART;
    for (unsigned i = 0; i < count; i++) {
        const struct ukm_entry *e = &copy[i];
        if (e->kind != UKM_KIND_SAMPLE || e->family >= i)
            continue;
        add(&copy[e->family], e);
        if (part.n == SAMPLES_PER_PART)
            send_part(index++, parts, now);
    }
    if (part.n)
        send_part(index, parts, now);
}
