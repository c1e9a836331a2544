/*
 * Kernel metrics, pulled through the hook contract at every page update:
 * uptime, per-CPU busy/idle time and context switches, interrupts by vector
 * and source, build info,
 * heap, threads by state, network device counters.  Log, trace and
 * telemetry totals are in pipeline_metrics.c.
 */
#include <stdio.h>
#include <uk/build.h>
#include <uk/cpu.h>
#include <uk/hooks.h>
#include <uk/irq.h>
#include <uk/mem.h>
#include <uk/thread.h>
#include <uk/time.h>

#include "guest/agent.h"
#include "guest/metrics.h"

enum { IRQ_VECTORS = 256, IRQ_SERIES_MAX = 32 };

static struct um_series *uptime, *heap_use, *heap_peak, *heap_fail, *heap_size, *pages_free;
static struct um_series *cpu_busy[UK_CPU_MAX], *cpu_idle[UK_CPU_MAX], *cswitch[UK_CPU_MAX];
static struct um_family *irq_fam, *threads_fam;
static struct um_series *net[6];
static struct um_series *irq_series[IRQ_VECTORS], *state_series[8]; /* cached lookups */

static bool count_state(const struct uk_thread *t, void *arg)
{
    unsigned *n = arg;
    if (t->state < 8)
        n[t->state]++;
    return true;
}

static void collect(void *arg)
{
    uint64_t now = uk_time_ns();
    um_set(uptime, (int64_t)now);
    for (unsigned c = 0; c < uk_cpu_count() && c < UK_CPU_MAX; c++) {
        uint64_t idle = uk_sched_idle_ns(c);
        um_set(cpu_idle[c], (int64_t)idle);
        um_set(cpu_busy[c], (int64_t)(now > idle ? now - idle : 0));
        um_set(cswitch[c], (int64_t)uk_sched_switches(c));
    }
    struct uk_mem_stats m;
    uk_mem_stats(&m);
    um_set(heap_use, (int64_t)m.heap_in_use);
    um_set(heap_peak, (int64_t)m.heap_peak);
    um_set(heap_fail, (int64_t)m.heap_failures);
    um_set(heap_size, (int64_t)m.heap_size);
    um_set(pages_free, (int64_t)(m.pages_free * UK_PAGE_SIZE));
    /* Only the vectors that ever fired; exceptions (below 32) are not interrupts. */
    for (unsigned w = 0; w < UK_IRQ_SEEN_WORDS; w++) {
        for (uint64_t seen = uk_irq_seen(w); seen; seen &= seen - 1) {
            unsigned v = w * 64 + (unsigned)__builtin_ctzll(seen);
            if (v < 32 || v >= IRQ_VECTORS)
                continue;
            uint64_t n = uk_irq_count(v);
            if (n && !irq_series[v]) {
                char vs[8];
                snprintf(vs, sizeof(vs), "%u", v);
                irq_series[v] = um_series(irq_fam, vs, uk_irq_name(v));
            }
            if (n)
                um_set(irq_series[v], (int64_t)n);
        }
    }
    unsigned st[8] = {0};
    uk_thread_foreach(count_state, st);
    for (unsigned s = 1; s < 8; s++) {
        const char *name = uk_thread_state_name(s);
        if (!state_series[s] && name && *name && name[0] != '?')
            state_series[s] = um_series(threads_fam, name, NULL);
        um_set(state_series[s], st[s]);
    }
    struct uk_netdev *d = agent_netdev();
    if (d) {
        struct uk_netdev_stats ns;
        uk_netdev_stats(d, &ns);
        um_set(net[0], (int64_t)ns.rx_packets);
        um_set(net[1], (int64_t)ns.tx_packets);
        um_set(net[2], (int64_t)ns.rx_bytes);
        um_set(net[3], (int64_t)ns.tx_bytes);
        um_set(net[4], (int64_t)ns.rx_dropped);
        um_set(net[5], (int64_t)ns.tx_dropped);
    }
}

