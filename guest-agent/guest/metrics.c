/*
 * Metrics registry and the shared metrics page; see metrics.h.
 */
#include "guest/metrics.h"

#include <stdlib.h>
#include <string.h>
#include <uk/cmdline.h>
#include <uk/cpu.h>
#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/sync.h>
#include <uk/thread.h>
#include <uk/time.h>

struct um_series {
    struct um_series *next;
    struct um_family *fam;
    unsigned entry; /* first page entry (histograms: buckets, +Inf, sum, count) */
    int64_t set;    /* gauge value, or counter base set by a collector */
    uint64_t pcpu[UK_CPU_MAX];
    uint64_t buckets[UM_BUCKETS_MAX + 1];
    int64_t sum;
    char lv[UM_LABELS_MAX][UM_LABEL_VALUE_MAX];
};

struct um_family {
    struct um_family *next;
    unsigned entry;
    enum ukm_type type;
    uint32_t scale;
    unsigned nlabels, max_series, nseries, nbuckets;
    const char *labels[UM_LABELS_MAX];
    int64_t buckets[UM_BUCKETS_MAX];
    struct um_series *series, **tail;
};

static struct ukm_header *page;
static struct ukm_entry *ents;
static struct um_family *families, **ftail = &families;
static struct uk_spinlock reg_lock = UK_SPINLOCK_INIT; /* families, series, page count */
static struct uk_mutex update_lock = UK_MUTEX_INIT;
static void (*collectors[16])(void *);
static void *collector_args[16];
static unsigned ncollectors, nseries_total;
static unsigned reserved; /* entries filled in (reg_lock) */
static struct um_series *overflow_series;

/*
 * Series come from a pool taken from the page allocator at start-up, not the
 * heap: series created lazily (a first interrupt on a new vector) must not
 * show up as heap use in the middle of someone else's heap accounting.
 */
enum { UM_SERIES_POOL = 768 };
static struct um_series *pool;
static unsigned pool_used;

static struct um_series *series_alloc(void)
{
    return pool_used < UM_SERIES_POOL ? &pool[pool_used++] : NULL;
}

