/* Trace hook state owned by the kernel; see <uk/trace_hooks.h>. */
#include <string.h>
#include <uk/trace_hooks.h>

volatile uint8_t uk_trace_on[UK_TP_COUNT];
uk_trace_emit_fn uk_trace_emit;

void uk_trace_register(uk_trace_emit_fn fn)
{
    __atomic_store_n(&uk_trace_emit, fn, __ATOMIC_RELEASE);
}

static const struct uk_tracer_ops *tracer_ops;

void uk_trace_register_ops(const struct uk_tracer_ops *ops)
{
    __atomic_store_n(&tracer_ops, ops, __ATOMIC_RELEASE);
}

uk_result uk_trace_stats(unsigned cpu, struct uk_trace_stats *out)
{
    const struct uk_tracer_ops *ops = __atomic_load_n(&tracer_ops, __ATOMIC_ACQUIRE);
    memset(out, 0, sizeof(*out));
    if (!ops || !ops->stats || ops->stats(cpu, out) != UK_OK) {
        memset(out, 0, sizeof(*out));
        return UK_ENOENT;
    }
    return UK_OK;
}

uk_result uk_trace_set_policy(enum uk_trace_ring_policy policy)
{
    const struct uk_tracer_ops *ops = __atomic_load_n(&tracer_ops, __ATOMIC_ACQUIRE);
    if (policy != UK_TRACE_POLICY_OVERWRITE && policy != UK_TRACE_POLICY_DISCARD)
        return UK_EINVAL;
    if (!ops || !ops->set_policy)
        return UK_ENOSYS;
    return ops->set_policy(policy);
}

void uk_trace_set(unsigned id, int on)
{
    if (id >= UK_TP_COUNT || !__atomic_load_n(&uk_trace_emit, __ATOMIC_ACQUIRE))
        return;
    uk_trace_on[id] = on ? 1 : 0;
}

static const struct {
    const char *name, *category;
} tp_names[UK_TP_COUNT] = {
#define TP_NAME_(id, name, cat, ...) [UK_TP_##id] = {name, cat},
    UK_TRACEPOINTS(TP_NAME_)
#undef TP_NAME_
};

const char *uk_trace_tp_name(unsigned id, const char **category)
{
    if (id >= UK_TP_COUNT)
        return NULL;
    if (category)
        *category = tp_names[id].category;
    return tp_names[id].name;
}

static int word_is(const char *s, const char *word, size_t len)
{
    return strlen(s) == len && !memcmp(s, word, len);
}

unsigned uk_trace_set_list(const char *list, int on)
{
    unsigned n = 0;
    while (*list) {
        while (*list == ',' || *list == ' ')
            list++;
        size_t len = strcspn(list, ", ");
        for (unsigned id = 0; len && id < UK_TP_COUNT; id++) {
            if (word_is("all", list, len) || word_is(tp_names[id].name, list, len) ||
                word_is(tp_names[id].category, list, len)) {
                uk_trace_set(id, on);
                n++;
            }
        }
        list += len;
    }
    return n;
}