static void kmetrics_init(void)
{
    static const char *const cpu_l[] = {"cpu", NULL};
    static const char *const dir_l[] = {"direction", NULL};
    struct um_family *f;
    f = um_family("ukscope_uptime_seconds", "Seconds since the guest kernel started (PVH entry)", UKM_GAUGE, 1000000000, NULL, 1, NULL, 0);
    uptime = um_series(f, NULL, NULL);
    struct um_family *busy = um_family("ukscope_cpu_busy_seconds",
                                       "Seconds this vCPU spent running threads or interrupts (not idle)",
                                       UKM_COUNTER, 1000000000, cpu_l, UK_CPU_MAX, NULL, 0);
    struct um_family *idle = um_family("ukscope_cpu_idle_seconds",
                                       "Seconds this vCPU spent in its idle thread (halted, nothing to run)",
                                       UKM_COUNTER, 1000000000, cpu_l, UK_CPU_MAX, NULL, 0);
    struct um_family *cs = um_family("ukscope_context_switches",
                                     "Thread switches made by the scheduler on this vCPU",
                                     UKM_COUNTER, 1, cpu_l, UK_CPU_MAX, NULL, 0);
    for (unsigned c = 0; c < uk_cpu_count() && c < UK_CPU_MAX; c++) {
        char n[8];
        snprintf(n, sizeof(n), "%u", c);
        cpu_busy[c] = um_series(busy, n, NULL);
        cpu_idle[c] = um_series(idle, n, NULL);
        cswitch[c] = um_series(cs, n, NULL);
    }
    static const char *const vec_l[] = {"vector", "source", NULL};
    irq_fam = um_family("ukscope_interrupts",
                        "Interrupts taken on all vCPUs, by IDT vector and the device or kernel "
                        "source that raises it",
                        UKM_COUNTER, 1, vec_l, IRQ_SERIES_MAX, NULL, 0);
    f = um_family("ukscope_heap_in_use_bytes",
                  "Bytes of kernel heap (malloc) allocated and not yet freed", UKM_GAUGE,
                  1, NULL, 1, NULL, 0);
    heap_use = um_series(f, NULL, NULL);
    f = um_family("ukscope_heap_peak_bytes",
                  "Highest ukscope_heap_in_use_bytes since boot", UKM_GAUGE, 1, NULL, 1, NULL, 0);
    heap_peak = um_series(f, NULL, NULL);
    f = um_family("ukscope_heap_size_bytes",
                  "Bytes of pages the heap took from the page allocator (in use plus free lists)",
                  UKM_GAUGE, 1, NULL, 1, NULL, 0);
    heap_size = um_series(f, NULL, NULL);
    f = um_family("ukscope_heap_allocation_failures",
                  "malloc/calloc/realloc calls that returned NULL (out of memory)", UKM_COUNTER,
                  1, NULL, 1, NULL, 0);
    heap_fail = um_series(f, NULL, NULL);
    f = um_family("ukscope_memory_free_bytes",
                  "Guest RAM still free in the page allocator (4 KiB pages times their size)", UKM_GAUGE, 1,
                  NULL, 1, NULL, 0);
    pages_free = um_series(f, NULL, NULL);
    static const char *const st_l[] = {"state", NULL};
    threads_fam = um_family("ukscope_threads",
                            "Threads that exist now, by scheduler state", UKM_GAUGE, 1, st_l, 8, NULL, 0);
    struct um_family *np = um_family("ukscope_net_packets",
                                     "Ethernet frames the virtio-net device received (rx) or sent (tx)", UKM_COUNTER, 1,
                                     dir_l, 2, NULL, 0);
    struct um_family *nb = um_family("ukscope_net_bytes",
                                     "Bytes of Ethernet frames received (rx) or sent (tx)",
                                     UKM_COUNTER, 1, dir_l, 2, NULL, 0);
    struct um_family *nd = um_family("ukscope_net_dropped_packets",
                                     "Frames dropped by the driver: no buffer (rx) or ring full (tx)",
                                     UKM_COUNTER, 1, dir_l, 2, NULL, 0);
    net[0] = um_series(np, "rx", NULL);
    net[1] = um_series(np, "tx", NULL);
    net[2] = um_series(nb, "rx", NULL);
    net[3] = um_series(nb, "tx", NULL);
    net[4] = um_series(nd, "rx", NULL);
    net[5] = um_series(nd, "tx", NULL);
    static const char *const build_l[] = {"version", "build_id", NULL};
    um_set(um_series(um_family("ukscope_build_info",
                               "Always 1; the labels name the guest image's version and GNU "
                               "build-id",
                               UKM_GAUGE, 1, build_l, 1, NULL, 0),
                     uk_version(), uk_build_id_hex()),
           1);
    um_collector(collect, NULL);
}
UK_INITCALL_SERVICE(kmetrics_init);