static bool page_init(void)
{
    if (page)
        return true;
    pool = uk_page_alloc(UK_ALIGN_UP(UM_SERIES_POOL * sizeof(struct um_series), UK_PAGE_SIZE) /
                         UK_PAGE_SIZE);
    page = uk_page_alloc(UKM_PAGE_BYTES / UK_PAGE_SIZE);
    if (!page || !pool)
        return false;
    page->version = UKM_VERSION;
    page->header_size = sizeof(*page);
    page->entry_size = sizeof(struct ukm_entry);
    page->capacity = UKM_CAPACITY;
    page->total_bytes = sizeof(*page) + UKM_CAPACITY * sizeof(struct ukm_entry);
    ents = (struct ukm_entry *)(page + 1);
    /* The magic last, so a scanner never sees a half-initialised header. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(page->magic, UKM_MAGIC, UKM_MAGIC_LEN);
    return true;
}

/* Reserve n consecutive entries (reg_lock held); -1 if full. */
static int reserve(unsigned n)
{
    if (!page_init() || reserved + n > page->capacity)
        return -1;
    return (int)reserved;
}

/* Entries become visible in the page at the next um_update, so the page is
 * always one consistent snapshot (new series do not appear with no value). */
static void publish(unsigned n) { reserved += n; }

struct um_family *um_family(const char *name, const char *help, enum ukm_type type,
                            uint32_t scale, const char *const *labels, unsigned max_series,
                            const int64_t *buckets, unsigned nbuckets)
{
    struct um_family *f = calloc(1, sizeof(*f));
    if (!f || nbuckets > UM_BUCKETS_MAX || strlen(name) + 8 >= UKM_NAME_MAX) {
        free(f);
        return NULL;
    }
    unsigned long fl = uk_spin_lock_irqsave(&reg_lock);
    int e = reserve(1);
    if (e < 0) {
        uk_spin_unlock_irqrestore(&reg_lock, fl);
        free(f);
        return NULL;
    }
    f->entry = (unsigned)e;
    f->type = type;
    f->scale = scale ? scale : 1;
    f->max_series = max_series ? max_series : 1;
    for (; labels && labels[f->nlabels] && f->nlabels < UM_LABELS_MAX; f->nlabels++)
        f->labels[f->nlabels] = labels[f->nlabels];
    f->nbuckets = nbuckets;
    for (unsigned i = 0; i < nbuckets; i++)
        f->buckets[i] = buckets[i];
    f->tail = &f->series;
    struct ukm_entry *en = &ents[e];
    en->kind = UKM_KIND_FAMILY;
    en->type = (uint16_t)type;
    en->scale = 1;
    strlcpy(en->name, name, sizeof(en->name));
    strlcpy(en->text, help, sizeof(en->text));
    publish(1);
    *ftail = f;
    ftail = &f->next;
    uk_spin_unlock_irqrestore(&reg_lock, fl);
    return f;
}

/* Label value as it may appear between quotes (no escapes needed). */
static void clean_value(char *dst, size_t cap, const char *v)
{
    size_t i = 0;
    for (; v && v[i] && i + 1 < cap; i++) {
        char c = v[i];
        dst[i] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '_' : c;
    }
    dst[i] = 0;
}

static void labels_text(char *dst, size_t cap, const struct um_family *f,
                        const struct um_series *s, const char *le)
{
    struct ukm_out o = {dst, 0, cap - 1, false};
    for (unsigned i = 0; i < f->nlabels; i++) {
        if (i)
            ukm_puts(&o, ",");
        ukm_puts(&o, f->labels[i]);
        ukm_puts(&o, "=\"");
        ukm_puts(&o, s->lv[i]);
        ukm_puts(&o, "\"");
    }
    if (le) {
        if (f->nlabels)
            ukm_puts(&o, ",");
        ukm_puts(&o, "le=\"");
        ukm_puts(&o, le);
        ukm_puts(&o, "\"");
    }
    dst[o.len] = 0;
}

static void sample_entry(struct ukm_entry *en, const struct um_family *f, const char *suffix)
{
    en->kind = UKM_KIND_SAMPLE;
    en->family = (uint16_t)f->entry;
    en->scale = f->scale;
    strlcpy(en->name, ents[f->entry].name, sizeof(en->name));
    strcat(en->name, suffix);
}

struct um_series *um_series(struct um_family *f, const char *v0, const char *v1)
{
    const char *v[UM_LABELS_MAX] = {v0, v1};
    /* Zeroed whole: series are found by comparing all of lv, padding included. */
    char cv[UM_LABELS_MAX][UM_LABEL_VALUE_MAX] = {{0}};
    struct um_series *s;

    if (!f)
        return NULL;
    for (unsigned i = 0; i < UM_LABELS_MAX; i++)
        clean_value(cv[i], sizeof(cv[i]), i < f->nlabels ? v[i] : NULL);
    unsigned long fl = uk_spin_lock_irqsave(&reg_lock);
    for (s = f->series; s; s = s->next)
        if (memcmp(s->lv, cv, sizeof(cv)) == 0)
            goto out;
    unsigned need = f->type == UKM_HISTOGRAM ? f->nbuckets + 3 : 1;
    int e = f->nseries < f->max_series ? reserve(need) : -1;
    s = e >= 0 ? series_alloc() : NULL;
    if (!s) {
        if (page)
            page->series_overflow++;
        if (overflow_series)
            overflow_series->set++;
        goto out;
    }
    memcpy(s->lv, cv, sizeof(cv));
    s->fam = f;
    s->entry = (unsigned)e;
    if (f->type == UKM_HISTOGRAM) {
        for (unsigned b = 0; b <= f->nbuckets; b++) {
            char le[24] = "+Inf";
            if (b < f->nbuckets) {
                struct ukm_out o = {le, 0, sizeof(le) - 1, false};
                ukm_fmt_value(&o, f->buckets[b], f->scale);
                le[o.len] = 0;
            }
            struct ukm_entry *en = &ents[e + b];
            sample_entry(en, f, "_bucket");
            en->scale = 1;
            labels_text(en->text, sizeof(en->text), f, s, le);
        }
        sample_entry(&ents[e + f->nbuckets + 1], f, "_sum");
        labels_text(ents[e + f->nbuckets + 1].text, UKM_TEXT_MAX, f, s, NULL);
        sample_entry(&ents[e + f->nbuckets + 2], f, "_count");
        ents[e + f->nbuckets + 2].scale = 1;
        labels_text(ents[e + f->nbuckets + 2].text, UKM_TEXT_MAX, f, s, NULL);
    } else {
        sample_entry(&ents[e], f, f->type == UKM_COUNTER ? "_total" : "");
        labels_text(ents[e].text, UKM_TEXT_MAX, f, s, NULL);
    }
    publish(need);
    f->nseries++;
    nseries_total++;
    *f->tail = s;
    f->tail = &s->next;
out:
    uk_spin_unlock_irqrestore(&reg_lock, fl);
    return s;
}

void um_add(struct um_series *s, uint64_t n)
{
    if (s)
        __atomic_add_fetch(&s->pcpu[uk_cpu_id() % UK_CPU_MAX], n, __ATOMIC_RELAXED);
}

void um_set(struct um_series *s, int64_t v)
{
    if (s)
        __atomic_store_n(&s->set, v, __ATOMIC_RELAXED);
}

void um_observe(struct um_series *s, int64_t v)
{
    if (!s)
        return;
    const struct um_family *f = s->fam;
    unsigned b = 0;
    while (b < f->nbuckets && v > f->buckets[b])
        b++;
    /* Per-bucket counts; made cumulative when copied to the page. */
    __atomic_add_fetch(&s->buckets[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->sum, v, __ATOMIC_RELAXED);
}

uk_result um_collector(void (*fn)(void *arg), void *arg)
{
    if (ncollectors >= UK_ARRAY_SIZE(collectors))
        return UK_ENOMEM;
    collector_args[ncollectors] = arg;
    collectors[ncollectors++] = fn;
    return UK_OK;
}

unsigned um_series_count(void) { return nseries_total; }

/*
 * CPUs whose per-CPU counter slots may be non-zero: the most CPUs ever seen
 * online (a counter must never go down, so this only grows).  Summing these
 * instead of all UK_CPU_MAX slots keeps the per-scrape cost proportional to
 * the machine.
 */
static unsigned counter_cpus(void)
{
    static unsigned seen;
    unsigned n = uk_cpu_count();
    if (n > UK_CPU_MAX)
        n = UK_CPU_MAX;
    if (n > seen)
        seen = n;
    return seen;
}

static void write_values(void)
{
    unsigned ncpu = counter_cpus();
    for (struct um_family *f = families; f; f = f->next) {
        for (struct um_series *s = f->series; s; s = s->next) {
            if (f->type == UKM_HISTOGRAM) {
                uint64_t cum = 0;
                for (unsigned b = 0; b <= f->nbuckets; b++) {
                    cum += __atomic_load_n(&s->buckets[b], __ATOMIC_RELAXED);
                    ents[s->entry + b].value = (int64_t)cum;
                }
                ents[s->entry + f->nbuckets + 1].value = __atomic_load_n(&s->sum, __ATOMIC_RELAXED);
                ents[s->entry + f->nbuckets + 2].value = (int64_t)cum;
            } else if (f->type == UKM_COUNTER) {
                uint64_t v = (uint64_t)__atomic_load_n(&s->set, __ATOMIC_RELAXED);
                for (unsigned c = 0; c < ncpu; c++)
                    v += __atomic_load_n(&s->pcpu[c], __ATOMIC_RELAXED);
                ents[s->entry].value = (int64_t)v;
            } else {
                ents[s->entry].value = __atomic_load_n(&s->set, __ATOMIC_RELAXED);
            }
        }
    }
}

/*
 * Rendered templates (see ukm_render_template), one per format, so scrapes
 * copy text and format only the values that changed.  Valid while the page
 * count equals `count` (entries never change once counted).  update_lock.
 */
struct render_cache {
    struct ukm_template t; /* text and slots malloc'd; text NULL: none */
    unsigned count;
};
static struct render_cache caches[2];

static void render(bool om, unsigned count, struct ukm_out *out)
{
    struct render_cache *c = &caches[om];
    if (c->t.text && c->count == count) {
        ukm_render_values(&c->t, ents, out);
        return;
    }
    free(c->t.text);
    free(c->t.slots);
    *c = (struct render_cache){0};
    struct ukm_slot *slots = malloc((count ? count : 1) * sizeof(*slots));
    if (!slots) {
        ukm_render(ents, count, om, out);
        return;
    }
    /* The template is this scrape's output: render it there, then keep a copy. */
    size_t start = out->len;
    unsigned nslots;
    ukm_render_template(ents, count, om, out, slots, &nslots);
    size_t len = out->len - start;
    char *text = out->overflow ? NULL : malloc(len ? len : 1);
    if (!text) {
        free(slots);
        return;
    }
    memcpy(text, out->p + start, len);
    *c = (struct render_cache){{text, len, slots, nslots}, count};
}

void um_update(bool openmetrics, struct ukm_out *out)
{
    if (!page_init())
        return;
    uk_mutex_lock(&update_lock);
    for (unsigned i = 0; i < ncollectors; i++)
        collectors[i](collector_args[i]);
    unsigned long fl = uk_spin_lock_irqsave(&reg_lock);
    __atomic_store_n(&page->seq, page->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    write_values();
    page->count = reserved;
    page->updated_ns = uk_time_ns();
    page->updates++;
    __atomic_store_n(&page->seq, page->seq + 1, __ATOMIC_RELEASE);
    unsigned count = page->count;
    uk_spin_unlock_irqrestore(&reg_lock, fl);
    if (out)
        render(openmetrics, count, out);
    uk_mutex_unlock(&update_lock);
}

unsigned um_snapshot(struct ukm_entry *dst, unsigned cap)
{
    if (!page_init())
        return 0;
    um_update(false, NULL);
    /* Page writers hold update_lock: the copy is one update's values. */
    uk_mutex_lock(&update_lock);
    unsigned n = page->count < cap ? page->count : cap;
    memcpy(dst, ents, n * sizeof(*dst));
    uk_mutex_unlock(&update_lock);
    return n;
}

/*
 * Keeps the shared page fresh without scrapes (the host may read it when the
 * network is hung): every metrics_interval_ms (default 1000; 0: only scrapes
 * and telemetry's metric snapshots, through um_snapshot, update the page).
 */
static void updater(void *arg)
{
    uint64_t ms = (uint64_t)(uintptr_t)arg;
    for (;;) {
        /* On the uptime grid, so other periodic work can share the wake-up. */
        uk_sleep_ns(UK_MSEC(ms) - uk_time_ns() % UK_MSEC(ms));
        um_update(false, NULL);
    }
}

static void updater_init(void)
{
    uint64_t ms = uk_cmdline_get_u64("metrics_interval_ms", 1000);
    um_update(false, NULL);
    if (ms && uk_thread_create("metrics", updater, (void *)(uintptr_t)ms, UK_THREAD_ATTR_SYSTEM, NULL) != UK_OK)
        uk_warn("metrics: cannot start the page updater");
}
UK_INITCALL_SERVICE(updater_init);

static void metrics_init(void)
{
    struct um_family *f = um_family("ukscope_metrics_series_overflow",
                                    "New label sets refused because their metric family already had its maximum number of series",
                                    UKM_COUNTER, 1, NULL, 1, NULL, 0);
    overflow_series = um_series(f, NULL, NULL);
}
UK_INITCALL_EARLY(metrics_init);
