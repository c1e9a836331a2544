/*
 * A small in-collector history for the console's charts: one sample per
 * instance per tick (1 s), HIST_LEN of them (15 minutes) in a ring
 * allocated when the instance is first sampled (~40 KiB each).
 *
 * Sources, all already read by the collector (no second data path):
 * vCPU on-CPU and steal from hostcpu.c (schedstat), heap and HTTP
 * requests from the guest's shared metrics page (the same reader and
 * validation as /metrics), log lines from the ingest counters, trace
 * records lost from the trace store plus the guest's own drop counter.
 * Rates are deltas between two ticks over the wall time between them.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cd.h"
#include "common/metrics_page.h"
#include "dash.h"
#include "host/metrics_read.h"

enum { SCAN_STEP = 4096 };

struct hsample {
    int64_t t_ms;              /* wall clock */
    float cpu[HIST_VCPU];      /* % of one host CPU per vCPU */
    float steal;               /* mean over vCPUs, % */
    float req_s, http5xx_s, log_s, trace_lost_s;
    double heap;               /* bytes */
};

/* Cumulative counters at the previous tick. */
struct hprev {
    int64_t t_ms;
    uint64_t run[DASH_MAX_VCPU], wait[DASH_MAX_VCPU];
    unsigned nvcpu;
    double req, http5xx, trace_lost;
    uint64_t logs;
    bool valid;
};

struct hist {
    char boot_id[37];
    struct hsample *ring; /* HIST_LEN, NULL until sampled */
    unsigned head, count;
    struct hprev prev;
    struct hist_now now;
};

static struct hist hs[CD_MAX_INSTANCES];

uint64_t tsglue_lost(const char *instance); /* tsglue.c */

/* What history needs from the guest's registry. */
struct page_vals {
    double heap, heap_size, mem_free, req, http5xx, trace_dropped;
    bool ok;
};

static bool name_is(const char *n, const char *base)
{
    size_t l = strlen(base);
    /* counters' samples carry _total; accept both spellings */
    return !strncmp(n, base, l) && (!n[l] || !strcmp(n + l, "_total"));
}

static void read_page(struct inst *in, struct page_vals *v, unsigned char *buf)
{
    const char *why;
    unsigned count = 0;
    size_t len = 0;

    memset(v, 0, sizeof(*v));
    if (!in->ram.base || !RAMVIEW_GUARD())
        return;
    size_t off = in->metrics_off ? in->metrics_off - 1 : 0;
    bool found = false;
    /* Only the offset /metrics found; an unknown page is left to prom.c's scan. */
    if (in->metrics_off && off + sizeof(struct ukm_header) <= in->ram.size &&
        metrics_snapshot(in->ram.base, in->ram.size, off, buf, &len, &why) == 0 &&
        ukm_validate(buf, len, &count, &why) == 0)
        found = true;
    ramview_unguard();
    if (!found) {
        /* find it once the way prom.c does, cheaply bounded: at most every 10 s */
        static int64_t next_scan[CD_MAX_INSTANCES];
        unsigned i = (unsigned)(in - cd.inst);
        if (cd_now() < next_scan[i] || !RAMVIEW_GUARD())
            return;
        next_scan[i] = cd_now() + 10000;
        for (off = 0; off + sizeof(struct ukm_header) <= in->ram.size; off += SCAN_STEP) {
            const unsigned char *m = in->ram.base;
            if (memcmp(m + off, UKM_MAGIC, UKM_MAGIC_LEN))
                continue;
            if (metrics_snapshot(m, in->ram.size, off, buf, &len, &why) == 0 &&
                ukm_validate(buf, len, &count, &why) == 0) {
                in->metrics_off = off + 1;
                found = true;
                break;
            }
        }
        ramview_unguard();
        if (!found)
            return;
    }
    const struct ukm_entry *e = (const struct ukm_entry *)(buf + sizeof(struct ukm_header));
    for (unsigned s = 0; s < count; s++) {
        if (e[s].kind != UKM_KIND_SAMPLE || !e[s].scale)
            continue;
        char n[UKM_NAME_MAX], t[UKM_TEXT_MAX];
        memcpy(n, e[s].name, sizeof(n));
        memcpy(t, e[s].text, sizeof(t));
        n[sizeof(n) - 1] = t[sizeof(t) - 1] = 0;
        double x = (double)e[s].value / e[s].scale;
        if (name_is(n, "ukscope_heap_in_use_bytes"))
            v->heap = x;
        else if (name_is(n, "ukscope_heap_size_bytes"))
            v->heap_size = x;
        else if (name_is(n, "ukscope_memory_free_bytes"))
            v->mem_free = x;
        else if (name_is(n, "ukscope_trace_events_dropped"))
            v->trace_dropped += x;
        else if (name_is(n, "ukscope_http_requests") || name_is(n, "kv_requests")) {
            v->req += x;
            if (strstr(t, "code=\"5"))
                v->http5xx += x;
        }
    }
    v->ok = true;
}

static double rate(double now, double before, double dt)
{
    return now >= before && dt > 0 ? (now - before) / dt : 0;
}

