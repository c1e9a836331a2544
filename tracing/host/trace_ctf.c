/*
 * CTF 1.8 output: a directory with `metadata` (TSDL text) and one stream
 * file per ring (stream_cpuN_boot / stream_cpuN_main; the reader drops a
 * second ring claiming the same CPU and kind).  Each drain pass writes one
 * packet per ring that has news; events_discarded in the packet context is
 * the ring's cumulative loss count, as CTF defines it.  Timestamps use clock
 * "guest" in nanoseconds since guest time zero.
 *
 * Where losses go: a reader (babeltrace2) places the events a packet reports
 * as discarded between the previous packet's end and that packet's end.  So
 * losses are put in empty packets of their own, where they happened:
 * overwritten and torn records before the pass's first retained event,
 * a discard-mode ring's refusals (ring full) after its last one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trace_out.h"

#define CTF_MAGIC 0xC1FC1FC1u

struct ctf {
    FILE *stream[UK_TRACE_MAX_RINGS];
    unsigned packets[UK_TRACE_MAX_RINGS];
    uint64_t last_ts[UK_TRACE_MAX_RINGS];
    uint64_t before[UK_TRACE_MAX_RINGS], after[UK_TRACE_MAX_RINGS]; /* losses reported */
    uint8_t *buf;
    size_t len, cap;
};

static const char *ctf_type(uint8_t t)
{
    switch (t) {
    case UK_TPF_S64:
        return "int64_t";
    case UK_TPF_HEX:
        return "uint64_hex_t";
    case UK_TPF_STR8:
        return "string";
    default:
        return "uint64_t";
    }
}

static int write_metadata(struct tout *o)
{
    char path[sizeof(o->tmp) + 64];
    snprintf(path, sizeof(path), "%s/metadata", o->tmp);
    FILE *f = fopen(path, "wx");
    if (!f)
        return tout_fail(o, "cannot create %s: %s", path, strerror(errno));
    const struct uk_trace_header *h = &o->t->hdr;
    fprintf(
        f,
        "/* CTF 1.8 */\n\n"
        "typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"
        "typealias integer { size = 16; align = 8; signed = false; } := uint16_t;\n"
        "typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
        "typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n"
        "typealias integer { size = 64; align = 8; signed = false; base = 16; } := "
        "uint64_hex_t;\n"
        "typealias integer { size = 64; align = 8; signed = true; } := int64_t;\n\n"
        "trace {\n\tmajor = 1;\n\tminor = 8;\n\tbyte_order = le;\n"
        "\tpacket.header := struct {\n\t\tuint32_t magic;\n\t\tuint32_t stream_id;\n\t};\n};\n\n");
    fprintf(f,
            "env {\n\tdomain = \"ukscope\";\n\ttracer_name = \"ukscope\";\n\ttsc_hz = %llu;\n"
            "\tncpus = %u;\n\tbuild_id = \"",
            (unsigned long long)h->tsc_hz, h->ncpus);
    for (unsigned i = 0; i < h->build_id_len; i++)
        fprintf(f, "%02x", h->build_id[i]);
    fprintf(f, "\";\n};\n\n"
               "clock {\n\tname = guest;\n\tdescription = \"guest time since PVH entry\";\n"
               "\tfreq = 1000000000;\n\toffset = 0;\n};\n\n"
               "typealias integer { size = 64; align = 8; signed = false; "
               "map = clock.guest.value; } := uint64_clock_t;\n\n"
               "stream {\n\tid = 0;\n"
               "\tpacket.context := struct {\n\t\tuint64_clock_t timestamp_begin;\n"
               "\t\tuint64_clock_t timestamp_end;\n\t\tuint64_t content_size;\n"
               "\t\tuint64_t packet_size;\n\t\tuint64_t events_discarded;\n"
               "\t\tuint32_t cpu_id;\n\t};\n"
               "\tevent.header := struct {\n\t\tuint16_t id;\n\t\tuint64_clock_t timestamp;\n\t};\n"
               "};\n\n");
    for (unsigned id = 0; id < o->t->ntps; id++) {
        const struct uk_trace_tp_meta *tp = &o->t->tps[id];
        fprintf(f,
                "event {\n\tname = \"%s\";\n\tid = %u;\n\tstream_id = 0;\n"
                "\tfields := struct {\n",
                tp->name, id);
        char prev[UK_TRACE_FIELD_NAME_MAX + 4] = "";
        for (unsigned k = 0; k < UK_TRACE_FIELDS; k++) {
            if (tp->field[k].type == UK_TPF_NONE)
                continue;
            /* Names come from guest memory: keep identifier characters only,
             * and never two fields of one name (TSDL refuses it): a second
             * field named like the first gets its index appended ("_1"). */
            char name[UK_TRACE_FIELD_NAME_MAX + 4] = "_";
            size_t j = 1;
            for (const char *p = tp->field[k].name; *p && j < UK_TRACE_FIELD_NAME_MAX + 1; p++)
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '_')
                    name[j++] = *p;
            name[j] = 0;
            if (k && !strcmp(name, prev))
                snprintf(name + j, sizeof(name) - j, "_%u", k);
            fprintf(f, "\t\t%s %s;\n", ctf_type(tp->field[k].type), name);
            snprintf(prev, sizeof(prev), "%s", name);
        }
        fprintf(f, "\t};\n};\n\n");
    }
    if (fclose(f))
        return tout_fail(o, "cannot write %s", path);
    return 0;
}

