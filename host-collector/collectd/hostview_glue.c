/*
 * ukcollectd <-> hostview (host-collector/bpf/): load the BPF programs at
 * start, keep the `procs` filter in step with the QEMU pids of the
 * instances (inst.c calls hvglue_tick/hvglue_forget), and export the
 * counters in /metrics (prom.c calls prom_hostview).  Without the
 * privilege BPF needs, the collector runs anyway: one log line naming
 * what is missing, and ukscope_collector_bpf_up 0.  docs/host-view.md.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/hvuser.h"
#include "cd.h"
#include "log.h"

static struct hv *hv;
static pid_t tracked[CD_MAX_INSTANCES];

struct hv *hvglue_hv(void)
{
    return hv;
}

void hvglue_init(bool record)
{
    char err[256];

    if (hv_open(&hv, record ? HV_RECORD : 0, err, sizeof(err)) < 0) {
        cd_log(CD_WARN, "host view (BPF) off: %s; ukscope_collector_bpf_up 0", err);
        hv = NULL;
        return;
    }
    cd_log(CD_INFO, "host view (BPF) on%s", hv_has_kvm(hv) ? ", with kvm exits" :
                                                             ", no kvm trace events on this host");
}

void hvglue_close(void)
{
    hv_close(hv);
    hv = NULL;
}

void hvglue_forget(struct inst *in)
{
    size_t i = (size_t)(in - cd.inst);

    if (hv && tracked[i] && hv_untrack(hv, tracked[i]) < 0)
        cd_log(CD_WARN, "%s: Failed to untrack pid %d in the BPF maps", in->name, (int)tracked[i]);
    tracked[i] = 0;
}

void hvglue_tick(struct inst *in, bool alive)
{
    size_t i = (size_t)(in - cd.inst);
    pid_t want = alive && in->has_sum ? in->sum.pid : 0;

    if (!hv || tracked[i] == want)
        return;
    hvglue_forget(in);
    if (want && hv_track(hv, want, (unsigned)i) < 0) {
        cd_log(CD_WARN, "%s: Failed to track pid %d in the BPF maps (full?)", in->name, (int)want);
        return;
    }
    tracked[i] = want;
}

static void label_vcpu(char *buf, size_t len, int vcpu)
{
    if (vcpu == HV_ALL_VCPUS)
        snprintf(buf, len, "all");
    else
        snprintf(buf, len, "%d", vcpu);
}

/* One instance's vCPU series; the main/IO side is summed into io. */
static void put_threads(FILE *f[], const struct inst *in, const struct hv_snap *s, size_t first,
                        size_t n, bool kvm, double io[2])
{
    for (size_t k = first; k < first + n; k++) {
        const struct hv_thread_view *v = &s->th[k];
        const struct hv_thread *t = &v->t;
        char lab[320], vc[16];
        if (v->vcpu == HV_NOT_VCPU) {
            io[0] += (t->oncpu_ns + v->oncpu_open_ns) / 1e9;
            io[1] += t->rq_ns / 1e9;
            continue;
        }
        label_vcpu(vc, sizeof(vc), v->vcpu);
        snprintf(lab, sizeof(lab), "instance=\"%s\",vcpu=\"%s\"", in->name, vc);
        fprintf(f[0], "ukscope_host_vcpu_cpu_seconds_total{%s} %.9f\n", lab,
                (t->oncpu_ns + v->oncpu_open_ns) / 1e9);
        fprintf(f[1], "ukscope_host_vcpu_runqueue_wait_seconds_total{%s} %.9f\n", lab,
                t->rq_ns / 1e9);
        uint64_t cum = 0;
        for (unsigned b = 0; b < HV_HIST_BUCKETS; b++) {
            cum += t->rq_hist[b];
            if (b + 1 < HV_HIST_BUCKETS)
                fprintf(f[2], "ukscope_host_vcpu_runqueue_wait_seconds_bucket{%s,le=\"%g\"} %llu\n",
                        lab, hv_bucket_le(b), (unsigned long long)cum);
        }
        fprintf(f[2], "ukscope_host_vcpu_runqueue_wait_seconds_bucket{%s,le=\"+Inf\"} %llu\n"
                      "ukscope_host_vcpu_runqueue_wait_seconds_sum{%s} %.9f\n"
                      "ukscope_host_vcpu_runqueue_wait_seconds_count{%s} %llu\n",
                lab, (unsigned long long)cum, lab, t->rq_ns / 1e9, lab, (unsigned long long)cum);
        fprintf(f[3], "ukscope_host_vcpu_involuntary_switches_total{%s} %llu\n", lab,
                (unsigned long long)t->invol);
        fprintf(f[4], "ukscope_host_vcpu_migrations_total{%s} %llu\n", lab,
                (unsigned long long)t->migrations);
        if (kvm)
            fprintf(f[9], "ukscope_host_kvm_halts_total{%s,outcome=\"poll\"} %llu\n"
                          "ukscope_host_kvm_halts_total{%s,outcome=\"wait\"} %llu\n",
                    lab, (unsigned long long)t->halt_polled, lab,
                    (unsigned long long)t->halt_waited);
        if (kvm)
            fprintf(f[10], "ukscope_host_kvm_halt_seconds_total{%s,outcome=\"poll\"} %.9f\n"
                           "ukscope_host_kvm_halt_seconds_total{%s,outcome=\"wait\"} %.9f\n",
                    lab, t->halt_poll_ns / 1e9, lab, t->halt_wait_ns / 1e9);
        if (kvm)
            fprintf(f[5], "ukscope_host_kvm_exit_to_entry_seconds_sum{%s} %.9f\n"
                          "ukscope_host_kvm_exit_to_entry_seconds_count{%s} %llu\n",
                    lab, t->exit_ns / 1e9, lab, (unsigned long long)t->exits);
        for (size_t e = 0; kvm && e < s->nex; e++) {
            const struct hv_exit_view *x = &s->ex[e];
            const char *nm;
            char rs[16];
            if (x->tid != v->tid)
                continue;
            if (!(nm = hv_exit_name(x->isa, x->reason))) {
                snprintf(rs, sizeof(rs), "0x%x", x->reason);
                nm = rs;
            }
            if (x->isa == HV_ISA_EMUL)
                fprintf(f[8], "ukscope_host_kvm_emulated_instructions_total{%s,result=\"%s\"} %llu\n",
                        lab, nm, (unsigned long long)x->count);
            else
                fprintf(f[x->isa == HV_ISA_USER ? 7 : 6], "%s{%s,reason=\"%s\"} %llu\n",
                        x->isa == HV_ISA_USER ? "ukscope_host_kvm_userspace_exits_total"
                                              : "ukscope_host_kvm_exits_total",
                        lab, nm, (unsigned long long)x->count);
        }
    }
}

