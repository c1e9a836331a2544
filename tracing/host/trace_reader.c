/* Host trace reader: discovery, validation and ring draining (see trace_reader.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trace_reader.h"

#define BATCH    1024         /* slots copied before head is re-checked */
#define STALL_NS 500000000ULL /* live: how long an uncommitted slot may stay pending */

static int fail(struct utr *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof(t->err), fmt, ap);
    va_end(ap);
    return -1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool in_image(const struct utr_mem *m, uint64_t addr, uint64_t len)
{
    return addr <= m->size && len <= m->size - addr;
}

/* Copy len bytes at guest address addr; false if outside the image. */
static bool copy_in(const struct utr_mem *m, uint64_t addr, void *dst, uint64_t len)
{
    if (!in_image(m, addr, len))
        return false;
    memcpy(dst, m->base + addr, len);
    return true;
}

static uint64_t load64(const struct utr_mem *m, uint64_t addr)
{
    return __atomic_load_n((const uint64_t *)(m->base + addr), __ATOMIC_ACQUIRE);
}

static int check_header(const struct utr_mem *m, uint64_t addr, struct uk_trace_header *h,
                        char *err, size_t errlen)
{
    const char *why = NULL;
    if (!copy_in(m, addr, h, sizeof(*h)))
        why = "header outside the memory image";
    else if (h->magic[0] != UK_TRACE_MAGIC0 || h->magic[1] != UK_TRACE_MAGIC1)
        why = "bad magic";
    else if (h->version != UK_TRACE_VERSION)
        why = "unsupported ABI version";
    else if (h->header_size < sizeof(*h) || h->rec_size != sizeof(struct uk_trace_rec) ||
             h->tp_meta_size != sizeof(struct uk_trace_tp_meta))
        why = "layout sizes do not match this reader";
    else if (h->self != addr)
        why = "header does not point at itself (a stray copy)";
    else if (h->nrings == 0 || h->nrings > UK_TRACE_MAX_RINGS || h->ncpus == 0 ||
             h->ncpus > h->nrings)
        why = "implausible ring/CPU count";
    else if (h->ntps == 0 || h->ntps > UK_TRACE_MAX_TPS)
        why = "implausible tracepoint count";
    else if (h->tsc_hz < 1000000ULL || h->tsc_hz > 100000000000ULL)
        why = "implausible TSC frequency";
    else if (h->build_id_len > sizeof(h->build_id))
        why = "bad build-id length";
    if (why) {
        snprintf(err, errlen, "trace header at 0x%llx: %s", (unsigned long long)addr, why);
        return -1;
    }
    return 0;
}

int utr_find(const struct utr_mem *m, uint64_t *addr, char *err, size_t errlen)
{
    char last[200] = "";
    for (uint64_t off = 0; in_image(m, off, sizeof(struct uk_trace_header)); off += UK_TRACE_PAGE) {
        uint64_t w0;
        memcpy(&w0, m->base + off, sizeof(w0));
        if (w0 != UK_TRACE_MAGIC0)
            continue;
        struct uk_trace_header h;
        if (check_header(m, off, &h, last, sizeof(last)) == 0) {
            *addr = off;
            return 0;
        }
    }
    snprintf(err, errlen, "no trace header in %llu bytes of guest memory%s%s",
             (unsigned long long)m->size, last[0] ? "; last candidate: " : "", last);
    return -1;
}

static bool ring_ok(const struct utr *t, const struct uk_trace_ring *r)
{
    uint32_t n = r->nslots;
    return n && n <= UK_TRACE_MAX_SLOTS && !(n & (n - 1)) && !(r->slots_addr & 7) &&
           in_image(&t->mem, r->slots_addr, (uint64_t)n * sizeof(struct uk_trace_rec)) &&
           r->mode <= UK_TRACE_DISCARD && r->kind <= UK_TRACE_RING_MAIN && r->cpu < t->hdr.ncpus;
}

/* Slot arrays of two validated rings (both inside the image) overlap. */
static bool slots_overlap(const struct uk_trace_ring *a, const struct uk_trace_ring *b)
{
    uint64_t a_end = a->slots_addr + (uint64_t)a->nslots * sizeof(struct uk_trace_rec);
    uint64_t b_end = b->slots_addr + (uint64_t)b->nslots * sizeof(struct uk_trace_rec);
    return a->slots_addr < b_end && b->slots_addr < a_end;
}

