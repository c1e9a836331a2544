/*
 * In-guest tracing tests: enabling by name/category, and the tracepoint
 * benchmark (`test=trace_bench [trace_bench_n=N]`): every CPU emits N
 * events at once, timed with the TSC; then N disabled tracepoints.
 */
#include <uk/cmdline.h>
#include <uk/cpu.h>
#include <uk/klog.h>
#include <uk/test.h>
#include <uk/thread.h>
#include <uk/time.h>
#include <uk/trace_hooks.h>

#include "../../tracing/guest/trace_guest.h"

UK_TEST(trace_control)
{
    UK_CHECK(uk_trace_emit != NULL);
    UK_CHECK(uk_trace_enable_list("bench", false) == 1);
    UK_CHECK(!uk_trace_on[UK_TP_BENCH]);
    UK_CHECK(uk_trace_enable_list("sched_switch,bench", true) == 2);
    UK_CHECK(uk_trace_on[UK_TP_BENCH] && uk_trace_on[UK_TP_SCHED_SWITCH]);
    UK_CHECK(uk_trace_enable_list("sched", false) == 5);
    UK_CHECK(!uk_trace_on[UK_TP_SCHED_SWITCH] && !uk_trace_on[UK_TP_THREAD_WAKE]);
    UK_CHECK(uk_trace_enable_list("nosuch", true) == 0);
    UK_CHECK(uk_trace_enable_list("all", true) == UK_TP_COUNT);
    for (uint64_t i = 0; i < 1000; i++)
        UK_TRACE(BENCH, i, ~i);
    uk_trace_enable_list("bench", false);
    return 0;
}

static uint64_t bench_n;
static volatile unsigned arrived, phase_done;
static uint64_t enabled_ps[UK_CPU_MAX], disabled_ps[UK_CPU_MAX], rdtsc_ps[UK_CPU_MAX];

static void barrier(volatile unsigned *ctr, unsigned n)
{
    __atomic_add_fetch(ctr, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(ctr, __ATOMIC_SEQ_CST) < n)
        uk_cpu_relax();
}

static void bench_thread(void *arg)
{
    unsigned cpu = uk_cpu_id(), n = uk_cpu_count();
    barrier(&arrived, n);
    uint64_t t0 = uk_tsc();
    for (uint64_t i = 0; i < bench_n; i++)
        UK_TRACE(BENCH, i, t0);
    uint64_t t1 = uk_tsc();
    enabled_ps[cpu] = uk_tsc_to_ns((t1 - t0) * 1000) / bench_n;
    barrier(&phase_done, n);
    /* uk_trace_on[] is volatile: each iteration loads the flag and branches. */
    if (cpu == 0)
        uk_trace_set(UK_TP_BENCH, 0);
    barrier(&phase_done, 2 * n);
    t0 = uk_tsc();
    for (uint64_t i = 0; i < bench_n; i++)
        UK_TRACE(BENCH, i, t0);
    t1 = uk_tsc();
    disabled_ps[cpu] = uk_tsc_to_ns((t1 - t0) * 1000) / bench_n;
    /* Reference: the TSC read alone (emulated by TCG and PVM). */
    uint64_t x = 0;
    t0 = uk_tsc();
    for (uint64_t i = 0; i < bench_n; i++)
        x += uk_tsc();
    t1 = uk_tsc();
    rdtsc_ps[cpu] = uk_tsc_to_ns((t1 - t0) * 1000) / bench_n + (x & 0);
}

static void sort(uint64_t *v, unsigned n)
{
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
}

UK_TEST(trace_bench)
{
    unsigned n = uk_cpu_count();
    struct uk_thread *th[UK_CPU_MAX];
    bench_n = uk_cmdline_get_u64("trace_bench_n", 50000);
    UK_CHECK(bench_n > 0 && uk_trace_emit != NULL);
    uk_trace_set(UK_TP_BENCH, 1);
    for (unsigned c = 0; c < n; c++) {
        struct uk_thread_attr attr = {.cpu = (int)c};
        UK_CHECK(uk_thread_create("tbench", bench_thread, NULL, &attr, &th[c]) == UK_OK);
    }
    for (unsigned c = 0; c < n; c++)
        UK_CHECK(uk_thread_join(th[c]) == UK_OK);
    for (unsigned c = 0; c < n; c++)
        uk_info("trace_bench cpu %u: enabled %lu ps/event, disabled %lu ps", c,
                (unsigned long)enabled_ps[c], (unsigned long)disabled_ps[c]);
    sort(enabled_ps, n);
    sort(disabled_ps, n);
    sort(rdtsc_ps, n);
    uk_info("TRACE_BENCH cpus=%u n=%lu enabled_ps=%lu disabled_ps=%lu rdtsc_ps=%lu", n,
            (unsigned long)bench_n, (unsigned long)enabled_ps[n / 2],
            (unsigned long)disabled_ps[n / 2], (unsigned long)rdtsc_ps[n / 2]);
    UK_CHECK(enabled_ps[0] > 0);
    return 0;
}