void prom_hostview(FILE *o)
{
    static const char *const head[] = {
        "ukscope_host_vcpu_cpu_seconds_total counter Time the vCPU thread ran on a host CPU.",
        "ukscope_host_vcpu_runqueue_wait_seconds_total counter Time the vCPU thread was runnable but "
        "not running (the guest's steal); a wait counts when it ends, as in schedstat.",
        "ukscope_host_vcpu_runqueue_wait_seconds histogram Run-queue waits of the vCPU thread "
        "(completed waits, log2 buckets of microseconds).",
        "ukscope_host_vcpu_involuntary_switches_total counter Times the vCPU thread was preempted.",
        "ukscope_host_vcpu_migrations_total counter Times the vCPU thread moved to another host CPU.",
        "ukscope_host_kvm_exit_to_entry_seconds summary Time from kvm_exit to the next kvm_entry "
        "(KVM guests only).",
        "ukscope_host_kvm_exits_total counter kvm_exit events by reason (KVM guests only; absent "
        "under TCG).",
        "ukscope_host_kvm_userspace_exits_total counter Returns of KVM_RUN to QEMU by KVM_EXIT_ "
        "reason (KVM guests only).",
        "ukscope_host_kvm_emulated_instructions_total counter Instructions KVM emulated for the "
        "vCPU (kvm_emulate_insn; under kvm_pvm these stand for the exits).",
        "ukscope_host_kvm_halts_total counter Halts of the vCPU by how they ended: poll (woken "
        "while KVM halt-polled) or wait (the thread blocked).",
        "ukscope_host_kvm_halt_seconds_total counter Time in those halts, by outcome.",
    };
    enum { NF = sizeof(head) / sizeof(head[0]) };
    char *buf[NF] = {0};
    size_t len[NF] = {0};
    FILE *f[NF];
    struct hv_snap s;
    bool ok = hv && hv_snapshot(hv, &s) == 0;

    fprintf(o, "# HELP ukscope_collector_bpf_up 1 when the host-view BPF programs are attached.\n"
               "# TYPE ukscope_collector_bpf_up gauge\nukscope_collector_bpf_up %d\n", ok);
    if (!ok) {
        if (hv)
            hv_snap_free(&s);
        return;
    }
    fprintf(o, "# TYPE ukscope_collector_bpf_events_total counter\n"
               "ukscope_collector_bpf_events_total %llu\n"
               "# HELP ukscope_collector_bpf_map_full_total Entries not created: a BPF map was full.\n"
               "# TYPE ukscope_collector_bpf_map_full_total counter\n"
               "ukscope_collector_bpf_map_full_total %llu\n",
            (unsigned long long)s.stat[HV_STAT_EVENTS], (unsigned long long)s.stat[HV_STAT_FULL]);
    for (int i = 0; i < NF; i++)
        f[i] = open_memstream(&buf[i], &len[i]);
    FILE *io = NULL;
    char *iobuf = NULL;
    size_t iolen = 0;
    io = open_memstream(&iobuf, &iolen);
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
        struct inst *in = &cd.inst[i];
        struct hv_proc pr = {0};
        size_t first, n;
        double sums[2] = {0, 0};
        if (!in->used || !tracked[i])
            continue;
        n = hv_snap_threads(&s, tracked[i], &first);
        bool kvm = hv_has_kvm(hv) && !strcmp(in->meta.accel, "kvm");
        put_threads(f, in, &s, first, n, kvm, sums);
        if (hv_proc_get(hv, tracked[i], &pr) == 0) {
            sums[0] += pr.gone_oncpu_ns / 1e9; /* exited worker threads */
            sums[1] += pr.gone_rq_ns / 1e9;
        }
        if (io)
            fprintf(io, "ukscope_host_qemu_io_cpu_seconds_total{instance=\"%s\"} %.9f\n"
                        "ukscope_host_qemu_io_runqueue_wait_seconds_total{instance=\"%s\"} %.9f\n"
                        "ukscope_host_kvm_exits_available{instance=\"%s\"} %d\n",
                    in->name, sums[0], in->name, sums[1], in->name, kvm);
    }
    for (int i = 0; i < NF; i++) {
        if (!f[i])
            continue;
        fclose(f[i]);
        const char *sp1 = strchr(head[i], ' '), *sp2 = strchr(sp1 + 1, ' ');
        fprintf(o, "# HELP %.*s %s\n# TYPE %.*s %.*s\n", (int)(sp1 - head[i]), head[i], sp2 + 1,
                (int)(sp1 - head[i]), head[i], (int)(sp2 - sp1 - 1), sp1 + 1);
        if (buf[i])
            fwrite(buf[i], 1, len[i], o);
        free(buf[i]);
    }
    if (io) {
        fclose(io);
        /* three families interleaved per instance: regroup them */
        static const char *const fam[] = {"ukscope_host_qemu_io_cpu_seconds_total",
                                          "ukscope_host_qemu_io_runqueue_wait_seconds_total",
                                          "ukscope_host_kvm_exits_available"};
        static const char *const help[] = {
            "counter CPU time of QEMU's main/IO side (every non-vCPU thread, exited ones included).",
            "counter Run-queue wait of QEMU's main/IO side.",
            "gauge 1 when kvm exits are measured for the instance (KVM guest, kvm events present)."};
        for (int k = 0; k < 3; k++) {
            const char *sp = strchr(help[k], ' ');
            fprintf(o, "# HELP %s %s\n# TYPE %s %.*s\n", fam[k], sp + 1, fam[k],
                    (int)(sp - help[k]), help[k]);
            for (char *p = iobuf; p && *p;) {
                char *nl = strchr(p, '\n');
                size_t l = nl ? (size_t)(nl - p + 1) : strlen(p);
                if (!strncmp(p, fam[k], strlen(fam[k])) && p[strlen(fam[k])] == '{')
                    fwrite(p, 1, l, o);
                p += l;
            }
        }
        free(iobuf);
    }
    hv_snap_free(&s);
}
