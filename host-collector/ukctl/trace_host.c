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
#include "host_tsc.h"
#include "instance.h"
#include "trace_host.h"
#include "trace_out.h"
#include "util.h"

#define POLL_MS 100

int trace_with_host(const char *run_dir, struct utr *t, double duration_s, const char *out,
                    volatile sig_atomic_t *stop)
{
    struct instance_summary in;
    struct ht *h = NULL;
    struct utr_evbuf b = {0};
    struct tout o = {0};
    struct th_pairs sy = {0};
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
    if (ht_open(&h, 0, 0, NULL, NULL, err, sizeof(err))) {
        ukctl_err("%s", err);
        return 1;
    }
    if (ht_track(h, in.pid)) {
        ukctl_err("Failed to track QEMU pid %d in the BPF filter: %s", (int)in.pid,
                  strerror(errno));
        ht_close(h);
        return 1;
    }
    int64_t t0, m0, t1, m1;
    host_tsc_pair(&t0, &m0);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (ht_poll(h, POLL_MS)) {
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
    host_tsc_pair(&t1, &m1);
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
    hv = malloc((nh + 1) * sizeof(*hv));
    if (!ev || !hv) {
        free(ev);
        ukctl_err("Failed to allocate the event buffers");
        goto cleanup;
    }
    memcpy(ev, hev, nh * sizeof(*ev));
    th_sort(ev, nh);
    size_t nw = th_host_syncs(ev, nh, &c, hv);
    for (size_t i = 0; i < b.n; i++) {
        const struct utr_event *e = &b.ev[i];
        if (e->id == UK_TP_HOST_SYNC && th_pairs_feed(&sy, e->ring, e->arg[0], e->arg[1], e->tsc)) {
            free(ev);
            ukctl_err("Failed to allocate the sync points");
            goto cleanup;
        }
    }
    size_t ng = sy.n;
    if (th_fit(&c, sy.pt, ng, hv, nw)) {
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
    th_pairs_free(&sy);
    free(hv);
    free(b.ev);
    ht_close(h);
    return rc;
}
