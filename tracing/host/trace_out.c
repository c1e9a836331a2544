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

void tout_str8(uint64_t v, char out[9])
{
    unsigned k;
    for (k = 0; k < 8 && ((v >> (8 * k)) & 0xff); k++) {
        char c = (char)((v >> (8 * k)) & 0xff);
        out[k] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? c : '?';
    }
    out[k] = 0;
}

int tout_begin(struct tout *o, enum tout_format f, const char *path, const struct utr *t)
{
    memset(o, 0, sizeof(*o));
    o->format = f;
    o->path = path;
    o->t = t;
    switch (f) {
    case TOUT_JSON:
        return tout_json_begin(o);
    case TOUT_CTF:
        return tout_ctf_begin(o);
    case TOUT_PERFETTO:
        return tout_pf_begin(o);
    case TOUT_NULL:
        return 0;
    }
    return tout_fail(o, "unknown format");
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

int tout_finish(struct tout *o)
{
    switch (o->format) {
    case TOUT_JSON:
        return tout_json_finish(o);
    case TOUT_CTF:
        return tout_ctf_finish(o);
    case TOUT_PERFETTO:
        return tout_pf_finish(o);
    case TOUT_NULL:
        return 0;
    }
    return -1;
}
