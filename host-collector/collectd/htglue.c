/*
 * ukcollectd's host flight recorder (docs/host-view.md, "One timeline"):
 * the hosttrace BPF programs record the scheduler, write(2) and KVM events
 * of every instance's QEMU; each tick drains their ring buffer into a
 * bounded ring of the latest records per instance (--host-trace-events N,
 * 0: off), with the guest's clock sync writes kept apart (they are sparse
 * and the clock fit needs a run of them).  When a crash bundle is written,
 * crashglue.c takes a snapshot here and the trace store puts the guest's
 * events of the same window on the host's clock beside these
 * (tracestore_export_host): the bundle's timeline.perfetto-trace.
 *
 * Like the host view it needs CAP_BPF + CAP_PERFMON; without them, or with
 * the recorder off, bundles say why they have no timeline.  Tracked and
 * untracked with the host view (hostview_glue.c): the instance's QEMU pid
 * while it lives.  A slot whose instance or QEMU pid changes starts empty.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/htuser.h"
#include "bpf/hvuser.h"
#include "bpf/trace_host_tracks.h"
#include "cd.h"
#include "host_tsc.h"
#include "log.h"
#include "tracestore.h"

enum {
    HTG_RING_BYTES = 4u << 20,  /* writev and KVM records only (switches: HV_RECORD's) */
    HTG_SYNC_KEEP = 512,        /* latest sync writes per instance: the fit's run (8 KiB) */
    HTG_PAIRS = 128,            /* host TSC/monotonic pairs, one per tick */
    HTG_RATE_BASE_MS = 60000,   /* rate from a pair about this old (NTP slews monotonic) */
    HTG_HASH = 4096,            /* tgid -> slot, open addressing, > 2 * CD_MAX_INSTANCES */
};

struct hsync {
    uint64_t enter, ret; /* CLOCK_MONOTONIC ns */
};

struct hrec {
    char name[64];
    pid_t pid;  /* tracked now (0: not) */
    pid_t qpid; /* the QEMU the records are of (kept after it exits) */
    struct ht_event *ev; /* ring of cap records, allocated at the first one */
    size_t head, n;
    struct hsync sync[HTG_SYNC_KEEP];
    size_t shead, sn;
    uint32_t pend_tid; /* a sync write entered, not returned yet */
    uint64_t pend_ns;
    bool pend;
    uint64_t events, overwritten;
};

static struct ht *ht;
static size_t cap_events;
static struct hrec rec[CD_MAX_INSTANCES];
static int32_t tg_slot[HTG_HASH]; /* slot + 1; 0 empty */
static pid_t tg_key[HTG_HASH];
static struct {
    int64_t tsc, ns, at_ms;
} pairs[HTG_PAIRS];
static unsigned npairs, pair_head;
static char off_why[160] = "the host recorder is not started";

static void hash_rebuild(void)
{
    memset(tg_slot, 0, sizeof(tg_slot));
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
        if (!rec[i].pid)
            continue;
        unsigned h = (unsigned)rec[i].pid % HTG_HASH;
        while (tg_slot[h])
            h = (h + 1) % HTG_HASH;
        tg_slot[h] = (int32_t)i + 1;
        tg_key[h] = rec[i].pid;
    }
}

static struct hrec *slot_of(uint32_t tgid)
{
    for (unsigned h = tgid % HTG_HASH; tg_slot[h]; h = (h + 1) % HTG_HASH)
        if ((uint32_t)tg_key[h] == tgid)
            return &rec[tg_slot[h] - 1];
    return NULL;
}

static void sync_push(struct hrec *r, uint64_t enter, uint64_t ret)
{
    r->sync[r->shead] = (struct hsync){enter, ret};
    r->shead = (r->shead + 1) % HTG_SYNC_KEEP;
    if (r->sn < HTG_SYNC_KEEP)
        r->sn++;
}

