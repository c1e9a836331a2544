/*
 * Perfetto protobuf output: a stream of Trace.packet fields (so passes can
 * be appended), encoded with protobuf-c from perfetto_trace.proto.
 * Tracks: process "guest" (uuid 1), one track per CPU (every tracepoint as
 * an instant with debug annotations), one per guest thread (the workload's
 * spans), one counter track per counter name.  Each ring is its own packet
 * sequence; the first packet after losses carries previous_packet_dropped.
 */
#include <errno.h>
#include <uk/thread_abi.h>
#include <stdlib.h>
#include <string.h>

#include "perfetto_trace.pb-c.h"
#include "trace_out.h"

/* PID_BASE: pid 1 (a single guest) keeps the historical values. */
#define PID_BASE        ((uint64_t)(PID - 1) << 32)
#define UUID_PROCESS    (PID_BASE + 1)
#define UUID_CPU(c)     (PID_BASE + 100 + (uint64_t)(c))
#define UUID_THREAD(t)  (PID_BASE + 1000 + (uint64_t)(t))
#define UUID_COUNTER(i) (PID_BASE + (1u << 30 | (uint64_t)(i)))
#define SEQ_DESCRIPTORS (1 + (PID - 1) * (UK_TRACE_MAX_RINGS + 2))
#define SEQ_RING(i)     (SEQ_DESCRIPTORS + 1 + (i))
/* Perfetto keys threads by tid alone: guests' tids are made disjoint. */
#define HOST_TID(t)     ((PID - 1) * 65536 + (t))
#define PID             (o->pid ? o->pid : 1u)
#define MAX_COUNTERS    64

struct pf {
    FILE *f;
    uint8_t *buf;
    size_t cap;
    uint8_t thread_seen[TOUT_MAX_TIDS];
    uint64_t counters[MAX_COUNTERS]; /* STR8 names */
    unsigned ncounters;
};

typedef Ukscope__Perfetto__TracePacket Packet;
typedef Ukscope__Perfetto__TrackDescriptor Track;
typedef Ukscope__Perfetto__TrackEvent Event;
typedef Ukscope__Perfetto__DebugAnnotation Annot;

static int emit(struct tout *o, const Packet *p)
{
    struct pf *pf = o->priv;
    size_t n = ukscope__perfetto__trace_packet__get_packed_size(p);
    if (n + 16 > pf->cap) {
        /* Replace the buffer only once the new one exists: on failure the
         * old buffer and its capacity still agree. */
        uint8_t *b = malloc((n + 16) * 2);
        if (!b)
            return tout_fail(o, "out of memory");
        free(pf->buf);
        pf->buf = b;
        pf->cap = (n + 16) * 2;
    }
    /* Trace.packet: field 1, length-delimited, then the varint length. */
    size_t k = 0;
    pf->buf[k++] = 1 << 3 | 2;
    for (size_t v = n;; v >>= 7) {
        pf->buf[k++] = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
        if (v < 0x80)
            break;
    }
    ukscope__perfetto__trace_packet__pack(p, pf->buf + k);
    if (fwrite(pf->buf, 1, k + n, pf->f) != k + n)
        return tout_fail(o, "cannot write %s: %s", o->path, strerror(errno));
    return 0;
}

static int track(struct tout *o, uint64_t uuid, uint64_t parent, const char *name, int tid,
                 bool counter)
{
    Packet p = UKSCOPE__PERFETTO__TRACE_PACKET__INIT;
    Track td = UKSCOPE__PERFETTO__TRACK_DESCRIPTOR__INIT;
    Ukscope__Perfetto__ProcessDescriptor pd = UKSCOPE__PERFETTO__PROCESS_DESCRIPTOR__INIT;
    Ukscope__Perfetto__ThreadDescriptor th = UKSCOPE__PERFETTO__THREAD_DESCRIPTOR__INIT;
    Ukscope__Perfetto__CounterDescriptor cd = UKSCOPE__PERFETTO__COUNTER_DESCRIPTOR__INIT;
    td.has_uuid = 1;
    td.uuid = uuid;
    td.name = (char *)name;
    if (parent) {
        td.has_parent_uuid = 1;
        td.parent_uuid = parent;
    }
    if (uuid == UUID_PROCESS) {
        pd.has_pid = 1;
        pd.pid = (int32_t)PID;
        pd.process_name = (char *)name;
        td.process = &pd;
    } else if (tid >= 0) {
        th.has_pid = 1;
        th.pid = (int32_t)PID;
        th.has_tid = 1;
        th.tid = (int32_t)HOST_TID((unsigned)tid);
        th.thread_name = (char *)name;
        td.thread = &th;
        td.has_parent_uuid = 0;
    }
    if (counter)
        td.counter = &cd;
    p.has_trusted_packet_sequence_id = 1;
    p.trusted_packet_sequence_id = SEQ_DESCRIPTORS;
    p.track_descriptor = &td;
    return emit(o, &p);
}

static int thread_track(struct tout *o, uint64_t tid, bool named, uint64_t str8);

