/*
 * Host records -> the host sync writes, and -> Perfetto host tracks (see
 * trace_host_tracks.h): one track per QEMU thread with `on CPU N` and
 * `runqueue wait` slices and syscall/KVM instants.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_host_tracks.h"
#include "trace_out.h"

#define MAX_TRACKS  256
#define MAX_HOSTCPU 1024

static int cmp_ts(const void *a, const void *b)
{
    const struct ht_event *x = a, *y = b;
    return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

void th_sort(struct ht_event *ev, size_t n)
{
    qsort(ev, n, sizeof(*ev), cmp_ts);
}

size_t th_host_syncs(const struct ht_event *ev, size_t n, const struct th_clock *c,
                     struct th_hostw *out)
{
    size_t nw = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].type != HT_WRITE || ev[i].arg2 != TH_SYNC_BYTE)
            continue;
        uint64_t ret = ev[i].ts_ns;
        for (size_t j = i + 1; j < n; j++)
            if (ev[j].tid == ev[i].tid && (ev[j].type == HT_WRITE_RET || ev[j].type == HT_WRITE)) {
                if (ev[j].type == HT_WRITE_RET)
                    ret = ev[j].ts_ns;
                break;
            }
        out[nw].enter = th_host_tsc(c, ev[i].ts_ns);
        out[nw++].ret = th_host_tsc(c, ret);
    }
    return nw;
}

struct hthread {
    uint32_t tid;
    bool seen, on, waiting;
    char name[48];
};

static const char *cpu_name(uint32_t cpu)
{
    static char names[MAX_HOSTCPU][16];
    if (cpu >= MAX_HOSTCPU)
        return "on CPU ?";
    if (!names[cpu][0])
        snprintf(names[cpu], sizeof(names[cpu]), "on CPU %u", cpu);
    return names[cpu];
}

static int track_of(struct tout *o, struct hthread *th, unsigned *nth, pid_t pid, uint32_t tid)
{
    for (unsigned i = 0; i < *nth; i++)
        if (th[i].tid == tid)
            return (int)i;
    if (*nth == MAX_TRACKS)
        return -1;
    struct hthread *h = &th[*nth];
    char path[96], comm[32] = "";
    snprintf(path, sizeof(path), "/proc/%d/task/%u/comm", (int)pid, tid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
    }
    for (char *c = comm; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            *c = '?';
    *h = (struct hthread){.tid = tid};
    snprintf(h->name, sizeof(h->name), "%s %u", comm[0] ? comm : "thread", tid);
    if (tout_pf_host_track(o, *nth, h->name))
        return -2;
    return (int)(*nth)++;
}

static int put(struct tout *o, uint64_t ns, unsigned tr, enum tout_host_kind k, const char *name,
               const char *an, int64_t arg)
{
    struct tout_host_ev e = {ns, tr, k, name, an, arg};
    return tout_pf_host_event(o, &e);
}

/* A thread's state is unknown until its first switch record, and the
 * kernel also reports sched_wakeup for a thread still on its CPU (woken
 * after setting its sleep state, before it switched out).  So a wakeup
 * before the first switch record means "was off CPU" only if the thread's
 * next record of its own (not a wakeup) is a switch-in; a switch-out,
 * syscall or KVM exit there means it was running.  No such record: off. */
static bool woken_off_cpu(const struct ht_event *ev, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n; j++)
        if (ev[j].tid == ev[i].tid && ev[j].type != HT_WAKEUP)
            return ev[j].type == HT_ON_CPU;
    return true;
}

/* Host records -> slices and instants, per thread.  A switch-out of a
 * thread that is not on a CPU (or a switch-in of one that is) means the
 * record misses the switch in between: marked with an instant ("missed
 * switch-in/out") and counted in *missed, so no reader takes that stretch
 * for a clean off-CPU interval.  Seen a few times per 10 000 switches on
 * the test VM: the kernel emits no sched_switch when the CPU leaves one of
 * that VM's own agent threads (docs/host-view.md, "Missed switches"). */
