/*
 * Envelope payloads as JSON objects and text lines (ukctl telemetry).
 * Every string and repeated field comes from the guest: strings are cut to
 * printable ASCII, counts were bounded by the frame size at decode time.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/metrics_page.h"
#include "telemetry_print.h"

#define J(v) ((json_int_t)(v))

static const char *const levels[] = {"emerg", "alert",  "crit", "err",
                                     "warn",  "notice", "info", "debug"};

static const char *level(unsigned l)
{
    return l < 8 ? levels[l] : "?";
}

static const char *reason(unsigned r)
{
    static const char *const names[] = {"call", "exception", "assert"};
    return r < 3 ? names[r] : "?";
}

static void ascii(char *dst, size_t cap, const char *src)
{
    size_t i = 0;

    for (; src && *src && i + 1 < cap; src++)
        dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
    dst[i] = 0;
}

static json_t *jstr(const char *s)
{
    char buf[4096];

    ascii(buf, sizeof(buf), s);
    return json_string(buf);
}

static const char *sample_type(int t)
{
    return t == UKSCOPE__TELEMETRY__SAMPLE__TYPE__COUNTER     ? "counter"
           : t == UKSCOPE__TELEMETRY__SAMPLE__TYPE__GAUGE     ? "gauge"
           : t == UKSCOPE__TELEMETRY__SAMPLE__TYPE__HISTOGRAM ? "histogram"
                                                              : "untyped";
}

/* A scale the guest may send: a power of ten that fits the registry's use. */
static bool scaled(const Ukscope__Telemetry__Sample *s)
{
    return s->value_case == UKSCOPE__TELEMETRY__SAMPLE__VALUE_INT_VALUE &&
           (s->scale == 1000 || s->scale == 1000000 || s->scale == 1000000000);
}

/* The value as a JSON number: exact integers stay integers. */
static json_t *sample_value(const Ukscope__Telemetry__Sample *s)
{
    if (s->value_case == UKSCOPE__TELEMETRY__SAMPLE__VALUE_DOUBLE_VALUE)
        return json_real(s->double_value);
    if (scaled(s))
        return json_real((double)s->int_value / s->scale);
    return json_integer(J(s->int_value));
}

/* The value as Prometheus text prints it (exact decimal for scaled ones). */
static void print_value(FILE *out, const Ukscope__Telemetry__Sample *s)
{
    char buf[48];
    struct ukm_out o = {buf, 0, sizeof(buf) - 1, false};

    if (s->value_case == UKSCOPE__TELEMETRY__SAMPLE__VALUE_DOUBLE_VALUE) {
        fprintf(out, " %g\n", s->double_value);
        return;
    }
    ukm_fmt_value(&o, s->int_value, scaled(s) ? s->scale : 1);
    buf[o.len] = 0;
    fprintf(out, " %s\n", buf);
}

static json_t *regs_json(const Ukscope__Telemetry__Registers *r)
{
    json_t *o = json_object();
#define R(n) json_object_set_new(o, #n, json_sprintf("0x%" PRIx64, r->n))
    R(rax), R(rbx), R(rcx), R(rdx), R(rsi), R(rdi), R(rbp), R(rsp);
    R(r8), R(r9), R(r10), R(r11), R(r12), R(r13), R(r14), R(r15);
    R(rip), R(rflags), R(cs), R(ss), R(cr2);
#undef R
    json_object_set_new(o, "vector", json_integer(J(r->vector)));
    json_object_set_new(o, "error_code", json_integer(J(r->error_code)));
    return o;
}

