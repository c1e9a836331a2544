/*
 * Which guest memory a core holds, per level.  Everything the guest tells
 * (stack bounds, ring sizes, the page bitmap) is bounded and clamped to
 * RAM; what cannot be used is reported as a warning.
 */
#include <stdlib.h>
#include <string.h>

#include "../../guest-agent/common/metrics_page.h"
#include "../../tracing/include/uk_trace_abi.h"
#include <uk/klog_abi.h>

#include "crash.h"

#define PAGE 4096ULL
#define RAW_MAX 8192                    /* regions gathered before merging */
#define STACK_MAX (16ULL << 20)         /* larger "stacks" are corrupt */
#define RING_MAX (64ULL << 20)          /* larger trace rings are corrupt */

struct raw {
    struct crash_region r[RAW_MAX];
    unsigned n;
    bool full;
};

static void add(struct raw *w, const struct crash_mem *m, uint64_t a, uint64_t len)
{
    if (!len || a >= m->size)
        return;
    if (len > m->size - a)
        len = m->size - a;
    if (w->n >= RAW_MAX) {
        w->full = true;
        return;
    }
    w->r[w->n++] = (struct crash_region){a, len};
}

static int cmp_region(const void *x, const void *y)
{
    const struct crash_region *a = x, *b = y;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* Merge regions closer than `gap` bytes; returns the new count. */
static unsigned merge(struct crash_region *r, unsigned n, uint64_t gap)
{
    unsigned out = 0;
    for (unsigned i = 0; i < n; i++) {
        if (out && r[i].addr <= r[out - 1].addr + r[out - 1].len + gap) {
            uint64_t end = r[i].addr + r[i].len, pend = r[out - 1].addr + r[out - 1].len;
            if (end > pend)
                r[out - 1].len = end - r[out - 1].addr;
        } else
            r[out++] = r[i];
    }
    return out;
}

static void add_stacks(struct crash_state *st, struct raw *w, const struct crash_mem *m)
{
    for (unsigned i = 0; i < st->nthreads; i++) {
        const struct crash_thread *t = &st->threads[i];
        uint64_t lo = t->stack_lo, hi = t->stack_hi, sp = t->regs.rsp;
        if (!lo && !hi)
            continue; /* e.g. the boot CPU's idle thread: its stack is in .bss */
        if (lo >= hi || hi - lo > STACK_MAX || hi > m->size) {
            crash_warn(st, "thread %u: stack [0x%llx, 0x%llx) is not plausible; not dumped",
                       t->tid, (unsigned long long)lo, (unsigned long long)hi);
            continue;
        }
        /* Only the used part: from the page holding rsp (the red zone is
         * off in the kernel) up.  An rsp elsewhere (IST stack, guard page,
         * corruption) keeps the whole stack. */
        uint64_t from = lo;
        if (sp >= lo && sp < hi)
            from = sp & ~(PAGE - 1);
        add(w, m, from, hi - from);
    }
}

static void add_trace(struct crash_state *st, struct raw *w, const struct crash_mem *m,
                      uint64_t at)
{
    struct uk_trace_header h;
    if (!at)
        return;
    if (!crash_mem_read(m, at, &h, sizeof(h)) || h.magic[0] != UK_TRACE_MAGIC0 ||
        h.magic[1] != UK_TRACE_MAGIC1)
        return; /* tracing not initialised (yet): nothing to add */
    if (h.nrings > 2 * UK_THREAD_TABLE_CPUS || h.ntps > 1024 ||
        h.rec_size != sizeof(struct uk_trace_rec)) {
        crash_warn(st, "trace header: %u rings, %u tracepoints, record %u bytes: not plausible",
                   h.nrings, h.ntps, h.rec_size);
        return;
    }
    add(w, m, at, sizeof(h));
    add(w, m, h.rings_addr, (uint64_t)h.nrings * sizeof(struct uk_trace_ring));
    add(w, m, h.tp_addr, (uint64_t)h.ntps * sizeof(struct uk_trace_tp_meta));
    add(w, m, h.enabled_addr, h.ntps);
    for (unsigned i = 0; i < h.nrings; i++) {
        struct uk_trace_ring r;
        if (!crash_mem_read(m, h.rings_addr + (uint64_t)i * sizeof(r), &r, sizeof(r)))
            break;
        uint64_t len = (uint64_t)r.nslots * sizeof(struct uk_trace_rec);
        if (len > RING_MAX) {
            crash_warn(st, "trace ring %u: %u slots; not dumped", i, r.nslots);
            continue;
        }
        /* Slots at and above head were never written (reservation h uses
         * slot h % nslots): a ring that has not wrapped yet is dumped up to
         * its head only. */
        if (r.head < r.nslots)
            len = (r.head * sizeof(struct uk_trace_rec) + 4095) & ~4095ULL;
        add(w, m, r.slots_addr, len);
    }
}

/* Every page the page allocator marks used (stacks, heap, rings...). */
static void add_used_pages(struct crash_state *st, struct raw *w, const struct crash_mem *m,
                           const struct crash_layout *lay)
{
    uint64_t bm, base, count;
    if (!lay->pmem_bitmap || !crash_mem_read(m, lay->pmem_bitmap, &bm, 8) ||
        !crash_mem_read(m, lay->pmem_base, &base, 8) ||
        !crash_mem_read(m, lay->pmem_count, &count, 8)) {
        crash_warn(st, "page allocator state not found; heap pages not dumped");
        return;
    }
    if (count > m->size / PAGE || base >= m->size || (base & (PAGE - 1)) || bm >= m->size ||
        (count + 63) / 64 * 8 > m->size - bm) {
        crash_warn(st, "page allocator bitmap (base 0x%llx, %llu pages) not plausible",
                   (unsigned long long)base, (unsigned long long)count);
        return;
    }
    add(w, m, bm, (count + 63) / 64 * 8);
    uint64_t run = 0, start = 0;
    for (uint64_t i = 0; i <= count; i++) {
        bool used = false;
        if (i < count)
            used = (m->base[bm + i / 8] >> (i % 8)) & 1;
        if (used && !run++)
            start = i;
        if (!used && run) {
            add(w, m, base + start * PAGE, run * PAGE);
            run = 0;
        }
    }
}

void crash_regions(struct crash_state *st, const struct crash_mem *m,
                   const struct crash_layout *lay, enum crash_level level)
{
    struct raw *w = calloc(1, sizeof(*w));
    uint64_t p;
    st->nregions = 0;
    if (!w) {
        crash_warn(st, "out of memory listing regions");
        return;
    }
    if (level == CRASH_LEVEL_FULL) {
        add(w, m, 0, m->size);
    } else {
        for (unsigned i = 0; i < lay->nwseg && i < CRASH_MAX_SEGS; i++)
            add(w, m, lay->wseg[i].addr, lay->wseg[i].len);
        add_stacks(st, w, m);
        if (lay->klog)
            add(w, m, lay->klog, sizeof(struct uk_klog_ring));
        add_trace(st, w, m, lay->trace_header);
        if (lay->metrics_page && crash_mem_read(m, lay->metrics_page, &p, 8) && p)
            add(w, m, p, UKM_PAGE_BYTES);
        if (level == CRASH_LEVEL_HEAP)
            add_used_pages(st, w, m, lay);
    }
    if (w->full)
        crash_warn(st, "more than %u regions; the rest are not dumped", RAW_MAX);
    qsort(w->r, w->n, sizeof(w->r[0]), cmp_region);
    unsigned n = merge(w->r, w->n, 0);
    /* Too many pieces: join neighbours across ever larger gaps. */
    for (uint64_t gap = PAGE; n > CRASH_MAX_REGIONS; gap *= 2)
        n = merge(w->r, n, gap);
    memcpy(st->regions, w->r, n * sizeof(w->r[0]));
    st->nregions = n;
    free(w);
}

unsigned crash_klog(const struct crash_mem *m, const struct crash_layout *lay, unsigned max,
                    crash_klog_fn fn, void *arg)
{
    struct uk_klog_ring hdr;
    const size_t hl = offsetof(struct uk_klog_ring, rec);
    unsigned n = 0;
    if (!lay->klog || !crash_mem_read(m, lay->klog, &hdr, hl) || hdr.magic != UK_KLOG_MAGIC ||
        hdr.version != UK_KLOG_VERSION || hdr.slots != UK_KLOG_SLOTS ||
        hdr.rec_size != sizeof(struct uk_klog_rec))
        return 0;
    if (max > UK_KLOG_SLOTS)
        max = UK_KLOG_SLOTS;
    uint64_t first = hdr.head > max ? hdr.head - max : 0;
    for (uint64_t s = first; s < hdr.head; s++) {
        struct uk_klog_rec r;
        char text[UK_KLOG_TEXT + 1];
        if (!crash_mem_read(m, lay->klog + hl + (s % UK_KLOG_SLOTS) * sizeof(r), &r, sizeof(r)))
            break;
        if (r.seq != s + 1)
            continue; /* overwritten or never committed */
        size_t len = r.len <= UK_KLOG_TEXT ? r.len : UK_KLOG_TEXT;
        for (size_t i = 0; i < len; i++)
            text[i] = (r.text[i] >= 0x20 && r.text[i] < 0x7f) ? r.text[i] : '?';
        text[len] = '\0';
        fn(arg, s, r.time_ns, r.level, r.cpu, r.tid, text);
        n++;
    }
    return n;
}