static void sample(struct inst *in, int64_t t_ms, unsigned char *buf)
{
    struct hist *h = &hs[in - cd.inst];
    struct hprev cur = {.t_ms = t_ms, .valid = true};
    struct page_vals pv;

    if (strcmp(h->boot_id, in->boot_id)) {
        history_forget(in);
        snprintf(h->boot_id, sizeof(h->boot_id), "%s", in->boot_id);
    }
    if (!h->ring && !(h->ring = calloc(HIST_LEN, sizeof(*h->ring))))
        return;
    cur.nvcpu = hostcpu_sample(in, cur.run, cur.wait);
    read_page(in, &pv, buf);
    cur.req = pv.req;
    cur.http5xx = pv.http5xx;
    cur.trace_lost = (double)tsglue_lost(in->name) + pv.trace_dropped;
    cur.logs = in->ingested[0] + in->ingested[1];

    struct hprev *p = &h->prev;
    if (p->valid && t_ms > p->t_ms) {
        double dt = (double)(t_ms - p->t_ms) / 1000.0;
        struct hsample *s = &h->ring[h->head];
        struct hist_now *n = &h->now;
        memset(s, 0, sizeof(*s));
        s->t_ms = t_ms;
        n->cpu_pct = n->steal_pct = 0;
        n->nvcpu = cur.nvcpu == p->nvcpu ? cur.nvcpu : 0;
        for (unsigned v = 0; v < n->nvcpu; v++) {
            /* ns per second / 1e7 = % of one host CPU */
            double c = rate((double)cur.run[v], (double)p->run[v], dt) / 1e7;
            double w = rate((double)cur.wait[v], (double)p->wait[v], dt) / 1e7;
            if (v < HIST_VCPU)
                s->cpu[v] = (float)c;
            n->cpu_pct += c;
            n->steal_pct += w / n->nvcpu;
        }
        s->steal = (float)n->steal_pct;
        s->req_s = (float)(n->req_s = rate(cur.req, p->req, dt));
        s->http5xx_s = (float)(n->http5xx_s = rate(cur.http5xx, p->http5xx, dt));
        s->log_s = (float)(n->log_s = rate((double)cur.logs, (double)p->logs, dt));
        s->trace_lost_s = (float)(n->trace_lost_s = rate(cur.trace_lost, p->trace_lost, dt));
        s->heap = n->heap_bytes = pv.heap;
        n->heap_limit_bytes = pv.heap_size + pv.mem_free;
        n->valid = true;
        h->head = (h->head + 1) % HIST_LEN;
        if (h->count < HIST_LEN)
            h->count++;
    }
    *p = cur;
}

void history_tick(void)
{
    static int64_t last; /* monotonic ms of the last sample */
    int64_t now = cd_now(), t = cd_wall_ns() / 1000000;
    unsigned char *buf;

    /* One sample a second whatever the collection interval: 900 are 15 minutes. */
    if (last && now - last < HIST_PERIOD_MS - 50)
        return;
    last = now;
    if (!(buf = malloc(UKM_PAGE_BYTES)))
        return;
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
        struct inst *in = &cd.inst[i];
        if (!in->used) {
            if (hs[i].ring)
                history_forget(in);
            continue;
        }
        if (in->state == ST_EXITED) {
            hs[i].now.valid = false;
            hs[i].prev.valid = false;
            continue;
        }
        sample(in, t, buf);
    }
    free(buf);
}

void history_forget(struct inst *in)
{
    struct hist *h = &hs[in - cd.inst];
    free(h->ring);
    memset(h, 0, sizeof(*h));
}

void history_now(struct inst *in, struct hist_now *out)
{
    *out = hs[in - cd.inst].now;
}

json_t *history_json(struct inst *in, int64_t since_s)
{
    struct hist *h = &hs[in - cd.inst];
    json_t *t = json_array(), *cpu = json_array(), *steal = json_array(), *heap = json_array(),
           *req = json_array(), *e5 = json_array(), *logs = json_array(), *tl = json_array();
    unsigned nv = h->now.nvcpu < HIST_VCPU ? h->now.nvcpu : HIST_VCPU;

    for (unsigned v = 0; v < nv; v++)
        json_array_append_new(cpu, json_array());
    for (unsigned k = 0; h->ring && k < h->count; k++) {
        const struct hsample *s = &h->ring[(h->head + HIST_LEN - h->count + k) % HIST_LEN];
        if (s->t_ms / 1000 < since_s)
            continue;
        json_array_append_new(t, json_integer(s->t_ms));
        for (unsigned v = 0; v < nv; v++)
            json_array_append_new(json_array_get(cpu, v), json_real(s->cpu[v]));
        json_array_append_new(steal, json_real(s->steal));
        json_array_append_new(heap, json_real(s->heap));
        json_array_append_new(req, json_real(s->req_s));
        json_array_append_new(e5, json_real(s->http5xx_s));
        json_array_append_new(logs, json_real(s->log_s));
        json_array_append_new(tl, json_real(s->trace_lost_s));
    }
    return json_pack("{s:s,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "name", in->name,
                     "interval_s", 1, "t_ms", t, "cpu", cpu, "steal", steal, "heap", heap,
                     "req_s", req, "http5xx_s", e5, "log_s", logs, "trace_lost_s", tl);
}
