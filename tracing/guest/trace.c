/*
 * Guest tracer: per-CPU rings (tracing/include/uk_trace_ring.h), the
 * discoverable trace header and the tracepoint metadata table, plugged into
 * the kernel through <uk/trace_hooks.h> at UK_INITCALL_EARLY.
 *
 * Command line:
 *   trace=LIST        comma-separated tracepoint names or categories, "all"
 *                     or "none"; default "sched,irq,timer,virtio,log,app"
 *   trace_mode=overwrite|discard   main rings (default overwrite)
 *   trace_buf=SIZE    main ring bytes per CPU (default 256k, min 4k)
 */
#include <string.h>
#include <uk/build.h>
#include <uk/cmdline.h>
#include <uk/cpu.h>
#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/thread.h>
#include <uk/time.h>

#include "trace_guest.h"
#include "uk_trace_ring.h"

#define BOOT_SLOTS  256
#define DEFAULT_BUF (256 * 1024)
#define DEFAULT_SET "sched,irq,timer,virtio,log,app"

/* The header owns its page: the host finds it by scanning page starts. */
static struct uk_trace_header header __attribute__((aligned(UK_TRACE_PAGE)));
static struct uk_trace_ring rings[2 * UK_CPU_MAX] __attribute__((aligned(64)));
static struct uk_trace_rec boot_slots[UK_CPU_MAX][BOOT_SLOTS];
static struct uk_trace_rec *main_slots[UK_CPU_MAX];

/* Per CPU: 1 while events still go to the boot ring. */
static uint8_t in_boot[UK_CPU_MAX];
static unsigned ncpus;
static uint64_t tsc_base;