int th_host_tracks(struct tout *o, pid_t pid, struct ht_event *ev, size_t n, unsigned *missed)
{
    static struct hthread th[MAX_TRACKS];
    unsigned nth = 0;
    uint64_t last = 0;
    char pname[64];

    snprintf(pname, sizeof(pname), "host: qemu %d", (int)pid);
    if (tout_pf_host_begin(o, (unsigned)pid, pname))
        return -1;
    th_sort(ev, n);
    for (size_t i = 0; i < n; i++) {
        const struct ht_event *e = &ev[i];
        int t = track_of(o, th, &nth, pid, e->tid);
        if (t == -2)
            return -1;
        if (t < 0)
            continue;
        struct hthread *h = &th[t];
        bool woke_running = false;
        int rc = 0;
        last = e->ts_ns;
        switch (e->type) {
        case HT_ON_CPU:
            if (h->on) {
                rc |= put(o, e->ts_ns, t, TOUT_HOST_INSTANT, "missed switch-out", NULL, 0);
                (*missed)++;
            }
            if (h->waiting)
                rc |= put(o, e->ts_ns, t, TOUT_HOST_END, NULL, NULL, 0);
            if (h->on)
                rc |= put(o, e->ts_ns, t, TOUT_HOST_END, NULL, NULL, 0);
            rc |= put(o, e->ts_ns, t, TOUT_HOST_BEGIN, cpu_name(e->cpu), "cpu", e->cpu);
            h->on = true;
            h->waiting = false;
            break;
        case HT_OFF_CPU:
            if (!h->on && h->seen) {
                rc |= put(o, e->ts_ns, t, TOUT_HOST_INSTANT, "missed switch-in", NULL, 0);
                (*missed)++;
                if (h->waiting) /* that wait ended at the missed switch-in */
                    rc |= put(o, e->ts_ns, t, TOUT_HOST_END, NULL, NULL, 0);
                h->waiting = false;
            }
            if (h->on)
                rc |= put(o, e->ts_ns, t, TOUT_HOST_END, NULL, NULL, 0);
            h->on = false;
            if (e->arg && !h->waiting) {
                rc |= put(o, e->ts_ns, t, TOUT_HOST_BEGIN, "runqueue wait", NULL, 0);
                h->waiting = true;
            }
            break;
        case HT_WAKEUP:
            if (!h->seen && !woken_off_cpu(ev, n, i)) {
                woke_running = true; /* state still unknown: no wait, no miss */
                break;
            }
            if (!h->on && !h->waiting) {
                rc |= put(o, e->ts_ns, t, TOUT_HOST_BEGIN, "runqueue wait", "target_cpu",
                          e->cpu);
                h->waiting = true;
            }
            break;
        case HT_WRITE:
            if (!h->on && h->seen) { /* it runs: its switch-in was missed */
                rc |= put(o, e->ts_ns, t, TOUT_HOST_INSTANT, "missed switch-in", NULL, 0);
                (*missed)++;
                if (h->waiting)
                    rc |= put(o, e->ts_ns, t, TOUT_HOST_END, NULL, NULL, 0);
                rc |= put(o, e->ts_ns, t, TOUT_HOST_BEGIN, cpu_name(e->cpu), "cpu", e->cpu);
                h->on = true;
                h->waiting = false;
            }
            rc |= put(o, e->ts_ns, t, TOUT_HOST_INSTANT,
                      e->arg2 == TH_SYNC_BYTE ? "host_sync write" : "write", "fd", e->arg);
            break;
        case HT_KVM_EXIT:
            rc |= put(o, e->ts_ns, t, TOUT_HOST_INSTANT, "kvm_exit", "reason", e->arg);
            break;
        case HT_KVM_UEXIT:
            rc |= put(o, e->ts_ns, t, TOUT_HOST_INSTANT, "kvm_userspace_exit", "reason", e->arg);
            break;
        default:
            break;
        }
        h->seen |= e->type == HT_ON_CPU || e->type == HT_OFF_CPU ||
                   (e->type == HT_WAKEUP && !woke_running);
        if (rc)
            return -1;
    }
    for (unsigned i = 0; i < nth; i++) {
        if (th[i].on && put(o, last, i, TOUT_HOST_END, NULL, NULL, 0))
            return -1;
        if (th[i].waiting && put(o, last, i, TOUT_HOST_END, NULL, NULL, 0))
            return -1;
    }
    return 0;
}