/* One record, in ring-buffer order. */
static void on_event(void *ctx, const struct ht_event *e)
{
    struct hrec *r = slot_of(e->tgid);
    if (!r)
        return; /* untracked since it was recorded */
    if (!r->ev && !(r->ev = malloc(cap_events * sizeof(*r->ev))))
        return;
    r->ev[r->head] = *e;
    r->head = (r->head + 1) % cap_events;
    if (r->n < cap_events)
        r->n++;
    else
        r->overwritten++;
    r->events++;
    /* Sync writes: a write of the sync byte, closed by the same thread's
     * return (or, if that was not seen, by its next write). */
    bool w = e->type == HT_WRITE, ret = e->type == HT_WRITE_RET;
    if (r->pend && e->tid == r->pend_tid && (w || ret)) {
        sync_push(r, r->pend_ns, ret ? e->ts_ns : r->pend_ns);
        r->pend = false;
    }
    if (w && e->arg2 == TH_SYNC_BYTE) {
        if (r->pend)
            sync_push(r, r->pend_ns, r->pend_ns);
        r->pend = true;
        r->pend_tid = e->tid;
        r->pend_ns = e->ts_ns;
    }
}

static void take_pair(void)
{
    int64_t t, m;
    host_tsc_pair(&t, &m);
    pairs[pair_head].tsc = t;
    pairs[pair_head].ns = m;
    pairs[pair_head].at_ms = cd_now();
    pair_head = (pair_head + 1) % HTG_PAIRS;
    if (npairs < HTG_PAIRS)
        npairs++;
}

void htglue_init(size_t events_per_instance)
{
    char err[256];

    cap_events = events_per_instance;
    if (!cap_events) {
        snprintf(off_why, sizeof(off_why), "the host recorder is off (--host-trace-events 0)");
        return;
    }
    if (!hvglue_hv()) { /* its one log line said why already */
        snprintf(off_why, sizeof(off_why), "the host recorder is off with the host view (BPF)");
        return;
    }
    /* switches come from the host view's program (HV_RECORD), the rest
     * (writev, KVM) from hosttrace's lean set, both into on_event */
    if (ht_open(&ht, HT_LEAN, HTG_RING_BYTES, on_event, NULL, err, sizeof(err)) < 0 ||
        ht_add_ring(ht, hv_events_fd(hvglue_hv())) < 0) {
        if (ht)
            snprintf(err, sizeof(err), "Failed to add the host view's ring buffer: %s",
                     strerror(errno));
        cd_log(CD_WARN, "host recorder (BPF) off: %s", err);
        snprintf(off_why, sizeof(off_why), "the host recorder is off: %.120s", err);
        ht_close(ht);
        ht = NULL;
        return;
    }
    take_pair();
    cd_log(CD_INFO, "host recorder on: the latest %zu host events per instance", cap_events);
}

void htglue_close(void)
{
    ht_close(ht);
    ht = NULL;
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
        free(rec[i].ev);
    memset(rec, 0, sizeof(rec));
}

void htglue_poll(void)
{
    if (!ht)
        return;
    if (ht_poll(ht, 0) < 0)
        cd_log(CD_WARN, "Failed to drain the host recorder's ring buffer: %s", strerror(errno));
    take_pair();
}

void htglue_track(struct inst *in, pid_t pid)
{
    struct hrec *r = &rec[in - cd.inst];

    if (!ht || (r->pid == pid && !strcmp(r->name, in->name)))
        return;
    if (r->pid)
        ht_untrack(ht, r->pid);
    if (strcmp(r->name, in->name) || pid) { /* a new instance or a new QEMU: start empty */
        free(r->ev);
        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "%s", in->name);
    }
    r->pid = 0;
    if (pid && ht_track(ht, pid) < 0)
        cd_log(CD_WARN, "%s: Failed to track pid %d in the host recorder: %s", in->name, (int)pid,
               strerror(errno));
    else if (pid)
        r->pid = r->qpid = pid;
    hash_rebuild();
}