int utr_open(struct utr *t, const struct utr_mem *m, uint64_t hdr_addr)
{
    memset(t, 0, sizeof(*t));
    t->mem = *m;
    t->hdr_addr = hdr_addr;
    if (check_header(m, hdr_addr, &t->hdr, t->err, sizeof(t->err)))
        return -1;
    const struct uk_trace_header *h = &t->hdr;
    t->ntps = h->ntps;
    t->tps = calloc(h->ntps, sizeof(*t->tps));
    t->nrings = h->nrings;
    t->rings = calloc(h->nrings, sizeof(*t->rings));
    if (!t->tps || !t->rings)
        return fail(t, "out of memory");
    if (!copy_in(m, h->tp_addr, t->tps, (uint64_t)h->ntps * sizeof(*t->tps)))
        return fail(t, "tracepoint table at 0x%llx outside the image",
                    (unsigned long long)h->tp_addr);
    for (unsigned i = 0; i < t->ntps; i++)
        utr_clean_tp_meta(&t->tps[i], i);
    unsigned usable = 0;
    for (unsigned i = 0; i < t->nrings; i++) {
        struct utr_ring *r = &t->rings[i];
        if (!copy_in(m, h->rings_addr + (uint64_t)i * sizeof(r->desc), &r->desc, sizeof(r->desc)) ||
            (h->rings_addr & 7))
            return fail(t, "ring table at 0x%llx outside the image",
                        (unsigned long long)h->rings_addr);
        r->usable = ring_ok(t, &r->desc);
        /* Two rings claiming one (cpu, kind) would share every output
         * stream/track named after it: keep the first, count the rest. */
        for (unsigned j = 0; r->usable && j < i; j++)
            if (t->rings[j].usable && t->rings[j].desc.cpu == r->desc.cpu &&
                t->rings[j].desc.kind == r->desc.kind) {
                r->usable = false;
                t->dup_rings++;
            }
        /* Rings sharing slots would return the same records once per ring:
         * with 64 rings over one array a pass would hold 64 copies of the
         * image.  Disjoint arrays bound a pass by the image size. */
        for (unsigned j = 0; r->usable && j < i; j++)
            if (t->rings[j].usable && slots_overlap(&t->rings[j].desc, &r->desc)) {
                r->usable = false;
                t->overlap_rings++;
            }
        usable += r->usable;
    }
    if (!usable)
        return fail(t, "none of the %u ring descriptors is valid", t->nrings);
    utr_threads_refresh(t);
    return 0;
}

static uint64_t tsc_to_ns(const struct utr *t, uint64_t tsc)
{
    return (uint64_t)((unsigned __int128)tsc * 1000000000u / t->hdr.tsc_hz);
}

