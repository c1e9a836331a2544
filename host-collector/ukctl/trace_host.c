/*
 * `ukctl trace --with-host` (see trace_host.h).  The guest's events and
 * the host's are recorded over the same window; the guest's timestamps are
 * then moved onto the host's CLOCK_MONOTONIC (what bpf_ktime_get_ns reads)
 * and both go into one Perfetto trace: the guest as process "guest", the
 * QEMU as process "host: qemu PID" with one track per QEMU thread (on-CPU
 * slices named by host CPU, run-queue waits, write(2) and KVM exits).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpf/htuser.h"
#include "instance.h"
#include "trace_host.h"
#include "trace_out.h"
#include "util.h"

#define POLL_MS     100

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* A (host TSC, CLOCK_MONOTONIC ns) pair: the tightest bracket of 16. */
static void clock_pair(int64_t *tsc, int64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 16; i++) {
        struct timespec ts;
        uint64_t a = rdtsc();
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t b = rdtsc();
        if (b - a < best) {
            best = b - a;
            *tsc = (int64_t)(a + (b - a) / 2);
            *ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        }
    }
}

/* Host TSC at host monotonic time ns (the sampled rate and pair). */
static int64_t host_tsc(const struct th_clock *c, uint64_t ns)
{
    return c->t0 + (int64_t)((long double)((int64_t)ns - c->m0) / c->ns_per_tick);
}

static int cmp_ht(const void *a, const void *b)
{
    const struct ht_event *x = a, *y = b;
    return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

/* Guest sync points from the drained events (phase 0 and 1 of one seq). */
static size_t guest_syncs(const struct utr_evbuf *b, struct th_sync *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct utr_event *e = &b->ev[i];
        if (e->id != UK_TP_HOST_SYNC || e->arg[1] != 0)
            continue;
        for (size_t j = i + 1; j < b->n && j < i + 8; j++) {
            const struct utr_event *f = &b->ev[j];
            if (f->ring == e->ring && f->id == UK_TP_HOST_SYNC && f->arg[0] == e->arg[0] &&
                f->arg[1] == 1) {
                if (n < max)
                    out[n++] = (struct th_sync){e->arg[0], e->tsc, f->tsc};
                break;
            }
        }
    }
    return n;
}

