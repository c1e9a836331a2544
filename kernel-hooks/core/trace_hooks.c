/* Trace hook state owned by the kernel; see <uk/trace_hooks.h>. */
#include <uk/trace_hooks.h>

volatile uint8_t uk_trace_on[UK_TP_COUNT];
uk_trace_emit_fn uk_trace_emit;

void uk_trace_register(uk_trace_emit_fn fn)
{
    __atomic_store_n(&uk_trace_emit, fn, __ATOMIC_RELEASE);
}

void uk_trace_set(unsigned id, int on)
{
    if (id >= UK_TP_COUNT || !__atomic_load_n(&uk_trace_emit, __ATOMIC_ACQUIRE))
        return;
    uk_trace_on[id] = on ? 1 : 0;
}