json_t *telem_payload_json(const telem_envelope *e)
{
    json_t *o = json_object(), *a;
    size_t i, j;
    char hex[2 * 64 + 1];

    switch (e->payload_case) {
    case UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_LOG: {
        const Ukscope__Telemetry__LogRecord *l = e->log;
        json_object_set_new(o, "type", json_string("log"));
        json_object_set_new(o, "severity", json_integer(l->severity));
        json_object_set_new(o, "level", json_string(level(l->severity)));
        json_object_set_new(o, "log_time_ns", json_integer(J(l->time_ns)));
        json_object_set_new(o, "cpu", json_integer(l->cpu));
        json_object_set_new(o, "tid", json_integer(l->thread_id));
        json_object_set_new(o, "klog_seq", json_integer(J(l->klog_seq)));
        json_object_set_new(o, "klog_overwritten", json_integer(J(l->klog_overwritten)));
        json_object_set_new(o, "text", jstr(l->text));
        break;
    }
    case UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_HEARTBEAT: {
        const Ukscope__Telemetry__Heartbeat *h = e->heartbeat;
        json_object_set_new(o, "type", json_string("heartbeat"));
        json_object_set_new(o, "uptime_ns", json_integer(J(h->uptime_ns)));
        a = json_array();
        for (i = 0; i < h->n_cpus; i++)
            json_array_append_new(a, json_pack("{s:i, s:i, s:I, s:I}", "cpu", (int)h->cpus[i]->cpu,
                                               "busy_permille", (int)h->cpus[i]->busy_permille,
                                               "context_switches", J(h->cpus[i]->context_switches),
                                               "idle_ns", J(h->cpus[i]->idle_ns)));
        json_object_set_new(o, "cpus", a);
        json_object_set_new(o, "threads", json_integer(h->threads));
        json_object_set_new(o, "runnable_threads", json_integer(h->runnable_threads));
        json_object_set_new(o, "heap_in_use_bytes", json_integer(J(h->heap_in_use_bytes)));
        json_object_set_new(o, "envelopes_produced", json_integer(J(h->envelopes_produced)));
        json_object_set_new(o, "envelopes_lost", json_integer(J(h->envelopes_lost)));
        break;
    }
    case UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_METRICS: {
        const Ukscope__Telemetry__MetricSnapshot *m = e->metrics;
        json_object_set_new(o, "type", json_string("metrics"));
        json_object_set_new(o, "part", json_integer(m->part));
        json_object_set_new(o, "parts", json_integer(m->parts));
        json_object_set_new(o, "snapshot_ns", json_integer(J(m->snapshot_ns)));
        a = json_array();
        for (i = 0; i < m->n_samples; i++) {
            const Ukscope__Telemetry__Sample *s = m->samples[i];
            json_t *labels = json_object();
            char k[128];
            for (j = 0; j < s->n_labels; j++) {
                ascii(k, sizeof(k), s->labels[j]->name);
                json_object_set_new(labels, k, jstr(s->labels[j]->value));
            }
            json_t *js = json_pack("{s:o, s:o, s:s, s:o}", "name", jstr(s->name), "labels",
                                   labels, "type", sample_type(s->type), "value", sample_value(s));
            if (scaled(s)) { /* the exact integer too */
                json_object_set_new(js, "int_value", json_integer(J(s->int_value)));
                json_object_set_new(js, "scale", json_integer(s->scale));
            }
            json_array_append_new(a, js);
        }
        json_object_set_new(o, "samples", a);
        break;
    }
    case UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_CRASH: {
        const Ukscope__Telemetry__CrashReport *c = e->crash;
        json_object_set_new(o, "type", json_string("crash"));
        json_object_set_new(o, "message", jstr(c->message));
        json_object_set_new(o, "reason", json_string(reason(c->reason)));
        json_object_set_new(o, "cpu", json_integer(c->cpu));
        if (c->regs)
            json_object_set_new(o, "registers", regs_json(c->regs));
        a = json_array();
        for (i = 0; i < c->n_backtrace; i++)
            json_array_append_new(a, json_sprintf("0x%" PRIx64, c->backtrace[i]));
        json_object_set_new(o, "backtrace", a);
        for (i = 0; i < c->build_id.len && i < 64; i++)
            sprintf(hex + 2 * i, "%02x", c->build_id.data[i]);
        hex[2 * i] = 0;
        json_object_set_new(o, "build_id", json_string(hex));
        json_object_set_new(o, "version", jstr(c->version));
        break;
    }
    default:
        json_object_set_new(o, "type", json_string("unknown"));
        break;
    }
    return o;
}

void telem_payload_text(FILE *out, const telem_envelope *e)
{
    char buf[4096];
    size_t i;

    switch (e->payload_case) {
    case UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_LOG:
        ascii(buf, sizeof(buf), e->log->text);
        fprintf(out, "log %s cpu%u tid%u: %s\n", level(e->log->severity), e->log->cpu,
                e->log->thread_id, buf);
        break;
    case UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_HEARTBEAT:
        fprintf(out, "heartbeat uptime %.3fs threads %u runnable %u heap %" PRIu64 " B load",
                e->heartbeat->uptime_ns / 1e9, e->heartbeat->threads,
                e->heartbeat->runnable_threads, e->heartbeat->heap_in_use_bytes);
        for (i = 0; i < e->heartbeat->n_cpus; i++)
            fprintf(out, " cpu%u=%.1f%%", e->heartbeat->cpus[i]->cpu,
                    e->heartbeat->cpus[i]->busy_permille / 10.0);
        fprintf(out, " (produced %" PRIu64 ", lost %" PRIu64 ")\n",
                e->heartbeat->envelopes_produced, e->heartbeat->envelopes_lost);
        break;
    case UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_METRICS:
        fprintf(out, "metrics part %u/%u, %zu samples\n", e->metrics->part + 1,
                e->metrics->parts, e->metrics->n_samples);
        for (i = 0; i < e->metrics->n_samples; i++) {
            const Ukscope__Telemetry__Sample *s = e->metrics->samples[i];
            ascii(buf, sizeof(buf), s->name);
            fprintf(out, "    %s", buf);
            for (size_t j = 0; j < s->n_labels; j++) {
                char k[128], v[256];
                ascii(k, sizeof(k), s->labels[j]->name);
                ascii(v, sizeof(v), s->labels[j]->value);
                fprintf(out, "%s%s=\"%s\"", j ? "," : "{", k, v);
            }
            if (s->n_labels)
                fputc('}', out);
            print_value(out, s);
        }
        break;
    case UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_CRASH:
        ascii(buf, sizeof(buf), e->crash->message);
        fprintf(out, "CRASH (%s) on cpu%u: %s\n", reason(e->crash->reason), e->crash->cpu, buf);
        if (e->crash->regs)
            fprintf(out,
                    "    rip 0x%" PRIx64 " rsp 0x%" PRIx64 " rbp 0x%" PRIx64 " cr2 0x%" PRIx64 "\n",
                    e->crash->regs->rip, e->crash->regs->rsp, e->crash->regs->rbp,
                    e->crash->regs->cr2);
        for (i = 0; i < e->crash->n_backtrace; i++)
            fprintf(out, "    #%zu 0x%" PRIx64 "\n", i, e->crash->backtrace[i]);
        break;
    default:
        fprintf(out, "unknown payload %d\n", (int)e->payload_case);
        break;
    }
}