int trace_with_host(const char *run_dir, struct utr *t, double duration_s, const char *out,
                    volatile sig_atomic_t *stop)
{
    struct instance_summary in;
    struct ht *h = NULL;
    struct utr_evbuf b = {0};
    struct tout o = {0};
    struct th_sync *sy = NULL;
    struct th_hostw *hv = NULL;
    struct th_clock c = {0};
    bool begun = false;
    char err[512];
    int rc = 1;

    if (instance_read(run_dir, &in, err, sizeof(err))) {
        ukctl_err("Failed to read %s/instance.json: %s", run_dir,
                  errno == EINVAL ? err : strerror(errno));
        return 1;
    }
    if (!instance_is_ours(&in, err, sizeof(err))) {
        ukctl_err("Failed to find the instance's QEMU: %s", err);
        return 1;
    }
    if (ht_open(&h, in.pid, err, sizeof(err))) {
        ukctl_err("%s", err);
        return 1;
    }
    int64_t t0, m0, t1, m1;
    clock_pair(&t0, &m0);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        /* Sleep, then read what is there: waiting in ht_poll instead would
         * wake ukctl at almost every record, each wake-up preempts a QEMU
         * thread, and that switch is recorded and wakes ukctl again (99% of
         * the recorded switches were this loop's own; docs/host-view.md). */
        nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
        if (ht_poll(h, 0)) {
            ukctl_err("Failed to read the host trace ring buffer: %s", strerror(errno));
            goto cleanup;
        }
        if (utr_drain(t, false, utr_evbuf_add, &b) < 0) {
            ukctl_err("Failed to drain the trace rings: %s", t->err);
            goto cleanup;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        if (el >= duration_s || (stop && *stop))
            break;
    }
    clock_pair(&t1, &m1);
    if (ht_poll(h, 0) || utr_drain(t, false, utr_evbuf_add, &b) < 0) {
        ukctl_err("Failed to drain the last events");
        goto cleanup;
    }
    if (t1 <= t0 || m1 <= m0) {
        ukctl_err("Failed to measure the host TSC rate (TSC went backwards)");
        goto cleanup;
    }
    c.ns_per_tick = (long double)(m1 - m0) / (long double)(t1 - t0);
    c.t0 = t0;
    c.m0 = m0;

    size_t nh;
    const struct ht_event *hev = ht_events(h, &nh);
    struct ht_event *ev = malloc((nh + 1) * sizeof(*ev));
    sy = calloc(b.n + 1, sizeof(*sy));
    hv = malloc((nh + 1) * sizeof(*hv));
    if (!ev || !sy || !hv) {
        free(ev);
        ukctl_err("Failed to allocate the event buffers");
        goto cleanup;
    }
    memcpy(ev, hev, nh * sizeof(*ev));
    qsort(ev, nh, sizeof(*ev), cmp_ht);
    /* Each sync write's entry, and the return of that thread's next
     * write-family syscall (the same call). */
    size_t nw = 0;
    for (size_t i = 0; i < nh; i++) {
        if (ev[i].type != HT_WRITE || ev[i].arg2 != TH_SYNC_BYTE)
            continue;
        uint64_t ret = ev[i].ts_ns;
        for (size_t j = i + 1; j < nh; j++)
            if (ev[j].tid == ev[i].tid && (ev[j].type == HT_WRITE_RET || ev[j].type == HT_WRITE)) {
                if (ev[j].type == HT_WRITE_RET)
                    ret = ev[j].ts_ns;
                break;
            }
        hv[nw].enter = host_tsc(&c, ev[i].ts_ns);
        hv[nw++].ret = host_tsc(&c, ret);
    }
    size_t ng = guest_syncs(&b, sy, b.n);
    if (th_fit(&c, sy, ng, hv, nw)) {
        ukctl_err("Failed to map the guest clock to the host's: %zu guest sync points, %zu host "
                  "sync writes, no consistent pairing (start the guest with trace_sync_ms=N and "
                  "record for longer than N ms)", ng, nw);
        free(ev);
        goto cleanup;
    }
    for (size_t i = 0; i < b.n; i++)
        b.ev[i].ns = th_map(&c, b.ev[i].tsc);

    if (tout_begin(&o, TOUT_PERFETTO, out, t)) {
        ukctl_err("Failed to start %s: %s", out, o.err);
        free(ev);
        goto cleanup;
    }
    begun = true;
    o.stop = stop;
    unsigned missed = 0;
    if (tout_pass(&o, b.ev, b.n) || th_host_tracks(&o, in.pid, ev, nh, &missed)) {
        ukctl_err("Failed to write %s: %s", out, o.err);
        free(ev);
        goto cleanup;
    }
    free(ev);
    begun = false;
    if (tout_finish(&o)) {
        ukctl_err("Failed to write %s: %s", out, o.err);
        goto cleanup;
    }
    printf("trace: %zu guest events, %zu host events (lost %llu, missed switches %u, "
           "skipped program runs %llu) -> %s\n",
           b.n, nh, (unsigned long long)ht_lost(h), missed,
           (unsigned long long)ht_prog_misses(h), out);
    printf("clock: sync_points=%u guest_sync=%zu host_sync=%zu bound_ns=%.0f "
           "bracket_median_ns=%.0f k=%lld ns_per_tick=%.9Lf\n",
           c.points, ng, nw, c.bound_ns, c.bracket_ns, (long long)c.k, c.ns_per_tick);
    rc = 0;
cleanup:
    if (begun)
        tout_abort(&o);
    free(sy);
    free(hv);
    free(b.ev);
    ht_close(h);
    return rc;
}
