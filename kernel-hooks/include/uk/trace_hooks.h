/*
 * Trace hooks: how the kernel (and the demo application) emit tracepoints
 * without depending on tracing/.
 *
 * Contract:
 *  - Every tracepoint is declared ONCE in UK_TRACEPOINTS below: id, name,
 *    category and two typed 64-bit fields.  The enum uk_tp_id and the
 *    tracer's metadata table (tracing/guest) are both generated from it.
 *  - The kernel owns uk_trace_on[] (one flag byte per tracepoint, 0 = off)
 *    and uk_trace_emit (NULL until a tracer registers).  UK_TRACE() costs a
 *    byte load and a predictable not-taken branch while the tracepoint is off.
 *  - A tracer registers its emit function once with uk_trace_register() and
 *    then flips flags with uk_trace_set().  emit may be called from thread,
 *    interrupt and NMI context on any CPU, nested on the same CPU; it must
 *    not block, take locks or allocate.
 *  - The flag byte is only set after uk_trace_emit is non-NULL, so UK_TRACE
 *    never calls through NULL.
 */
#ifndef UK_TRACE_HOOKS_H
#define UK_TRACE_HOOKS_H

#include <stdint.h>
#include <uk/types.h>

/* Field types of tracepoint arguments (stored in the trace metadata). */
enum uk_tp_field_type {
    UK_TPF_NONE = 0, /* unused field */
    UK_TPF_U64 = 1,  /* unsigned decimal */
    UK_TPF_S64 = 2,  /* signed decimal */
    UK_TPF_HEX = 3,  /* address / bit mask */
    UK_TPF_STR8 = 4, /* up to 8 chars packed little-endian, NUL padded */
};

/* X(ID, name, category, field0, type0, field1, type1) */
#define UK_TRACEPOINTS(X)                                                                          \
    X(IRQ_ENTRY, "irq_entry", "irq", "vector", U64, "rip", HEX)                                    \
    X(IRQ_EXIT, "irq_exit", "irq", "vector", U64, "", NONE)                                        \
    X(EXCEPTION, "exception", "irq", "vector", U64, "rip", HEX)                                    \
    X(TIMER, "timer_fire", "timer", "ticks", U64, "now_ns", U64)                                   \
    X(SCHED_SWITCH, "sched_switch", "sched", "prev_tid", U64, "next_tid", U64)                     \
    X(THREAD_CREATE, "thread_create", "sched", "tid", U64, "name", STR8)                           \
    X(THREAD_EXIT, "thread_exit", "sched", "tid", U64, "", NONE)                                   \
    X(THREAD_SLEEP, "thread_sleep", "sched", "tid", U64, "ns", U64)                                \
    X(THREAD_WAKE, "thread_wake", "sched", "tid", U64, "cpu", S64)                                 \
    X(VIRTIO_NOTIFY, "virtio_notify", "virtio", "base", HEX, "queue", U64)                         \
    X(VIRTIO_COMPLETE, "virtio_complete", "virtio", "base", HEX, "status", HEX)                    \
    X(KLOG, "klog", "log", "seq", U64, "level", U64)                                               \
    X(SPAN_BEGIN, "span_begin", "app", "name", STR8, "id", U64)                                    \
    X(SPAN_END, "span_end", "app", "name", STR8, "id", U64)                                        \
    X(COUNTER, "counter", "app", "name", STR8, "value", S64)                                       \
    X(BENCH, "bench", "bench", "i", U64, "x", U64)                                                 \
    X(HOST_SYNC, "host_sync", "sync", "seq", U64, "phase", U64)

enum uk_tp_id {
#define UK_TP_ENUM_(id, ...) UK_TP_##id,
    UK_TRACEPOINTS(UK_TP_ENUM_)
#undef UK_TP_ENUM_
        UK_TP_COUNT
};

typedef void (*uk_trace_emit_fn)(unsigned id, uint64_t a, uint64_t b);

extern volatile uint8_t uk_trace_on[UK_TP_COUNT];
extern uk_trace_emit_fn uk_trace_emit;

#define UK_TRACE(id, a, b)                                                                         \
    do {                                                                                           \
        if (__builtin_expect(uk_trace_on[UK_TP_##id], 0))                                          \
            uk_trace_emit(UK_TP_##id, (uint64_t)(a), (uint64_t)(b));                               \
    } while (0)

/* Pack up to 8 chars of s into a STR8 field value. */
static inline uint64_t uk_tp_str8(const char *s)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8 && s[i]; i++)
        v |= (uint64_t)(uint8_t)s[i] << (8 * i);
    return v;
}

/* Register the tracer's emit function (once, at UK_INITCALL_EARLY). */
void uk_trace_register(uk_trace_emit_fn fn);

/*
 * Tracer totals for one CPU, for metrics.  Counters only grow.
 *  written:     events stored in a ring (boot ring and main ring);
 *  dropped:     events refused because a discard-mode ring was full;
 *  overwritten: overwrite mode: stored events since replaced by newer ones
 *               (a reader that was not fast enough missed them).
 */
struct uk_trace_stats {
    uint64_t written;
    uint64_t dropped;
    uint64_t overwritten;
};

/* What a full main ring does with the next event. */
enum uk_trace_ring_policy {
    UK_TRACE_POLICY_OVERWRITE = 0, /* replace the oldest: a flight recorder */
    UK_TRACE_POLICY_DISCARD = 1,   /* drop the new one (counted): the ring freezes */
};

/*
 * What the tracer offers besides emit, registered once (like the emit
 * function):
 *  stats:      fill *out for `cpu` (< uk_cpu_count()) from its own counters,
 *              without locks; UK_OK, or UK_ENOENT for a CPU it has no rings for;
 *  set_policy: switch every main ring, effective for the next event; no
 *              reset: a full ring switched to DISCARD keeps its last events
 *              (freezes), one switched back to OVERWRITE resumes.  UK_OK.
 */
struct uk_tracer_ops {
    uk_result (*stats)(unsigned cpu, struct uk_trace_stats *out);
    uk_result (*set_policy)(enum uk_trace_ring_policy policy);
};
void uk_trace_register_ops(const struct uk_tracer_ops *ops);

/*
 * Totals of `cpu`.  Returns UK_OK, or UK_ENOENT (and zeroes *out) when no
 * tracer is registered or it has no rings for that CPU.  Any context.
 */
uk_result uk_trace_stats(unsigned cpu, struct uk_trace_stats *out);

/* Switch the main rings' policy (see uk_tracer_ops).  UK_ENOSYS without a
 * tracer, UK_EINVAL for an unknown policy.  For control paths. */
uk_result uk_trace_set_policy(enum uk_trace_ring_policy policy);

/* Turn tracepoint `id` on or off; ignored before uk_trace_register(). */
void uk_trace_set(unsigned id, int on);

/*
 * Turn on/off every tracepoint whose name or category is in `list`
 * (words separated by ',' or ' '; "all" matches all).  Returns how many
 * matched.  For control paths (command line, debugger, HTTP).
 */
unsigned uk_trace_set_list(const char *list, int on);

/* Name and category of tracepoint `id`, or NULL for a bad id. */
const char *uk_trace_tp_name(unsigned id, const char **category);

#endif
