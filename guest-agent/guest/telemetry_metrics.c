/*
 * MetricSnapshot: the kernel values the hook contract offers, as
 * Prometheus-style samples.  A metrics registry (guest-agent) can feed the
 * same message later; the schema carries any name/labels/value.
 */
#include <stdio.h>
#include <uk/cpu.h>
#include <uk/irq.h>
#include <uk/mem.h>
#include <uk/thread.h>
#include <uk/time.h>

#include "telemetry.h"

#define MAX_SAMPLES 96
#define IRQ_VECTORS 256

typedef Ukscope__Telemetry__Sample sample_t;
typedef Ukscope__Telemetry__Label label_t;

struct snap {
    sample_t s[MAX_SAMPLES];
    sample_t *p[MAX_SAMPLES];
    label_t l[MAX_SAMPLES];
    label_t *lp[MAX_SAMPLES];
    char lv[MAX_SAMPLES][12];
    size_t n;
};

static struct snap snap; /* one snapshot at a time: only the thread sends */

static void add(const char *name, Ukscope__Telemetry__Sample__Type type, int64_t v,
                const char *label, unsigned label_value)
{
    sample_t *s;

    if (snap.n >= MAX_SAMPLES)
        return;
    s = &snap.s[snap.n];
    ukscope__telemetry__sample__init(s);
    s->name = (char *)name;
    s->type = type;
    s->value_case = UKSCOPE__TELEMETRY__SAMPLE__VALUE_INT_VALUE;
    s->int_value = v;
    if (label) {
        label_t *l = &snap.l[snap.n];
        ukscope__telemetry__label__init(l);
        snprintf(snap.lv[snap.n], sizeof(snap.lv[0]), "%u", label_value);
        l->name = (char *)label;
        l->value = snap.lv[snap.n];
        snap.lp[snap.n] = l;
        s->n_labels = 1;
        s->labels = &snap.lp[snap.n];
    }
    snap.p[snap.n] = s;
    snap.n++;
}

#define COUNTER UKSCOPE__TELEMETRY__SAMPLE__TYPE__COUNTER
#define GAUGE   UKSCOPE__TELEMETRY__SAMPLE__TYPE__GAUGE

void telem_send_metrics(void);
void telem_send_metrics(void)
{
    telem_envelope env = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
    Ukscope__Telemetry__MetricSnapshot ms = UKSCOPE__TELEMETRY__METRIC_SNAPSHOT__INIT;
    struct uk_mem_stats m;
    unsigned i, ncpu = uk_cpu_count();

    snap.n = 0;
    uk_mem_stats(&m);
    add("uk_uptime_nanoseconds", GAUGE, (int64_t)uk_time_ns(), NULL, 0);
    add("uk_cpus", GAUGE, ncpu, NULL, 0);
    add("uk_heap_in_use_bytes", GAUGE, (int64_t)m.heap_in_use, NULL, 0);
    add("uk_heap_peak_bytes", GAUGE, (int64_t)m.heap_peak, NULL, 0);
    add("uk_heap_size_bytes", GAUGE, (int64_t)m.heap_size, NULL, 0);
    add("uk_heap_allocations_total", COUNTER, (int64_t)m.heap_allocs, NULL, 0);
    add("uk_heap_allocation_failures_total", COUNTER, (int64_t)m.heap_failures, NULL, 0);
    add("uk_pages_free", GAUGE, (int64_t)m.pages_free, NULL, 0);
    for (i = 0; i < ncpu && i < UK_CPU_MAX; i++) {
        add("uk_context_switches_total", COUNTER, (int64_t)uk_sched_switches(i), "cpu", i);
        add("uk_cpu_idle_nanoseconds_total", COUNTER, (int64_t)uk_sched_idle_ns(i), "cpu", i);
    }
    for (i = 0; i < IRQ_VECTORS; i++) {
        uint64_t c = uk_irq_count(i);
        if (c)
            add("uk_interrupts_total", COUNTER, (int64_t)c, "vector", i);
    }
    ms.n_samples = snap.n;
    ms.samples = snap.p;
    env.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_METRICS;
    env.metrics = &ms;
    telem_send(&env);
}