/* Drain ring i; returns events delivered, or -1 if fn asked to stop. */
static long drain_ring(struct utr *t, unsigned i, bool final, utr_event_fn fn, void *arg)
{
    struct utr_ring *r = &t->rings[i];
    uint64_t desc = t->hdr.rings_addr + (uint64_t)i * sizeof(struct uk_trace_ring);
    uint64_t n = r->desc.nslots, delivered = 0, budget = n;
    static __thread struct uk_trace_rec copy[BATCH];

    r->discarded = load64(&t->mem, desc + offsetof(struct uk_trace_ring, lost));
    /* budget: slots this pass may still look at.  Without it a guest that
     * writes as fast as we read (or lies about head) keeps the pass going. */
    while (budget) {
        uint64_t head = load64(&t->mem, desc + offsetof(struct uk_trace_ring, head));
        if (head < r->cursor) { /* head went backwards: a reboot or a lie */
            r->cursor = head;
            return (long)delivered;
        }
        if (head - r->cursor > n) {
            r->overwritten += head - n - r->cursor;
            r->cursor = head - n;
        }
        uint64_t span = BATCH < budget ? BATCH : budget;
        uint64_t end = head - r->cursor > span ? r->cursor + span : head;
        if (end == r->cursor)
            return (long)delivered;
        const uint8_t *slots = t->mem.base + r->desc.slots_addr;
        for (uint64_t h = r->cursor; h < end; h++) {
            const struct uk_trace_rec *s = (const void *)(slots + (h & (n - 1)) * sizeof(*s));
            struct uk_trace_rec *c = &copy[h - r->cursor];
            c->commit = __atomic_load_n(&s->commit, __ATOMIC_ACQUIRE);
            memcpy((uint8_t *)c + 4, (const uint8_t *)s + 4, sizeof(*c) - 4);
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint64_t head2 = load64(&t->mem, desc + offsetof(struct uk_trace_ring, head));
        uint64_t h;
        for (h = r->cursor; h < end; h++) {
            const struct uk_trace_rec *c = &copy[h - r->cursor];
            if (head2 < h || head2 - h > n) { /* a newer lap reached the slot */
                r->overwritten++;
                continue;
            }
            if (c->commit != uk_trace_commit_tag(h)) {
                /* Live: a writer may still be filling it (or was preempted);
                 * wait for it, but not forever (a CPU may have died there). */
                if (!final && r->stall_h != h + 1) {
                    r->stall_h = h + 1;
                    r->stall_since = now_ns();
                    break;
                }
                if (!final && now_ns() - r->stall_since < STALL_NS)
                    break;
                r->torn++;
                continue;
            }
            if (c->id >= t->ntps) {
                r->torn++;
                continue;
            }
            struct utr_event ev = {i, r->desc.cpu, r->desc.kind,         c->id,
                                   h, c->tsc,      tsc_to_ns(t, c->tsc), {c->arg[0], c->arg[1]}};
            r->read++;
            delivered++;
            if (fn && fn(arg, &ev)) {
                r->cursor = h + 1;
                return -1;
            }
        }
        budget -= h - r->cursor;
        r->cursor = h;
        if (h < end)
            return (long)delivered;
    }
    return (long)delivered;
}

long utr_drain(struct utr *t, bool final, utr_event_fn fn, void *arg)
{
    long total = 0;
    utr_threads_refresh(t);
    for (unsigned i = 0; i < t->nrings; i++) {
        if (!t->rings[i].usable)
            continue;
        long n = drain_ring(t, i, final, fn, arg);
        if (n < 0)
            return fail(t, "stopped by the consumer");
        total += n;
    }
    return total;
}

void utr_totals(const struct utr *t, struct utr_totals *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < t->nrings; i++) {
        out->read += t->rings[i].read;
        out->overwritten += t->rings[i].overwritten;
        out->torn += t->rings[i].torn;
        out->discarded += t->rings[i].discarded;
    }
}

uint64_t utr_ring_lost(const struct utr *t, unsigned i)
{
    const struct utr_ring *r = &t->rings[i];
    return r->overwritten + r->torn + r->discarded;
}

void utr_field_str(const struct utr *t, const struct utr_event *ev, unsigned f, char *buf,
                   size_t len)
{
    uint64_t v = ev->arg[f];
    switch (t->tps[ev->id].field[f].type) {
    case UK_TPF_NONE:
        snprintf(buf, len, "%s", "");
        break;
    case UK_TPF_U64:
        snprintf(buf, len, "%llu", (unsigned long long)v);
        break;
    case UK_TPF_S64:
        snprintf(buf, len, "%lld", (long long)v);
        break;
    case UK_TPF_STR8: {
        char s[9];
        utr_str8(v, s);
        snprintf(buf, len, "%s", s);
        break;
    }
    default:
        snprintf(buf, len, "0x%llx", (unsigned long long)v);
        break;
    }
}

void utr_close(struct utr *t)
{
    free(t->tps);
    free(t->rings);
    free(t->threads);
    t->tps = NULL;
    t->rings = NULL;
    t->threads = NULL;
}

int utr_evbuf_add(void *arg, const struct utr_event *ev)
{
    struct utr_evbuf *b = arg;

    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        struct utr_event *p = realloc(b->ev, cap * sizeof(*p));
        if (!p)
            return 1;
        b->ev = p;
        b->cap = cap;
    }
    b->ev[b->n++] = *ev;
    return 0;
}
