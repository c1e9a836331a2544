/* Converter dispatch and shared helpers (see trace_out.h). */
#include <stdarg.h>
#include <string.h>

#include "trace_out.h"

int tout_fail(struct tout *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->err, sizeof(o->err), fmt, ap);
    va_end(ap);
    return -1;
}

uint64_t tout_track_thread(struct tout *o, const struct utr_event *ev)
{
    if (ev->cpu >= TOUT_MAX_CPUS)
        return 0;
    if (ev->id == UK_TP_SCHED_SWITCH) {
        uint64_t prev = ev->arg[0];
        o->cur_tid[ev->cpu] = ev->arg[1];
        return prev;
    }
    return o->cur_tid[ev->cpu];
}

const char *tout_thread_name(const struct tout *o, uint64_t tid, uint64_t str8, char buf[9])
{
    const char *name = utr_thread_name(o->t, tid);
    if (name)
        return name;
    utr_str8(str8, buf);
    return buf;
}

int tout_begin(struct tout *o, enum tout_format f, const char *path, const struct utr *t)
{
    return tout_begin_process(o, f, path, t, 0, NULL);
}

int tout_begin_process(struct tout *o, enum tout_format f, const char *path, const struct utr *t,
                       unsigned pid, const char *process_name)
{
    int rc = -1;
    memset(o, 0, sizeof(*o));
    o->pid = pid;
    o->process_name = process_name;
    o->format = f;
    o->path = path;
    o->t = t;
    if (f > TOUT_NULL)
        return tout_fail(o, "unknown format");
    if (f != TOUT_NULL && tout_tmp_create(o, f == TOUT_CTF))
        return -1;
    switch (f) {
    case TOUT_JSON:
        rc = tout_json_begin(o);
        break;
    case TOUT_CTF:
        rc = tout_ctf_begin(o);
        break;
    case TOUT_PERFETTO:
        rc = tout_pf_begin(o);
        break;
    case TOUT_NULL:
        return 0;
    }
    if (rc)
        tout_abort(o); /* nothing half-written stays behind */
    return rc;
}

int tout_pass(struct tout *o, const struct utr_event *ev, size_t n)
{
    o->events += n;
    switch (o->format) {
    case TOUT_JSON:
        return tout_json_pass(o, ev, n);
    case TOUT_CTF:
        return tout_ctf_pass(o, ev, n);
    case TOUT_PERFETTO:
        return tout_pf_pass(o, ev, n);
    case TOUT_NULL:
        return 0;
    }
    return -1;
}

/* The format's finish: closes and frees everything, whatever happened. */
static int format_finish(struct tout *o)
{
    switch (o->format) {
    case TOUT_JSON:
        return o->priv ? tout_json_finish(o) : 0;
    case TOUT_CTF:
        return o->priv ? tout_ctf_finish(o) : 0;
    case TOUT_PERFETTO:
        return o->priv ? tout_pf_finish(o) : 0;
    case TOUT_NULL:
        return 0;
    }
    return -1;
}

int tout_finish(struct tout *o)
{
    if (format_finish(o)) {
        tout_tmp_remove(o, o->format == TOUT_CTF);
        return -1;
    }
    if (o->format == TOUT_NULL)
        return 0;
    return tout_tmp_commit(o, o->format == TOUT_CTF);
}

void tout_abort(struct tout *o)
{
    char keep[sizeof(o->err)];
    memcpy(keep, o->err, sizeof(keep)); /* the first error is the one to report */
    format_finish(o);
    tout_tmp_remove(o, o->format == TOUT_CTF);
    memcpy(o->err, keep, sizeof(keep));
}