int tout_ctf_begin(struct tout *o)
{
    struct ctf *c = calloc(1, sizeof(*c));
    if (!c)
        return tout_fail(o, "out of memory");
    o->priv = c;
    /* Tracepoint names go into TSDL string literals as they are: the reader
     * made them valid UTF-8 without '"', '\\' or control characters. */
    if (write_metadata(o))
        return -1;
    for (unsigned i = 0; i < o->t->nrings; i++) {
        const struct utr_ring *r = &o->t->rings[i];
        char path[sizeof(o->tmp) + 64];
        if (!r->usable)
            continue;
        snprintf(path, sizeof(path), "%s/stream_cpu%u_%s", o->tmp, r->desc.cpu,
                 r->desc.kind == UK_TRACE_RING_BOOT ? "boot" : "main");
        c->stream[i] = fopen(path, "wbx"); /* never one file for two rings */
        if (!c->stream[i])
            return tout_fail(o, "cannot create %s: %s", path, strerror(errno));
    }
    return 0;
}

static int put(struct ctf *c, const void *p, size_t n)
{
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 65536;
        while (cap < c->len + n)
            cap *= 2;
        uint8_t *b = realloc(c->buf, cap);
        if (!b)
            return -1;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    return 0;
}

#define PUTV(c, v) put((c), &(v), sizeof(v))

