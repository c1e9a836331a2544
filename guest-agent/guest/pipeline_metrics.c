/*
 * Metrics about the observability pipeline itself, so an SRE can tell a
 * quiet guest from one whose logs, traces or telemetry are being lost:
 *
 *   ukscope_log_records_total                 kernel log records written
 *   ukscope_log_records_truncated_total       ... whose text was cut
 *   ukscope_log_records_dropped_total{reason} records that did not reach the
 *       host: "overwritten" (the ring wrapped before the telemetry forwarder
 *       read them) or "unsent" (the telemetry channel dropped them: host not
 *       reading, channel full)
 *   ukscope_trace_events_total{cpu}           events stored in trace rings
 *   ukscope_trace_events_lost_total{cpu,reason}  "dropped" (discard-mode ring
 *       full) or "overwritten" (overwrite mode: replaced before being read)
 *   ukscope_telemetry_envelopes_total         envelopes built (== next seq)
 *   ukscope_telemetry_envelopes_dropped_total envelopes dropped, never half-sent
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

enum log_drop { LOG_DROP_OVERWRITTEN, LOG_DROP_UNSENT, LOG_DROP_REASONS };
enum trace_loss { TRACE_LOSS_DROPPED, TRACE_LOSS_OVERWRITTEN, TRACE_LOSS_REASONS };

static struct um_series *log_written, *log_truncated, *log_dropped[LOG_DROP_REASONS];
static struct um_series *trace_events[UK_CPU_MAX], *trace_lost[UK_CPU_MAX][TRACE_LOSS_REASONS];
static struct um_series *telem_envelopes, *telem_dropped, *http_conns, *http_evicted;
static unsigned ncpus;

static void collect(void *arg)
{
    struct uk_klog_stats ks;
    uk_klog_stats(&ks);
    um_set(log_written, (int64_t)ks.written);
    um_set(log_truncated, (int64_t)ks.truncated);

    struct telem_klog_counters kc;
    telem_klog_counters(&kc);
    um_set(log_dropped[LOG_DROP_OVERWRITTEN], (int64_t)kc.overwritten);
    um_set(log_dropped[LOG_DROP_UNSENT], (int64_t)kc.unsent);

    for (unsigned c = 0; c < ncpus; c++) {
        struct uk_trace_stats ts;
        uk_trace_stats(c, &ts); /* zeroes when no tracer is linked in */
        um_set(trace_events[c], (int64_t)ts.written);
        um_set(trace_lost[c][TRACE_LOSS_DROPPED], (int64_t)ts.dropped);
        um_set(trace_lost[c][TRACE_LOSS_OVERWRITTEN], (int64_t)ts.overwritten);
    }

    struct telem_counters tc;
    telem_counters_get(&tc);
    um_set(telem_envelopes, (int64_t)tc.produced);
    um_set(telem_dropped, (int64_t)tc.lost);
    um_set(http_conns, (int64_t)httpd_connections());
    um_set(http_evicted, (int64_t)httpd_evictions());
}

static struct um_series *single(const char *name, const char *help, enum ukm_type type)
{
    return um_series(um_family(name, help, type, 1, NULL, 1, NULL, 0), NULL, NULL);
}

static void pipeline_metrics_init(void)
{
    static const char *const reason_l[] = {"reason", NULL};
    static const char *const cpu_l[] = {"cpu", NULL};
    static const char *const cpu_reason_l[] = {"cpu", "reason", NULL};

    log_written = single("ukscope_log_records", "Kernel log records written", UKM_COUNTER);
    log_truncated = single("ukscope_log_records_truncated",
                           "Kernel log records whose text was cut to the record size",
                           UKM_COUNTER);
    struct um_family *ld = um_family("ukscope_log_records_dropped",
                                     "Kernel log records that did not reach the host",
                                     UKM_COUNTER, 1, reason_l, LOG_DROP_REASONS, NULL, 0);
    log_dropped[LOG_DROP_OVERWRITTEN] = um_series(ld, "overwritten", NULL);
    log_dropped[LOG_DROP_UNSENT] = um_series(ld, "unsent", NULL);

    ncpus = uk_cpu_count() < UK_CPU_MAX ? uk_cpu_count() : UK_CPU_MAX;
    struct um_family *te = um_family("ukscope_trace_events", "Trace events stored in the rings",
                                     UKM_COUNTER, 1, cpu_l, UK_CPU_MAX, NULL, 0);
    struct um_family *tl = um_family("ukscope_trace_events_lost",
                                     "Trace events lost: ring full (discard mode) or "
                                     "overwritten before being read",
                                     UKM_COUNTER, 1, cpu_reason_l,
                                     UK_CPU_MAX * TRACE_LOSS_REASONS, NULL, 0);
    for (unsigned c = 0; c < ncpus; c++) {
        char cs[8];
        snprintf(cs, sizeof(cs), "%u", c);
        trace_events[c] = um_series(te, cs, NULL);
        trace_lost[c][TRACE_LOSS_DROPPED] = um_series(tl, cs, "dropped");
        trace_lost[c][TRACE_LOSS_OVERWRITTEN] = um_series(tl, cs, "overwritten");
    }

    telem_envelopes = single("ukscope_telemetry_envelopes", "Telemetry envelopes built",
                             UKM_COUNTER);
    telem_dropped = single("ukscope_telemetry_envelopes_dropped",
                           "Telemetry envelopes dropped because the host was not reading",
                           UKM_COUNTER);
    http_conns = single("ukscope_http_connections", "Open HTTP connections", UKM_GAUGE);
    http_evicted = single("ukscope_http_connections_evicted",
                          "Idle keep-alive connections closed to admit a new client at the limit",
                          UKM_COUNTER);
    um_collector(collect, NULL);
}
UK_INITCALL_SERVICE(pipeline_metrics_init);