int tout_pf_begin(struct tout *o)
{
    struct pf *pf = calloc(1, sizeof(*pf));
    if (!pf)
        return tout_fail(o, "out of memory");
    o->priv = pf;
    pf->f = o->file;
    if (track(o, UUID_PROCESS, 0, o->process_name ? o->process_name : "guest", -1, false))
        return -1;
    for (unsigned c = 0; c < o->t->hdr.ncpus; c++) {
        char name[32];
        snprintf(name, sizeof(name), "CPU %u", c);
        if (track(o, UUID_CPU(c), UUID_PROCESS, name, -1, false))
            return -1;
    }
    /* Every thread the guest's table names, even if its thread_create
     * record was overwritten long ago (flight recorder). */
    for (unsigned i = 0; o->t->threads && i < UK_THREAD_MAX; i++)
        if (o->t->threads[i].tid && thread_track(o, o->t->threads[i].tid, true, 0))
            return -1;
    return 0;
}

/* named: (re)describe the track with the thread's name (the thread table's,
 * else the record's 8 characters str8); else only make sure it exists. */
static int thread_track(struct tout *o, uint64_t tid, bool named, uint64_t str8)
{
    struct pf *pf = o->priv;
    if (tid >= TOUT_MAX_TIDS || (pf->thread_seen[tid] && !named))
        return 0;
    char buf[64], s8[9];
    const char *name = utr_thread_name(o->t, tid);
    if (!name)
        name = named ? tout_thread_name(o, tid, str8, s8) : "thread";
    snprintf(buf, sizeof(buf), "%s %llu", name, (unsigned long long)tid);
    pf->thread_seen[tid] = 1;
    return track(o, UUID_THREAD(tid), UUID_PROCESS, buf, (int)tid, false);
}

static int counter_track(struct tout *o, uint64_t name, uint64_t *uuid)
{
    struct pf *pf = o->priv;
    unsigned i;
    for (i = 0; i < pf->ncounters && pf->counters[i] != name; i++)
        ;
    if (i == pf->ncounters) {
        char s[9];
        if (i == MAX_COUNTERS)
            i = MAX_COUNTERS - 1; /* share the last track rather than fail */
        else
            pf->counters[pf->ncounters++] = name;
        utr_str8(name, s);
        if (track(o, UUID_COUNTER(i), UUID_PROCESS, s, -1, true))
            return -1;
    }
    *uuid = UUID_COUNTER(i);
    return 0;
}

static int one_event(struct tout *o, const struct utr_event *ev, bool dropped)
{
    const struct uk_trace_tp_meta *tp = &o->t->tps[ev->id];
    Packet p = UKSCOPE__PERFETTO__TRACE_PACKET__INIT;
    Event te = UKSCOPE__PERFETTO__TRACK_EVENT__INIT;
    Annot a[UK_TRACE_FIELDS], *ap[UK_TRACE_FIELDS];
    char strs[UK_TRACE_FIELDS][40], name[9], *cats[1] = {(char *)tp->category};
    const char *tname = NULL;
    uint64_t tid = tout_track_thread(o, ev);

    p.has_timestamp = 1;
    p.timestamp = ev->ns;
    p.has_trusted_packet_sequence_id = 1;
    p.trusted_packet_sequence_id = SEQ_RING(ev->ring);
    if (dropped)
        p.has_previous_packet_dropped = p.previous_packet_dropped = 1;
    te.has_type = 1;
    te.has_track_uuid = 1;
    te.n_categories = 1;
    te.categories = cats;
    if (ev->id == UK_TP_SPAN_BEGIN || ev->id == UK_TP_SPAN_END) {
        utr_str8(ev->arg[0], name);
        te.type = ev->id == UK_TP_SPAN_BEGIN
                      ? UKSCOPE__PERFETTO__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN
                      : UKSCOPE__PERFETTO__TRACK_EVENT__TYPE__TYPE_SLICE_END;
        if (tid && thread_track(o, tid, false, 0))
            return -1;
        te.track_uuid = tid && tid < TOUT_MAX_TIDS ? UUID_THREAD(tid) : UUID_CPU(ev->cpu);
        if (ev->id == UK_TP_SPAN_BEGIN)
            te.name = name;
    } else if (ev->id == UK_TP_COUNTER) {
        te.type = UKSCOPE__PERFETTO__TRACK_EVENT__TYPE__TYPE_COUNTER;
        if (counter_track(o, ev->arg[0], &te.track_uuid))
            return -1;
        te.has_counter_value = 1;
        te.counter_value = (int64_t)ev->arg[1];
    } else {
        if (ev->id == UK_TP_THREAD_CREATE) {
            if (thread_track(o, ev->arg[0], true, ev->arg[1]))
                return -1;
            tname = tout_thread_name(o, ev->arg[0], ev->arg[1], name);
        }
        te.type = UKSCOPE__PERFETTO__TRACK_EVENT__TYPE__TYPE_INSTANT;
        te.track_uuid = UUID_CPU(ev->cpu);
        te.name = (char *)tp->name;
        for (unsigned f = 0; f < UK_TRACE_FIELDS; f++) {
            if (tp->field[f].type == UK_TPF_NONE)
                continue;
            Annot *x = &a[te.n_debug_annotations];
            ukscope__perfetto__debug_annotation__init(x);
            x->name = (char *)tp->field[f].name;
            switch (tp->field[f].type) {
            case UK_TPF_S64:
                x->has_int_value = 1;
                x->int_value = (int64_t)ev->arg[f];
                break;
            case UK_TPF_HEX:
                x->has_pointer_value = 1;
                x->pointer_value = ev->arg[f];
                break;
            case UK_TPF_STR8:
                if (tname && f == 1) /* thread_create: the full name */
                    snprintf(strs[f], sizeof(strs[f]), "%s", tname);
                else
                    utr_field_str(o->t, ev, f, strs[f], sizeof(strs[f]));
                x->string_value = strs[f];
                break;
            default:
                x->has_uint_value = 1;
                x->uint_value = ev->arg[f];
                break;
            }
            ap[te.n_debug_annotations++] = x;
        }
        te.debug_annotations = ap;
    }
    p.track_event = &te;
    return emit(o, &p);
}