/* Write one packet of ring i holding ev[0..n), reporting `lost` so far. */
static int packet(struct tout *o, unsigned i, const struct utr_event *ev, size_t n, uint64_t lost)
{
    struct ctf *c = o->priv;
    c->len = 0;
    uint32_t magic = CTF_MAGIC, sid = 0, cpu = o->t->rings[i].desc.cpu;
    uint64_t tb = n ? ev[0].ns : c->last_ts[i], te = n ? ev[n - 1].ns : c->last_ts[i];
    uint64_t zero = 0;
    if (tb < c->last_ts[i])
        tb = c->last_ts[i];
    int rc = PUTV(c, magic) | PUTV(c, sid) | PUTV(c, tb) | PUTV(c, te) | PUTV(c, zero) |
             PUTV(c, zero) | PUTV(c, lost) | PUTV(c, cpu);
    for (size_t k = 0; k < n && !rc; k++) {
        if (tout_stopped(o))
            return -1;
        const struct uk_trace_tp_meta *tp = &o->t->tps[ev[k].id];
        uint16_t id = (uint16_t)ev[k].id;
        uint64_t ts = ev[k].ns < tb ? tb : ev[k].ns; /* CTF needs monotonic time per stream */
        rc |= PUTV(c, id) | PUTV(c, ts);
        for (unsigned f = 0; f < UK_TRACE_FIELDS; f++) {
            if (tp->field[f].type == UK_TPF_NONE)
                continue;
            if (tp->field[f].type == UK_TPF_STR8) {
                char s8[9];
                const char *s = ev[k].id == UK_TP_THREAD_CREATE && f == 1
                                    ? tout_thread_name(o, ev[k].arg[0], ev[k].arg[1], s8)
                                    : (utr_str8(ev[k].arg[f], s8), s8);
                rc |= put(c, s, strlen(s) + 1);
            } else {
                rc |= PUTV(c, ev[k].arg[f]);
            }
        }
        tb = ts;
    }
    if (rc)
        return tout_fail(o, "out of memory");
    uint64_t bits = (uint64_t)c->len * 8;
    memcpy(c->buf + 24, &bits, 8); /* content_size */
    memcpy(c->buf + 32, &bits, 8); /* packet_size */
    if (te < tb)
        memcpy(c->buf + 16, &tb, 8), te = tb;
    c->last_ts[i] = te;
    c->packets[i]++;
    o->last_lost[i] = lost;
    if (fwrite(c->buf, 1, c->len, c->stream[i]) != c->len)
        return tout_fail(o, "cannot write a CTF stream: %s", strerror(errno));
    return 0;
}

/* An empty packet at time ts (clamped: monotonic) reporting `lost` so far. */
static int loss_packet(struct tout *o, unsigned i, uint64_t ts, uint64_t lost)
{
    struct ctf *c = o->priv;
    if (ts > c->last_ts[i])
        c->last_ts[i] = ts;
    return packet(o, i, NULL, 0, lost);
}

int tout_ctf_pass(struct tout *o, const struct utr_event *ev, size_t n)
{
    struct ctf *c = o->priv;
    size_t k = 0;
    for (unsigned i = 0; i < o->t->nrings; i++) {
        size_t start = k;
        while (k < n && ev[k].ring == i)
            k++;
        if (!c->stream[i])
            continue;
        const struct utr_ring *r = &o->t->rings[i];
        uint64_t before = r->overwritten + r->torn, after = r->discarded;
        uint64_t d_before = before - c->before[i], d_after = after - c->after[i];
        if (k == start && !d_before && !d_after)
            continue;
        o->lost_reported += d_before + d_after;
        /* A first packet at time zero, so the first loss has a window. */
        if (!c->packets[i] && (d_before || d_after) && loss_packet(o, i, 0, 0))
            return -1;
        c->before[i] = before;
        if (d_before &&
            loss_packet(o, i, k > start ? ev[start].ns : c->last_ts[i], c->before[i] + c->after[i]))
            return -1;
        if (k > start && packet(o, i, ev + start, k - start, c->before[i] + c->after[i]))
            return -1;
        c->after[i] = after;
        if (d_after && loss_packet(o, i, c->last_ts[i], c->before[i] + c->after[i]))
            return -1;
    }
    return 0;
}

int tout_ctf_finish(struct tout *o)
{
    struct ctf *c = o->priv;
    int rc = 0;
    for (unsigned i = 0; i < o->t->nrings; i++) {
        if (!c->stream[i])
            continue;
        if (!c->packets[i] && packet(o, i, NULL, 0, 0)) /* every stream file gets a packet */
            rc = -1;
        if (fclose(c->stream[i]) && !rc)
            rc = tout_fail(o, "cannot write a CTF stream");
    }
    free(c->buf);
    free(c);
    o->priv = NULL;
    return rc;
}