static struct uk_trace_tp_meta tp_meta[UK_TP_COUNT] = {
#define TP_META_(id, nm, cat, f0, t0, f1, t1)                                                      \
    [UK_TP_##id] = {nm, cat, {{f0, UK_TPF_##t0}, {f1, UK_TPF_##t1}}},
    UK_TRACEPOINTS(TP_META_)
#undef TP_META_
};

static void emit(unsigned id, uint64_t a, uint64_t b)
{
    unsigned cpu = uk_cpu_id();
    struct uk_trace_ring *r;

    if (cpu >= ncpus)
        return;
    if (in_boot[cpu]) {
        r = &rings[2 * cpu + UK_TRACE_RING_BOOT];
        if (uk_trace_ring_write(r, boot_slots[cpu], tsc_base, id, a, b))
            return;
        in_boot[cpu] = 0; /* boot ring full: from now on the main ring */
    }
    r = &rings[2 * cpu + UK_TRACE_RING_MAIN];
    if (!uk_trace_ring_write(r, main_slots[cpu], tsc_base, id, a, b))
        uk_trace_ring_count_lost(r);
}

void uk_trace_emit_direct(unsigned id, uint64_t a, uint64_t b)
{
    if (ncpus)
        emit(id, a, b);
}

/*
 * Totals for metrics, read without locks while writers run: each field is
 * one aligned 64-bit load, so values may be a few events apart but never torn.
 */
static uk_result stats(unsigned cpu, struct uk_trace_stats *out)
{
    if (cpu >= ncpus)
        return UK_ENOENT;
    const struct uk_trace_ring *b = &rings[2 * cpu + UK_TRACE_RING_BOOT];
    const struct uk_trace_ring *m = &rings[2 * cpu + UK_TRACE_RING_MAIN];
    uint64_t bh = __atomic_load_n(&b->head, __ATOMIC_RELAXED);
    uint64_t mh = __atomic_load_n(&m->head, __ATOMIC_RELAXED);
    out->written = bh + mh;
    out->dropped = __atomic_load_n(&b->lost, __ATOMIC_RELAXED) +
                   __atomic_load_n(&m->lost, __ATOMIC_RELAXED);
    out->overwritten = mh > m->nslots ? mh - m->nslots : 0; /* any mode: never decreases */
    return UK_OK;
}

/*
 * Writers read a ring's mode on every event, so one 32-bit store switches
 * it for the next event.  Main rings only: the boot rings stay discard.
 */
static uk_result set_policy(enum uk_trace_ring_policy policy)
{
    uint32_t mode = policy == UK_TRACE_POLICY_DISCARD ? UK_TRACE_DISCARD : UK_TRACE_OVERWRITE;
    for (unsigned c = 0; c < ncpus; c++)
        __atomic_store_n(&rings[2 * c + UK_TRACE_RING_MAIN].mode, mode, __ATOMIC_RELEASE);
    __atomic_store_n(&header.main_mode, mode, __ATOMIC_RELEASE);
    uk_info("trace: main rings now %s", mode == UK_TRACE_DISCARD ? "discard" : "overwrite");
    return UK_OK;
}

static const struct uk_tracer_ops tracer_ops = {.stats = stats, .set_policy = set_policy};

unsigned uk_trace_enable_list(const char *list, bool on)
{
    return uk_trace_set_list(list, on);
}

static uint32_t pow2_floor(uint64_t v)
{
    uint32_t p = 1;
    while ((uint64_t)p * 2 <= v && p < (1u << 22))
        p *= 2;
    return p;
}

static void trace_init(void)
{
    const char *mode_s = uk_cmdline_get("trace_mode");
    uint32_t mode = mode_s && !strcmp(mode_s, "discard") ? UK_TRACE_DISCARD : UK_TRACE_OVERWRITE;
    uint64_t buf = uk_cmdline_get_u64("trace_buf", DEFAULT_BUF);
    uint32_t nslots = pow2_floor((buf < 4096 ? 4096 : buf) / sizeof(struct uk_trace_rec));
    size_t pages = (size_t)nslots * sizeof(struct uk_trace_rec) / UK_TRACE_PAGE;
    unsigned n = uk_cpu_count();

    if (n > UK_CPU_MAX)
        n = UK_CPU_MAX;
    for (unsigned c = 0; c < n; c++) {
        main_slots[c] = uk_page_alloc(pages);
        if (!main_slots[c]) {
            uk_warn("trace: no memory for %zu pages of CPU %u ring; tracing off", pages, c);
            return;
        }
        struct uk_trace_ring *b = &rings[2 * c + UK_TRACE_RING_BOOT];
        struct uk_trace_ring *m = &rings[2 * c + UK_TRACE_RING_MAIN];
        *b = (struct uk_trace_ring){.slots_addr = (uintptr_t)boot_slots[c],
                                    .nslots = BOOT_SLOTS,
                                    .mode = UK_TRACE_DISCARD,
                                    .cpu = c,
                                    .kind = UK_TRACE_RING_BOOT};
        *m = (struct uk_trace_ring){.slots_addr = (uintptr_t)main_slots[c],
                                    .nslots = nslots,
                                    .mode = mode,
                                    .cpu = c,
                                    .kind = UK_TRACE_RING_MAIN};
        in_boot[c] = 1;
    }
    tsc_base = uk_tsc_boot();

    size_t id_len = 0;
    const uint8_t *id = uk_build_id(&id_len);
    header.version = UK_TRACE_VERSION;
    header.header_size = sizeof(header);
    header.self = (uintptr_t)&header;
    if (id) {
        id_len = id_len > sizeof(header.build_id) ? sizeof(header.build_id) : id_len;
        memcpy(header.build_id, id, id_len);
        header.build_id_len = (uint32_t)id_len;
    }
    header.tsc_hz = uk_tsc_hz();
    header.tsc_base = tsc_base;
    header.ncpus = n;
    header.nrings = 2 * n;
    header.rings_addr = (uintptr_t)rings;
    header.ntps = UK_TP_COUNT;
    header.tp_meta_size = sizeof(struct uk_trace_tp_meta);
    header.tp_addr = (uintptr_t)tp_meta;
    header.enabled_addr = (uintptr_t)uk_trace_on;
    header.rec_size = sizeof(struct uk_trace_rec);
    header.main_mode = mode;
    header.threads_addr = (uintptr_t)uk_thread_table_get();
    ncpus = n;
    uk_trace_register(emit);
    uk_trace_register_ops(&tracer_ops);

    const char *set = uk_cmdline_get("trace");
    uk_trace_enable_list(set ? set : DEFAULT_SET, true);

    /* Magic last: the host never finds a half-initialised header. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    header.magic[1] = UK_TRACE_MAGIC1;
    __atomic_store_n(&header.magic[0], UK_TRACE_MAGIC0, __ATOMIC_RELEASE);
    uk_info("trace: header at %p, %u CPUs x %u slots (%s), boot rings %u slots", (void *)&header, n,
            nslots, mode == UK_TRACE_DISCARD ? "discard" : "overwrite", BOOT_SLOTS);
}
UK_INITCALL_EARLY(trace_init);