int tout_pf_pass(struct tout *o, const struct utr_event *ev, size_t n)
{
    bool dropped[UK_TRACE_MAX_RINGS];
    for (unsigned i = 0; i < o->t->nrings; i++) {
        uint64_t lost = utr_ring_lost(o->t, i);
        dropped[i] = lost != o->last_lost[i];
        o->lost_reported += lost - o->last_lost[i];
        o->last_lost[i] = lost;
    }
    for (size_t k = 0; k < n; k++) {
        if (tout_stopped(o) || one_event(o, &ev[k], dropped[ev[k].ring]))
            return -1;
        dropped[ev[k].ring] = false;
    }
    return 0;
}

/* Host tracks: uuids above the guest's ranges, one packet sequence after
 * the rings' (SEQ_RING(UK_TRACE_MAX_RINGS) is inside this pid's block). */
#define UUID_HOST_PROC     (PID_BASE + (3ull << 30))
#define UUID_HOST_TRACK(i) (UUID_HOST_PROC + 1 + (uint64_t)(i))
#define SEQ_HOST           SEQ_RING(UK_TRACE_MAX_RINGS)

int tout_pf_host_begin(struct tout *o, unsigned host_pid, const char *host_name)
{
    Packet p = UKSCOPE__PERFETTO__TRACE_PACKET__INIT;
    Track td = UKSCOPE__PERFETTO__TRACK_DESCRIPTOR__INIT;
    Ukscope__Perfetto__ProcessDescriptor pd = UKSCOPE__PERFETTO__PROCESS_DESCRIPTOR__INIT;
    td.has_uuid = 1;
    td.uuid = UUID_HOST_PROC;
    td.name = (char *)host_name;
    pd.has_pid = 1;
    pd.pid = (int32_t)host_pid;
    pd.process_name = (char *)host_name;
    td.process = &pd;
    p.has_trusted_packet_sequence_id = 1;
    p.trusted_packet_sequence_id = SEQ_DESCRIPTORS;
    p.track_descriptor = &td;
    return emit(o, &p);
}

int tout_pf_host_track(struct tout *o, unsigned idx, const char *name)
{
    return track(o, UUID_HOST_TRACK(idx), UUID_HOST_PROC, name, -1, false);
}

int tout_pf_host_event(struct tout *o, const struct tout_host_ev *e)
{
    Packet p = UKSCOPE__PERFETTO__TRACE_PACKET__INIT;
    Event te = UKSCOPE__PERFETTO__TRACK_EVENT__INIT;
    Annot a, *ap[1] = {&a};
    char *cats[1] = {"host"};

    p.has_timestamp = 1;
    p.timestamp = e->ns;
    p.has_trusted_packet_sequence_id = 1;
    p.trusted_packet_sequence_id = SEQ_HOST;
    te.has_type = 1;
    te.has_track_uuid = 1;
    te.track_uuid = UUID_HOST_TRACK(e->track);
    te.n_categories = 1;
    te.categories = cats;
    te.type = e->kind == TOUT_HOST_BEGIN  ? UKSCOPE__PERFETTO__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN
              : e->kind == TOUT_HOST_END ? UKSCOPE__PERFETTO__TRACK_EVENT__TYPE__TYPE_SLICE_END
                                         : UKSCOPE__PERFETTO__TRACK_EVENT__TYPE__TYPE_INSTANT;
    if (e->kind != TOUT_HOST_END)
        te.name = (char *)e->name;
    if (e->kind != TOUT_HOST_END && e->arg_name) {
        ukscope__perfetto__debug_annotation__init(&a);
        a.name = (char *)e->arg_name;
        a.has_int_value = 1;
        a.int_value = e->arg;
        te.n_debug_annotations = 1;
        te.debug_annotations = ap;
    }
    p.track_event = &te;
    return emit(o, &p);
}

int tout_pf_finish(struct tout *o)
{
    struct pf *pf = o->priv;
    int rc = 0;
    if (fflush(pf->f) || ferror(pf->f))
        rc = tout_fail(o, "cannot write %s", o->path);
    free(pf->buf);
    free(pf);
    o->priv = NULL;
    return rc;
}
