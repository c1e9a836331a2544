/*
 * Chrome trace JSON (the "Trace Event Format" Perfetto UI and
 * chrome://tracing open).  Process 0 has one track per CPU carrying every
 * tracepoint as an instant; process 1 has one track per guest thread with
 * the workload's spans (B/E) and counters (C).  Losses are "lost N" global
 * instants.  Timestamps: microseconds of guest time.  Streamed: each event
 * is built and encoded with jansson, then written (no tree of the whole trace,
 * so --follow runs in constant memory).
 */
#include <jansson.h>
#include <errno.h>
#include <uk/thread_abi.h>
#include <stdlib.h>
#include <string.h>

#include "trace_out.h"

#define PID_CPUS    0
#define PID_THREADS 1

struct jout {
    FILE *f;
    bool first;
};

static int add(struct tout *o, json_t *ev)
{
    struct jout *j = o->priv;
    if (!ev)
        return tout_fail(o, "out of memory building JSON");
    int rc = fputs(j->first ? "\n" : ",\n", j->f) < 0 || json_dumpf(ev, j->f, JSON_COMPACT);
    json_decref(ev);
    j->first = false;
    if (rc)
        return tout_fail(o, "cannot write %s", o->path);
    return 0;
}

static int meta(struct tout *o, int pid, uint64_t tid, const char *what, const char *name)
{
    return add(o, json_pack("{s:s,s:s,s:i,s:I,s:{s:s}}", "name", what, "ph", "M", "pid", pid, "tid",
                            (json_int_t)tid, "args", "name", name));
}

/* "NAME (TID)": the thread table's name, else the record's 8 characters. */
static int thread_meta(struct tout *o, uint64_t tid, uint64_t str8)
{
    char s8[9], name[64];
    snprintf(name, sizeof(name), "%s (%llu)", tout_thread_name(o, tid, str8, s8),
             (unsigned long long)tid);
    return meta(o, PID_THREADS, tid, "thread_name", name);
}

int tout_json_begin(struct tout *o)
{
    struct jout *j = calloc(1, sizeof(*j));
    if (!j)
        return tout_fail(o, "out of memory");
    o->priv = j;
    j->first = true;
    j->f = o->file;
    fputs("{\"traceEvents\":[", j->f);
    if (meta(o, PID_CPUS, 0, "process_name", "guest CPUs") ||
        meta(o, PID_THREADS, 0, "process_name", "guest threads"))
        return -1;
    for (unsigned c = 0; c < o->t->hdr.ncpus; c++) {
        char name[32];
        snprintf(name, sizeof(name), "CPU %u", c);
        if (meta(o, PID_CPUS, c, "thread_name", name))
            return -1;
    }
    /* Every thread the guest's table names, even if its thread_create
     * record was overwritten long ago (flight recorder). */
    for (unsigned i = 0; o->t->threads && i < UK_THREAD_MAX; i++)
        if (o->t->threads[i].tid && thread_meta(o, o->t->threads[i].tid, 0))
            return -1;
    return 0;
}

