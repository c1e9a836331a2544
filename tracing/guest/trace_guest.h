/* Guest tracer API beyond <uk/trace_hooks.h> (for in-guest tests, gdb monitor). */
#ifndef TRACE_GUEST_H
#define TRACE_GUEST_H

#include <stdbool.h>
#include <uk/trace_hooks.h>

/*
 * Turn on/off every tracepoint whose name or category is in the
 * comma-separated `list` ("all" matches all).  Returns how many matched.
 */
unsigned uk_trace_enable_list(const char *list, bool on);

/* Emit without the flag check (benchmarks); no-op before init. */
void uk_trace_emit_direct(unsigned id, uint64_t a, uint64_t b);

#endif
