/*
 * The collector's side of the trace store (tracestore.[ch], its own
 * module): when built with it (HAVE_TRACESTORE) each running instance's
 * trace rings are drained every tick into STATE/traces, the API serves
 * exports, and /metrics shows the store's counters.  Without the module
 * these are no-ops and the trace routes answer 501.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cd.h"
#include "log.h"

int tsglue_init(uint64_t max_bytes, int64_t max_age_s);
void tsglue_drain(struct inst *in, int64_t now);
void tsglue_forget(struct inst *in);
void tsglue_close(void);
void prom_trace(FILE *o);
/* Export into a malloc'ed body; name NULL: the fleet.  -1 with err. */
int tsglue_export(const char *name, int64_t last_s, const char *format, char **body, size_t *len,
                  char *err, size_t errlen);
/* The guest+host timeline of a crash bundle (tracestore_export_host). */
int tsglue_export_host(const char *name, struct ts_host *h, const char *path, char *why,
                       size_t whylen);

#ifdef HAVE_TRACESTORE
#include "tracestore.h"

static struct tracestore *ts;

int tsglue_init(uint64_t max_bytes, int64_t max_age_s)
{
    char dir[4200];

    snprintf(dir, sizeof(dir), "%s/traces", cd.state);
    ts = tracestore_open(dir, max_bytes, max_age_s);
    if (!ts)
        cd_log(CD_ERR, "Failed to open the trace store %s", dir);
    return ts ? 0 : -1;
}

/* Only instances whose trace header our own reader found this tick: the
 * store logs every failed pass, which would be a line per second for a
 * guest without (or with a broken) trace header. */
void tsglue_drain(struct inst *in, int64_t now)
{
    if (ts && in->utr_ok)
        tracestore_drain(ts, in->name, in->run_dir, now);
}

void tsglue_forget(struct inst *in)
{
    if (ts)
        tracestore_forget(ts, in->name);
}

void tsglue_close(void)
{
    if (ts)
        tracestore_close(ts);
    ts = NULL;
}

int tsglue_export(const char *name, int64_t last_s, const char *format, char **body, size_t *len,
                  char *err, size_t errlen)
{
    char path[4300];
    struct stat st;
    int fd, rc = -1;

    if (!ts) {
        snprintf(err, errlen, "no trace store");
        return -1;
    }
    if (strcmp(format, "perfetto") && strcmp(format, "json")) {
        snprintf(err, errlen, "format: perfetto or json over HTTP (ctf is a directory: use "
                 "ukctl trace)");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/traces/.export-%d.%s", cd.state, (int)getpid(), format);
    if ((name ? tracestore_export(ts, name, last_s, format, path)
              : tracestore_export_fleet(ts, last_s, path)) < 0) {
        snprintf(err, errlen, "Failed to export the trace (nothing stored yet?)");
        unlink(path);
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0 && (*body = malloc((size_t)st.st_size + 1))) {
        if (read(fd, *body, (size_t)st.st_size) == st.st_size) {
            *len = (size_t)st.st_size;
            rc = 0;
        } else {
            free(*body);
        }
    }
    if (rc < 0)
        snprintf(err, errlen, "Failed to read the export: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(path);
    return rc;
}

void prom_trace(FILE *o)
{
    struct tracestore_stats st;

    if (!ts)
        return;
#define TS_METRIC(NAME, TYPE, HELP, FIELD, DIV)                                                  \
    fputs("# HELP " NAME " " HELP "\n# TYPE " NAME " " TYPE "\n", o);                           \
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)                                             \
        if (cd.inst[i].used) {                                                                  \
            tracestore_stats(ts, cd.inst[i].name, &st);                                         \
            fprintf(o, NAME "{instance=\"%s\"} %.9g\n", cd.inst[i].name, (double)st.FIELD / DIV); \
        }
    TS_METRIC("ukcollectd_trace_events_stored_total", "counter", "Trace events stored.",
              events_stored, 1);
    TS_METRIC("ukcollectd_trace_store_bytes", "gauge", "Trace store size on disk.", bytes, 1);
    TS_METRIC("ukcollectd_trace_events_dropped_total", "counter",
              "Stored trace events deleted by the size/age limits.", dropped_by_limit, 1);
    TS_METRIC("ukcollectd_trace_events_lost_total", "counter",
              "Trace records overwritten, torn or discarded in the guest before the drain.",
              lost_in_guest, 1);
    TS_METRIC("ukcollectd_trace_drain_errors_total", "counter", "Failed drain passes.",
              drain_errors, 1);
    TS_METRIC("ukcollectd_trace_drain_cpu_seconds_total", "counter", "CPU time of the drains.",
              drain_cpu_ns, 1e9);
}

/* Trace records lost in the guest before the drain (history.c's charts). */
uint64_t tsglue_lost(const char *instance);
uint64_t tsglue_lost(const char *instance)
{
    struct tracestore_stats st;
    if (!ts)
        return 0;
    tracestore_stats(ts, instance, &st);
    return st.lost_in_guest;
}
int tsglue_export_host(const char *name, struct ts_host *h, const char *path, char *why,
                       size_t whylen)
{
    if (!ts) {
        snprintf(why, whylen, "no trace store");
        return -1;
    }
    return tracestore_export_host(ts, name, h, path, why, whylen);
}
#else
uint64_t tsglue_lost(const char *instance);
uint64_t tsglue_lost(const char *instance)
{
    (void)instance;
    return 0;
}
int tsglue_init(uint64_t max_bytes, int64_t max_age_s)
{
    (void)max_bytes;
    (void)max_age_s;
    return 0;
}
void tsglue_drain(struct inst *in, int64_t now)
{
    (void)in;
    (void)now;
}
void tsglue_forget(struct inst *in)
{
    (void)in;
}
void tsglue_close(void)
{
}
void prom_trace(FILE *o)
{
    (void)o;
}
int tsglue_export(const char *name, int64_t last_s, const char *format, char **body, size_t *len,
                  char *err, size_t errlen)
{
    (void)name;
    (void)last_s;
    (void)format;
    (void)body;
    (void)len;
    snprintf(err, errlen, "this ukcollectd is built without the trace store");
    return -1;
}
int tsglue_export_host(const char *name, struct ts_host *h, const char *path, char *why,
                       size_t whylen)
{
    (void)name;
    (void)h;
    (void)path;
    snprintf(why, whylen, "this ukcollectd is built without the trace store");
    return -1;
}
#endif