static int one_event(struct tout *o, const struct utr_event *ev)
{
    const struct uk_trace_tp_meta *tp = &o->t->tps[ev->id];
    double ts = (double)ev->ns / 1000.0;
    uint64_t tid = tout_track_thread(o, ev);
    char s8[9];

    if (ev->id == UK_TP_SPAN_BEGIN || ev->id == UK_TP_SPAN_END || ev->id == UK_TP_COUNTER) {
        utr_str8(ev->arg[0], s8);
        json_t *args = ev->id == UK_TP_COUNTER
                           ? json_pack("{s:I}", "value", (json_int_t)ev->arg[1])
                           : json_pack("{s:I,s:i}", "id", (json_int_t)ev->arg[1], "cpu", ev->cpu);
        const char *ph = ev->id == UK_TP_SPAN_BEGIN ? "B" : ev->id == UK_TP_SPAN_END ? "E" : "C";
        return add(o, json_pack("{s:s,s:s,s:s,s:f,s:i,s:I,s:o}", "name", s8, "cat", tp->category,
                                "ph", ph, "ts", ts, "pid", PID_THREADS, "tid",
                                (json_int_t)(tid ? tid : 100000 + ev->cpu), "args", args));
    }
    if (ev->id == UK_TP_THREAD_CREATE && thread_meta(o, ev->arg[0], ev->arg[1]))
        return -1;
    json_t *args = json_object();
    if (!args)
        return tout_fail(o, "out of memory building JSON");
    for (unsigned f = 0; f < UK_TRACE_FIELDS; f++) {
        char buf[40];
        if (tp->field[f].type == UK_TPF_NONE)
            continue;
        if (ev->id == UK_TP_THREAD_CREATE && f == 1) /* the full name, not 8 characters */
            snprintf(buf, sizeof(buf), "%s", tout_thread_name(o, ev->arg[0], ev->arg[1], s8));
        else
            utr_field_str(o->t, ev, f, buf, sizeof(buf));
        json_t *v = tp->field[f].type == UK_TPF_U64   ? json_integer((json_int_t)ev->arg[f])
                    : tp->field[f].type == UK_TPF_S64 ? json_integer((json_int_t)ev->arg[f])
                                                      : json_string(buf);
        json_object_set_new(args, tp->field[f].name[0] ? tp->field[f].name : "arg", v);
    }
    json_object_set_new(args, "seq", json_integer((json_int_t)ev->seq));
    return add(o, json_pack("{s:s,s:s,s:s,s:s,s:f,s:i,s:i,s:o}", "name", tp->name, "cat",
                            tp->category, "ph", "i", "s", "t", "ts", ts, "pid", PID_CPUS, "tid",
                            ev->cpu, "args", args));
}

static int lost_events(struct tout *o, double ts)
{
    for (unsigned i = 0; i < o->t->nrings && i < UK_TRACE_MAX_RINGS; i++) {
        uint64_t lost = utr_ring_lost(o->t, i), d = lost - o->last_lost[i];
        const struct utr_ring *r = &o->t->rings[i];
        if (!d)
            continue;
        o->last_lost[i] = lost;
        o->lost_reported += d;
        char name[64];
        snprintf(name, sizeof(name), "lost %llu", (unsigned long long)d);
        if (add(o, json_pack("{s:s,s:s,s:s,s:s,s:f,s:i,s:i,s:{s:I,s:s}}", "name", name, "cat",
                             "trace", "ph", "i", "s", "g", "ts", ts, "pid", PID_CPUS, "tid",
                             r->desc.cpu, "args", "lost", (json_int_t)d, "ring",
                             r->desc.kind == UK_TRACE_RING_BOOT ? "boot" : "main")))
            return -1;
    }
    return 0;
}

int tout_json_pass(struct tout *o, const struct utr_event *ev, size_t n)
{
    double last = 0;
    for (size_t i = 0; i < n; i++) {
        if (tout_stopped(o) || one_event(o, &ev[i]))
            return -1;
        if ((double)ev[i].ns / 1000.0 > last)
            last = (double)ev[i].ns / 1000.0;
    }
    return lost_events(o, last);
}

int tout_json_finish(struct tout *o)
{
    struct jout *j = o->priv;
    json_t *md = json_pack("{s:I,s:i,s:s}", "tsc_hz", (json_int_t)o->t->hdr.tsc_hz, "ncpus",
                           o->t->hdr.ncpus, "clock", "guest ns since PVH entry");
    int rc = !md || fputs("\n],\"displayTimeUnit\":\"ns\",\"metadata\":", j->f) < 0 ||
             json_dumpf(md, j->f, JSON_COMPACT) || fputs("}\n", j->f) < 0;
    json_decref(md);
    free(j);
    o->priv = NULL;
    if (rc)
        return tout_fail(o, "cannot write %s", o->path);
    return 0;
}
