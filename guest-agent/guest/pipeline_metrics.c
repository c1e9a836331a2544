/*
 * Metrics about the observability pipeline itself, so an SRE can tell a
 * quiet guest from one whose logs, traces or telemetry are being lost.
 * Names say what they count; only the *_lost_* and *_dropped_* ones are
 * losses worth an alert (docs/metrics.md):
 *
 *   ukscope_log_records_total                 kernel log records written
 *   ukscope_log_records_truncated_total       ... whose text was cut
 *   ukscope_log_records_overwritten_total     the ring wrapped before the
 *       telemetry forwarder read them (gone for every reader)
 *   ukscope_log_records_lost_total            dropped by the telemetry
 *       channel while a host reader was attached (the reader sees a gap)
 *   ukscope_log_records_unread_total          not sent because no host
 *       reader was attached (still in the ring until overwritten)
 *   ukscope_trace_events_total{cpu}           events stored in trace rings
 *   ukscope_trace_events_dropped_total{cpu}   discard-mode ring full: never
 *       stored (lost)
 *   ukscope_trace_events_overwritten_total{cpu}  flight recorder: replaced
 *       by newer events (normal in overwrite mode, not a loss by itself)
 *   ukscope_telemetry_envelopes_total         envelopes built (== next seq)
 *   ukscope_telemetry_envelopes_lost_total    dropped while a host reader was
 *       attached (full channel, too big): the reader sees a gap
 *   ukscope_telemetry_envelopes_unread_total  dropped because no host reader
 *       was attached
 *   ukscope_http_connections                  open HTTP connections (all ports)
 *   ukscope_http_connections_evicted_total    idle keep-alive connections closed
 *       to admit a new client at the connection limit
 *
 * Values are pulled through the hook contract (<uk/klog.h>,
 * <uk/trace_hooks.h>) and the agent's own counters at every page update.
 */
#include <stdio.h>
#include <uk/cpu.h>
#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/trace_hooks.h>

#include "guest/httpd.h"
#include "guest/metrics.h"
#include "telemetry.h"

static struct um_series *log_written, *log_truncated, *log_overwritten, *log_lost, *log_unread;
static struct um_series *trace_events[UK_CPU_MAX], *trace_dropped[UK_CPU_MAX];
static struct um_series *trace_overwritten[UK_CPU_MAX];
static struct um_series *telem_envelopes, *telem_lost, *telem_unread, *http_conns, *http_evicted;
static unsigned ncpus;

static void collect(void *arg)
{
    struct uk_klog_stats ks;
    uk_klog_stats(&ks);
    um_set(log_written, (int64_t)ks.written);
    um_set(log_truncated, (int64_t)ks.truncated);

    struct telem_klog_counters kc;
    telem_klog_counters(&kc);
    um_set(log_overwritten, (int64_t)kc.overwritten);
    um_set(log_lost, (int64_t)kc.unsent);
    um_set(log_unread, (int64_t)kc.unread);

    for (unsigned c = 0; c < ncpus; c++) {
        struct uk_trace_stats ts;
        uk_trace_stats(c, &ts); /* zeroes when no tracer is linked in */
        um_set(trace_events[c], (int64_t)ts.written);
        um_set(trace_dropped[c], (int64_t)ts.dropped);
        um_set(trace_overwritten[c], (int64_t)ts.overwritten);
    }

    struct telem_counters tc;
    telem_counters_get(&tc);
    um_set(telem_envelopes, (int64_t)tc.produced);
    um_set(telem_lost, (int64_t)(tc.lost - tc.unread));
    um_set(telem_unread, (int64_t)tc.unread);
    um_set(http_conns, (int64_t)httpd_connections());
    um_set(http_evicted, (int64_t)httpd_evictions());
}

static struct um_series *single(const char *name, const char *help, enum ukm_type type)
{
    return um_series(um_family(name, help, type, 1, NULL, 1, NULL, 0), NULL, NULL);
}

static void pipeline_metrics_init(void)
{
    static const char *const cpu_l[] = {"cpu", NULL};

    log_written = single("ukscope_log_records", "Kernel log records written to the klog ring",
                         UKM_COUNTER);
    log_truncated = single("ukscope_log_records_truncated",
                           "Kernel log records whose text was cut to the 112-byte record size",
                           UKM_COUNTER);
    log_overwritten = single("ukscope_log_records_overwritten",
                             "Log records overwritten in the klog ring before the telemetry "
                             "forwarder read them",
                             UKM_COUNTER);
    log_lost = single("ukscope_log_records_lost",
                      "Log records the telemetry channel dropped while a host reader was "
                      "attached (channel full)",
                      UKM_COUNTER);
    log_unread = single("ukscope_log_records_unread",
                        "Log records not sent because no host telemetry reader was attached "
                        "(kept in the klog ring)",
                        UKM_COUNTER);

    ncpus = uk_cpu_count() < UK_CPU_MAX ? uk_cpu_count() : UK_CPU_MAX;
    struct um_family *te = um_family("ukscope_trace_events",
                                     "Trace events stored in this vCPU's trace ring",
                                     UKM_COUNTER, 1, cpu_l, UK_CPU_MAX, NULL, 0);
    struct um_family *td = um_family("ukscope_trace_events_dropped",
                                     "Trace events not stored: ring full in discard mode (lost)",
                                     UKM_COUNTER, 1, cpu_l, UK_CPU_MAX, NULL, 0);
    struct um_family *to = um_family("ukscope_trace_events_overwritten",
                                     "Trace events replaced by newer ones in overwrite "
                                     "(flight-recorder) mode; normal, not an error",
                                     UKM_COUNTER, 1, cpu_l, UK_CPU_MAX, NULL, 0);
    for (unsigned c = 0; c < ncpus; c++) {
        char cs[8];
        snprintf(cs, sizeof(cs), "%u", c);
        trace_events[c] = um_series(te, cs, NULL);
        trace_dropped[c] = um_series(td, cs, NULL);
        trace_overwritten[c] = um_series(to, cs, NULL);
    }

    telem_envelopes = single("ukscope_telemetry_envelopes",
                             "Telemetry envelopes built (logs, heartbeats, metric snapshots)",
                             UKM_COUNTER);
    telem_lost = single("ukscope_telemetry_envelopes_lost",
                        "Telemetry envelopes dropped while a host reader was attached: the "
                        "reader sees a gap",
                        UKM_COUNTER);
    telem_unread = single("ukscope_telemetry_envelopes_unread",
                          "Telemetry envelopes dropped because no host reader was attached",
                          UKM_COUNTER);
    http_conns = single("ukscope_http_connections",
                        "Open TCP connections to the guest's HTTP servers (agent and demo)",
                        UKM_GAUGE);
    http_evicted = single("ukscope_http_connections_evicted",
                          "Idle keep-alive connections closed to admit a new client at the limit",
                          UKM_COUNTER);
    um_collector(collect, NULL);
}
UK_INITCALL_SERVICE(pipeline_metrics_init);
