/*
 * Kernel log ring (layout: <uk/klog_abi.h>) mirrored to the console.
 *
 * Writers reserve a sequence number with one atomic increment, so the ring
 * is safe from every context including NMIs.  The console mirror is
 * serialised by a lock, line by line; during a panic only the panicking
 * CPU prints, and waits for another CPU's line only a bounded time.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uk/cmdline.h>
#include <uk/trace_hooks.h>
#include <uk/console.h>
#include <uk/klog.h>
#include <uk/sync.h>
#include <uk/time.h>

/* Exported by name for the gdb helper and host tools. */
struct uk_klog_ring uk_klog = {
    .magic = UK_KLOG_MAGIC,
    .version = UK_KLOG_VERSION,
    .slots = UK_KLOG_SLOTS,
    .rec_size = sizeof(struct uk_klog_rec),
};

static unsigned log_level = UK_LOG_INFO;
static unsigned console_level = UK_LOG_INFO;
static volatile uint32_t console_owner = ~0u; /* CPU printing, or ~0 */
static bool klog_ready;
static uint64_t klog_truncated; /* records cut to UK_KLOG_TEXT (uk_klog_stats) */

void klog_init(void)
{
    log_level = (unsigned)uk_cmdline_get_u64("loglevel", UK_LOG_INFO);
    console_level = (unsigned)uk_cmdline_get_u64("console_loglevel", log_level);
    klog_ready = true;
}

const struct uk_klog_ring *uk_klog_ring(void)
{
    return &uk_klog;
}

const char *uk_log_level_name(unsigned level)
{
    static const char *const names[] = {"emerg", "alert", "crit", "err",
                                        "warn",  "notice", "info", "debug"};
    return level < UK_ARRAY_SIZE(names) ? names[level] : "?";
}

/* How long a panicking CPU waits for another CPU to finish the line it is
 * printing.  A line is ~100 port writes: well under a millisecond under
 * TCG, tens of milliseconds where each one is emulated (kvm_pvm).  An owner
 * that does not finish in time is taken to be stuck (parked by the panic's
 * NMI mid-line, or hung) and is printed over from then on. */
#define PANIC_CONSOLE_WAIT_NS 250000000ULL
static bool console_broken;

/*
 * Take the console for one line; false: do not print it (the record is in
 * the ring all the same).  Lines never interleave, so a panic report stays
 * readable while other CPUs log: during a panic only the panicking CPU
 * prints, after the line another CPU may be in the middle of; an NMI on the
 * printing CPU (re-entry) prints anyway.
 */
static bool console_lock(void)
{
    unsigned me = uk_cpu_id();
    int pc = panic_cpu;
    if (console_owner == me)
        return true;
    if (pc >= 0 && pc != (int)me)
        return false;
    if (pc >= 0 && console_broken)
        return true;
    uint64_t deadline = pc >= 0 ? uk_time_ns() + PANIC_CONSOLE_WAIT_NS : 0;
    for (unsigned spins = 0; spins < 10000000; spins++) {
        uint32_t expected = ~0u;
        if (__atomic_compare_exchange_n(&console_owner, &expected, me, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return true;
        if (deadline && uk_time_ns() > deadline)
            break;
        uk_cpu_relax();
    }
    if (pc >= 0)
        console_broken = true;
    return true; /* the owner is stuck: better a mixed line than none */
}

static void console_unlock(void)
{
    if (console_owner == uk_cpu_id())
        __atomic_store_n(&console_owner, ~0u, __ATOMIC_RELEASE);
}

static void console_emit(const struct uk_klog_rec *r, const char *text, size_t len)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof(prefix), "[%5llu.%06llu] %u:%u %s: ",
                     (unsigned long long)(r->time_ns / 1000000000ULL),
                     (unsigned long long)(r->time_ns / 1000ULL % 1000000ULL), r->cpu, r->tid,
                     uk_log_level_name(r->level));
    unsigned long flags = uk_irq_save();
    if (console_lock()) {
        uk_console_write(prefix, (size_t)n);
        uk_console_write(text, len);
        uk_console_write("\n", 1);
        console_unlock();
    }
    uk_irq_restore(flags);
}

void uk_vlog(enum uk_log_level level, const char *fmt, va_list ap)
{
    if (level > log_level && level > console_level)
        return;

    char text[256];
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    size_t len = n < 0 ? 0 : UK_MIN((size_t)n, sizeof(text) - 1);
    while (len && text[len - 1] == '\n')
        len--;

    struct uk_klog_rec r = {0};
    r.time_ns = uk_time_ns();
    r.level = (uint8_t)level;
    r.cpu = (uint8_t)uk_cpu_id();
    struct uk_thread *self = percpu_area[r.cpu].self ? this_cpu_current() : NULL;
    r.tid = self ? self->tid : 0;
    r.len = (uint16_t)UK_MIN(len, (size_t)UK_KLOG_TEXT);
    memcpy(r.text, text, r.len);

    if (level <= log_level) {
        if (len > UK_KLOG_TEXT)
            __atomic_add_fetch(&klog_truncated, 1, __ATOMIC_RELAXED);
        uint64_t seq = __atomic_fetch_add(&uk_klog.head, 1, __ATOMIC_RELAXED);
        struct uk_klog_rec *slot = &uk_klog.rec[seq % UK_KLOG_SLOTS];
        __atomic_store_n(&slot->seq, 0, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        r.seq = 0;
        memcpy(slot, &r, sizeof(r));
        __atomic_store_n(&slot->seq, seq + 1, __ATOMIC_RELEASE);
        UK_TRACE(KLOG, seq, level);
    }
    if (level <= console_level || !klog_ready)
        console_emit(&r, text, len);
}

void uk_klog_stats(struct uk_klog_stats *out)
{
    out->written = __atomic_load_n(&uk_klog.head, __ATOMIC_RELAXED);
    out->truncated = __atomic_load_n(&klog_truncated, __ATOMIC_RELAXED);
}

void uk_log(enum uk_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    uk_vlog(level, fmt, ap);
    va_end(ap);
}

uk_result uk_klog_read(uint64_t seq, struct uk_klog_rec *out, uint64_t *next)
{
    uint64_t head = __atomic_load_n(&uk_klog.head, __ATOMIC_ACQUIRE);
    uint64_t oldest = head > UK_KLOG_SLOTS ? head - UK_KLOG_SLOTS : 0;
    if (seq < oldest)
        seq = oldest;
    if (next)
        *next = seq + 1;
    if (seq >= head)
        return UK_ENOENT;
    const struct uk_klog_rec *slot = &uk_klog.rec[seq % UK_KLOG_SLOTS];
    if (__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) != seq + 1)
        return UK_ENOENT;
    memcpy(out, slot, sizeof(*out));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&slot->seq, __ATOMIC_RELAXED) != seq + 1)
        return UK_ENOENT;
    return UK_OK;
}