int htglue_snapshot(struct inst *in, struct ts_host *out, char *why, size_t whylen)
{
    struct hrec *r = &rec[in - cd.inst];

    memset(out, 0, sizeof(*out));
    if (!ht) {
        snprintf(why, whylen, "%s", off_why);
        return -1;
    }
    htglue_poll();
    if (strcmp(r->name, in->name) || !r->n || !r->qpid) {
        snprintf(why, whylen, "no host events recorded for this instance");
        return -1;
    }
    /* The rate from the newest pair and one about HTG_RATE_BASE_MS older. */
    unsigned last = (pair_head + HTG_PAIRS - 1) % HTG_PAIRS, base = last;
    for (unsigned k = 1; k < npairs; k++) {
        unsigned i = (last + HTG_PAIRS - k) % HTG_PAIRS;
        base = i;
        if (pairs[last].at_ms - pairs[i].at_ms >= HTG_RATE_BASE_MS)
            break;
    }
    if (pairs[last].tsc <= pairs[base].tsc || pairs[last].ns <= pairs[base].ns) {
        snprintf(why, whylen, "the host TSC rate is not measured yet");
        return -1;
    }
    out->clock.ns_per_tick = (long double)(pairs[last].ns - pairs[base].ns) /
                             (long double)(pairs[last].tsc - pairs[base].tsc);
    out->clock.t0 = pairs[base].tsc;
    out->clock.m0 = pairs[base].ns;
    out->ev = malloc(r->n * sizeof(*out->ev));
    out->sync = malloc((r->sn + 1) * sizeof(*out->sync));
    if (!out->ev || !out->sync) {
        ts_host_free(out);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    size_t first = (r->head + cap_events - r->n) % cap_events;
    for (size_t i = 0; i < r->n; i++)
        out->ev[i] = r->ev[(first + i) % cap_events];
    out->n = r->n;
    th_sort(out->ev, out->n);
    size_t sfirst = (r->shead + HTG_SYNC_KEEP - r->sn) % HTG_SYNC_KEEP;
    for (size_t i = 0; i < r->sn; i++) {
        const struct hsync *s = &r->sync[(sfirst + i) % HTG_SYNC_KEEP];
        out->sync[i].enter = th_host_tsc(&out->clock, s->enter);
        out->sync[i].ret = th_host_tsc(&out->clock, s->ret);
    }
    out->nsync = r->sn;
    out->pid = r->qpid;
    out->overwritten = r->overwritten;
    out->lost = ht_lost(ht) + hv_events_lost(hvglue_hv());
    return 0;
}

void prom_hosttrace(FILE *o)
{
    fprintf(o, "# HELP ukcollectd_host_trace_up 1 when the host recorder (BPF) runs: crash "
               "bundles get a guest+host timeline.\n# TYPE ukcollectd_host_trace_up gauge\n"
               "ukcollectd_host_trace_up %d\n", ht != NULL);
    if (!ht)
        return;
    fprintf(o, "# HELP ukcollectd_host_trace_lost_total Host records the kernel could not store "
               "(ring buffer full).\n# TYPE ukcollectd_host_trace_lost_total counter\n"
               "ukcollectd_host_trace_lost_total %llu\n",
            (unsigned long long)(ht_lost(ht) + hv_events_lost(hvglue_hv())));
    fprintf(o, "# HELP ukcollectd_host_trace_events_total Host records of the instance's QEMU "
               "(the latest are kept).\n# TYPE ukcollectd_host_trace_events_total counter\n");
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
        if (cd.inst[i].used && !strcmp(rec[i].name, cd.inst[i].name))
            fprintf(o, "ukcollectd_host_trace_events_total{instance=\"%s\"} %llu\n",
                    cd.inst[i].name, (unsigned long long)rec[i].events);
}
