/*
 * The console's data in the collector (issue 14, docs/dashboards.md):
 * the host view of vCPU threads (hostcpu.c), a 15-minute history ring of
 * 1 s samples per instance (history.c), the console's JSON routes
 * (api_dash.c, api_crash.c) and its static files (web.c).  All called from
 * the daemon's one thread, like the rest of the collector.
 */
#ifndef UKCOLLECTD_DASH_H
#define UKCOLLECTD_DASH_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct inst;
struct json_t;

#define DASH_MAX_VCPU 16 /* vCPU threads followed per instance */
#define HIST_LEN 900        /* samples kept: 15 minutes at one per HIST_PERIOD_MS */
#define HIST_PERIOD_MS 1000 /* at most one sample per second (ticks may be faster) */
#define HIST_VCPU 8      /* vCPUs charted per instance */

/* hostcpu.c: record the vCPU thread ids from a query-cpus-fast return. */
void hostcpu_set_threads(struct inst *in, struct json_t *ret);
/* Cumulative on-CPU and run-queue-wait ns per vCPU, read now; the count. */
unsigned hostcpu_sample(struct inst *in, uint64_t *run_ns, uint64_t *wait_ns);
/* ukcollectd_vcpu_{run,steal}_seconds_total on /metrics. */
void prom_hostcpu(FILE *o);

/* The latest 1 s rates of an instance (all zero before two samples). */
struct hist_now {
    bool valid;
    double cpu_pct;   /* host CPU of its vCPU threads, % of one host CPU */
    double steal_pct; /* run-queue wait, % of wall time, mean over vCPUs */
    double heap_bytes, heap_limit_bytes;
    double req_s, http5xx_s, log_s, trace_lost_s;
    unsigned nvcpu;
};

/* history.c: sample every used instance (call once per tick). */
void history_tick(void);
/* Drop an instance's ring (forgotten, or a new boot). */
void history_forget(struct inst *in);
void history_now(struct inst *in, struct hist_now *out);
/* Columns for uPlot since wall time `since_s` (0: all): new reference. */
struct json_t *history_json(struct inst *in, int64_t since_s);

/* api_dash.c: the console's GET routes; true if url was one of them
 * (*ret then holds the reply). */
bool dash_route(struct MHD_Connection *c, const char *url, const char *method,
                enum MHD_Result *ret);
/* POST routes (token already checked): .../NAME/dump. */
bool dash_post(struct MHD_Connection *c, const char *url, enum MHD_Result *ret);
/* api_crash.c: GET /api/v1/crashes[/ID[/core]]. */
bool crash_route(struct MHD_Connection *c, const char *url, enum MHD_Result *ret);
/* The newest crash signature of an instance from the crash store, "" if none
 * (cached; re-read when index.json changes). */
const char *crash_last_signature(const char *instance);
/* web.c: the console's files at / (from --web DIR or the build's web/). */
bool web_route(struct MHD_Connection *c, const char *url, enum MHD_Result *ret);

/* api.c's reply helpers. */
enum MHD_Result api_reply_err(struct MHD_Connection *c, unsigned status, const char *msg);
/*
 * The bearer token check (constant time) of every POST and of GETs that hand
 * out guest memory (a bundle's core holds stacks and .data: the guest's
 * control token among them).  true when it matches; else false with the
 * 401 (none) or 403 (wrong) reply queued in *ret.
 */
bool api_authorized(struct MHD_Connection *c, enum MHD_Result *ret);
enum MHD_Result api_reply_json(struct MHD_Connection *c, unsigned status, struct json_t *j);

#endif
