/* Stream checks and text/JSON output of telemetry; see telemetry_print.h. */
#include "telemetry_print.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void telem_stream_init(struct telem_stream *s, FILE *out, bool json)
{
    memset(s, 0, sizeof(*s));
    s->out = out;
    s->json = json;
}

/* Guest strings are hostile: keep printable ASCII so text and JSON stay sane. */
static void clean(char *dst, size_t cap, const char *src)
{
    size_t i = 0;

    for (; src && *src && i + 1 < cap; src++)
        dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
    dst[i] = 0;
}

static void emit(struct telem_stream *s, json_t *o)
{
    char *txt = json_dumps(o, JSON_COMPACT);

    if (txt) {
        fprintf(s->out, "%s\n", txt);
        free(txt);
    }
    json_decref(o);
    fflush(s->out);
}

static void note(struct telem_stream *s, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct telem_stream *s, const char *event, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s->json)
        emit(s, json_pack("{s:s, s:s}", "event", event, "message", msg));
    else {
        fprintf(s->out, "!! %s: %s\n", event, msg);
        fflush(s->out);
    }
}

static void check_seq(struct telem_stream *s, const telem_envelope *e)
{
    if (!s->have) {
        s->have = true;
        s->complete = e->seq == e->lost;
        s->lost_before_first = e->lost;
    } else if (e->seq == s->last_seq + 1) {
        if (e->lost)
            note(s, "inconsistent", "seq %" PRIu64 " follows %" PRIu64 " but says %" PRIu64 " lost",
                 e->seq, s->last_seq, e->lost);
    } else if (e->seq > s->last_seq) {
        uint64_t missing = e->seq - s->last_seq - 1;
        bool ok = missing == e->lost;

        s->gaps++;
        if (!ok)
            s->unexplained_gaps++;
        if (s->json)
            emit(s, json_pack("{s:s, s:I, s:I, s:I, s:I, s:b}", "event", "gap", "after_seq",
                              (json_int_t)s->last_seq, "seq", (json_int_t)e->seq, "missing",
                              (json_int_t)missing, "lost", (json_int_t)e->lost, "accounted", ok));
        else
            fprintf(s->out,
                    "!! gap: %" PRIu64 " envelopes missing after seq %" PRIu64
                    ", guest reports %" PRIu64 " lost (%s)\n",
                    missing, s->last_seq, e->lost, ok ? "accounted" : "UNEXPLAINED");
    } else {
        /* A new boot (or a stale duplicate): start the accounting over. */
        s->restarts++;
        note(s, "restart", "seq went from %" PRIu64 " back to %" PRIu64, s->last_seq, e->seq);
        s->complete = e->seq == e->lost;
        s->lost_sum = 0;
    }
    s->last_seq = e->seq;
    s->lost_sum += e->lost;
}

static void check_heartbeat(struct telem_stream *s, const telem_envelope *e)
{
    const Ukscope__Telemetry__Heartbeat *hb = e->heartbeat;

    s->heartbeats++;
    if (!s->complete || s->unexplained_gaps)
        return;
    if (hb->envelopes_lost == s->lost_sum && hb->envelopes_produced == e->seq + 1) {
        s->loss_checks_ok++;
        return;
    }
    s->loss_checks_bad++;
    note(s, "loss_mismatch",
         "heartbeat seq %" PRIu64 ": guest produced %" PRIu64 " lost %" PRIu64
         ", reader saw lost %" PRIu64,
         e->seq, hb->envelopes_produced, hb->envelopes_lost, s->lost_sum);
}

void telem_stream_envelope(struct telem_stream *s, const telem_envelope *e)
{
    check_seq(s, e);
    s->frames++;
    if (e->payload_case == UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_HEARTBEAT && e->heartbeat)
        check_heartbeat(s, e);
    if (e->payload_case == UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_CRASH)
        s->crashes++;
    if (e->payload_case == UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_LOG && e->log &&
        e->log->klog_seq < s->replay_until) {
        s->replay_dups++; /* printed already by the replay */
        return;
    }
    if (s->json) {
        json_t *o = telem_payload_json(e);
        char id[128];

        clean(id, sizeof(id), e->instance_id);
        json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
        json_object_set_new(o, "lost", json_integer((json_int_t)e->lost));
        json_object_set_new(o, "time_ns", json_integer((json_int_t)e->time_ns));
        json_object_set_new(o, "instance", json_string(id));
        emit(s, o);
    } else {
        fprintf(s->out, "#%" PRIu64 " %" PRIu64 ".%09" PRIu64 " ", e->seq, e->time_ns / 1000000000u,
                e->time_ns % 1000000000u);
        telem_payload_text(s->out, e);
        fflush(s->out);
    }
}

void telem_stream_replay(struct telem_stream *s, const struct klog_record *r)
{
    telem_envelope e = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
    Ukscope__Telemetry__LogRecord l = UKSCOPE__TELEMETRY__LOG_RECORD__INIT;
    char text[sizeof(r->text)];

    memcpy(text, r->text, sizeof(text));
    l.severity = r->level;
    l.time_ns = r->time_ns;
    l.cpu = r->cpu;
    l.thread_id = r->tid;
    l.text = text;
    l.klog_seq = r->seq;
    e.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_LOG;
    e.log = &l;
    s->replayed++;
    if (s->json) {
        json_t *o = telem_payload_json(&e);

        json_object_set_new(o, "replayed", json_true());
        emit(s, o);
    } else {
        fprintf(s->out, "#replay %" PRIu64 ".%09" PRIu64 " ", r->time_ns / 1000000000u,
                r->time_ns % 1000000000u);
        telem_payload_text(s->out, &e);
        fflush(s->out);
    }
}

void telem_stream_problem(struct telem_stream *s, const char *kind, const char *msg)
{
    if (!strcmp(kind, "error") || !strcmp(kind, "truncated"))
        s->errors++;
    note(s, kind, "%s", msg);
}

void telem_stream_summary(struct telem_stream *s)
{
    const char *check = !s->complete || s->unexplained_gaps ? "unknown"
                        : s->loss_checks_bad                ? "mismatch"
                        : s->loss_checks_ok                 ? "ok"
                                                            : "unknown";
    /* Drops before the first envelope happened while nobody was reading. */
    uint64_t lost = s->lost_sum - (s->restarts ? 0 : s->lost_before_first);

    if (s->json) {
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:s}", "event",
                              "summary", "frames", (json_int_t)s->frames, "lost",
                              (json_int_t)lost, "gaps", (json_int_t)s->gaps, "unexplained_gaps",
                              (json_int_t)s->unexplained_gaps, "errors", (json_int_t)s->errors,
                              "heartbeats", (json_int_t)s->heartbeats, "crashes",
                              (json_int_t)s->crashes, "last_seq", (json_int_t)s->last_seq,
                              "complete", s->complete, "loss_check", check);

        json_object_set_new(o, "lost_before_first", json_integer((json_int_t)s->lost_before_first));
        json_object_set_new(o, "replayed", json_integer((json_int_t)s->replayed));
        emit(s, o);
        return;
    }
    fprintf(s->out,
            "-- %" PRIu64 " envelopes, %" PRIu64 " lost by the guest, %" PRIu64 " gaps (%" PRIu64
            " unexplained), %" PRIu64 " errors, loss check %s; %" PRIu64
            " dropped before the first (no reader), %" PRIu64 " log records replayed\n",
            s->frames, lost, s->gaps, s->unexplained_gaps, s->errors, check,
            s->lost_before_first, s->replayed);
    fflush(s->out);
}
