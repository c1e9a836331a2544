// SPDX-License-Identifier: GPL-2.0
/*
 * hostview: what the host scheduler and KVM do to the QEMU processes of a
 * ukscope fleet (docs/host-view.md).  Counters and log2 histograms stay in
 * maps that userspace reads (hostview.c); nothing is emitted per event,
 * except a tracked thread's switches when loaded with `hv_record` (the
 * collector's host recorder, htrec.bpf.h).
 *
 * Filter: only processes whose tgid userspace put into `procs` and marked
 * in the `filter` bitmap (tgidfilter.bpf.h).  The bitmap test comes first, so an untracked
 * task costs an inlined array load per event, no hash lookup.
 *
 * Built CO-RE against the build host's vmlinux.h: task_struct fields are
 * relocated at load time, the old `state` name is read where `__state`
 * does not exist (kernels before 5.14).  Needs CONFIG_SCHED_INFO (the
 * kernel's run-queue accounting, /proc/PID/schedstat): run-queue waits are
 * read from it, not re-timed from wakeups.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "hostview.h"
#include "htrec.bpf.h"
#include "tgidfilter.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set before load by the collector's host recorder (hv_open HV_RECORD):
 * also emit each tracked thread's switch into ht_events (htrec.bpf.h). */
const volatile bool hv_record;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, HV_MAX_INSTANCES);
    __type(key, __u32);
    __type(value, struct hv_proc);
} procs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, HV_MAX_THREADS);
    __type(key, __u32);
    __type(value, struct hv_thread);
} threads SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, HV_MAX_EXIT_KEYS);
    __type(key, struct hv_exit_key);
    __type(value, __u64);
} exits SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, HV_STAT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

/* A zeroed thread entry to insert (too large for the 512-byte stack). */
static const struct hv_thread zero_thread;

struct task_struct___pre514 {
    long state;
} __attribute__((preserve_access_index));

static __always_inline void stat_inc(enum hv_stat s)
{
    __u32 k = s;
    __u64 *v = bpf_map_lookup_elem(&stats, &k);
    if (v)
        (*v)++; /* per-CPU: no atomics needed */
}

static __always_inline long task_state(struct task_struct *p)
{
    if (bpf_core_field_exists(p->__state))
        return BPF_CORE_READ(p, __state);
    return BPF_CORE_READ((struct task_struct___pre514 *)p, state);
}

enum { PF_EXITING_ = 0x4 }; /* include/linux/sched.h: a stable ABI value */

/* The entry of a thread of a tracked process, created on first sight, but
 * not for a thread that is exiting: its last switch-out comes after
 * sched_process_exit freed its entry, and must not make a new one. */
static __always_inline struct hv_thread *thread_get(__u32 tgid, __u32 tid, unsigned int flags)
{
    struct hv_thread *t;

    if (!tracked(tgid) || !bpf_map_lookup_elem(&procs, &tgid))
        return NULL;
    t = bpf_map_lookup_elem(&threads, &tid);
    if (t || (flags & PF_EXITING_))
        return t;
    if (bpf_map_update_elem(&threads, &tid, &zero_thread, BPF_NOEXIST) < 0) {
        stat_inc(HV_STAT_FULL); /* or a racing insert; rare either way */
        return NULL;
    }
    t = bpf_map_lookup_elem(&threads, &tid);
    if (t)
        t->tgid = tgid;
    return t;
}

/* tp_btf arguments are trusted BTF pointers: plain loads (relocated by
 * CO-RE through vmlinux.h's preserve_access_index), no probe-read calls. */
static __always_inline struct hv_thread *thread_of(struct task_struct *p)
{
    return thread_get(p->tgid, p->pid, p->flags);
}

/* log2 bucket of a wait in ns, in microseconds: 0 for < 1 us, then
 * b = floor(log2(us)) + 1, the last bucket open-ended. */
static __always_inline __u32 hist_bucket(__u64 ns)
{
    __u64 us = ns / 1000;
    __u32 b = 0;

    if (!us)
        return 0;
    /* branch-free floor(log2) by halving steps (bounded, verifier-friendly) */
    if (us >> 32) { b += 32; us >>= 32; }
    if (us >> 16) { b += 16; us >>= 16; }
    if (us >> 8) { b += 8; us >>= 8; }
    if (us >> 4) { b += 4; us >>= 4; }
    if (us >> 2) { b += 2; us >>= 2; }
    if (us >> 1) { b += 1; }
    b += 1;
    return b < HV_HIST_BUCKETS ? b : HV_HIST_BUCKETS - 1;
}

/* The clock of the run queue next is on: what the scheduler's own
 * run-queue accounting (schedstat run_delay) uses.  Reached through the
 * task's CFS run queue (CONFIG_FAIR_GROUP_SCHED, as Debian builds it): the
 * per-CPU `runqueues` symbol is not resolvable without KALLSYMS_ALL. */
static __always_inline __u64 rq_clock_of(struct task_struct *p)
{
    struct cfs_rq *cfs = p->se.cfs_rq;

    if (!bpf_core_field_exists(cfs->rq) || !cfs)
        return 0;
    return BPF_CORE_READ(cfs, rq, clock);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(hv_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    struct hv_thread *t = thread_of(prev);
    __u64 now = 0; /* the clock is read only for a tracked thread */

    if (t) {
        now = bpf_ktime_get_ns();
        stat_inc(HV_STAT_EVENTS);
        /* The scheduler's own run time (updated by put_prev_task before
         * this tracepoint): excludes IRQ and, in a VM, the hypervisor's
         * steal, as schedstat does; a timer between switches would not. */
        if (t->based)
            t->oncpu_ns = prev->se.sum_exec_runtime - t->exec_base;
        else if (t->on_since)
            t->oncpu_ns += now - t->on_since;
        t->on_since = 0;
        t->switches++;
        /* Preempted, or switched out still TASK_RUNNING: it stays on the
         * run queue (the kernel's nivcsw case). */
        if (preempt || task_state(prev) == 0)
            t->invol++;
        if (hv_record)
            ht_put(prev->tgid, prev->pid, bpf_get_smp_processor_id(), HT_OFF_CPU,
                   preempt || task_state(prev) == 0, 0);
    }
    t = thread_of(next);
    if (t) {
        if (hv_record)
            ht_put(next->tgid, next->pid, bpf_get_smp_processor_id(), HT_ON_CPU, 0, 0);
        __u64 queued = 0, clock = 0;

        if (bpf_core_field_exists(next->sched_info)) { /* CONFIG_SCHED_INFO */
            queued = next->sched_info.last_queued;
            clock = rq_clock_of(next);
        }

        if (!now)
            now = bpf_ktime_get_ns();
        t->on_since = now;
        if (!t->based) {
            t->exec_base = next->se.sum_exec_runtime;
            t->based = 1;
        }
        t->cpu = bpf_get_smp_processor_id();
        /* The wait that ends now, exactly as the kernel is about to add it
         * to run_delay (sched_info_arrive, right after this tracepoint):
         * rq clock (updated by __schedule before picking next) minus the
         * time next was queued.  So the totals equal schedstat's field 2,
         * and no wakeup tracepoint is needed. */
        if (queued && clock > queued) {
            __u64 d = clock - queued;
            t->rq_ns += d;
            __u32 b = hist_bucket(d);
            if (b < HV_HIST_BUCKETS)
                t->rq_hist[b]++;
        }
    }
    return 0;
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(hv_migrate, struct task_struct *p, int dest_cpu)
{
    struct hv_thread *t = thread_of(p);

    if (t)
        t->migrations++;
    return 0;
}

/* A thread of a tracked process exits: fold its counters into the
 * process's gone_* sums and free its entry (QEMU's thread pool churns). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(hv_exit_task, struct task_struct *p)
{
    __u32 tgid = p->tgid, tid = p->pid;
    struct hv_proc *pr;
    struct hv_thread *t;

    if (!tracked(tgid) || !(pr = bpf_map_lookup_elem(&procs, &tgid)) || !(t = bpf_map_lookup_elem(&threads, &tid)))
        return 0;
    __sync_fetch_and_add(&pr->gone_oncpu_ns, t->oncpu_ns);
    __sync_fetch_and_add(&pr->gone_rq_ns, t->rq_ns);
    __sync_fetch_and_add(&pr->gone_switches, t->switches);
    __sync_fetch_and_add(&pr->gone_invol, t->invol);
    __sync_fetch_and_add(&pr->gone_migrations, t->migrations);
    bpf_map_delete_elem(&threads, &tid);
    return 0;
}

/* KVM: classic tracepoints (their record layout carries the exit reason;
 * the raw tracepoint only has the vcpu pointer).  Not loaded when the
 * host has no kvm events (hostview.c turns autoload off). */
static __always_inline void count_exit(struct hv_exit_key *k)
{
    __u64 one = 1, *n = bpf_map_lookup_elem(&exits, k);

    if (n)
        __sync_fetch_and_add(n, 1);
    else if (bpf_map_update_elem(&exits, k, &one, BPF_NOEXIST) < 0)
        stat_inc(HV_STAT_FULL);
}

SEC("tracepoint/kvm/kvm_exit")
int hv_kvm_exit(struct trace_event_raw_kvm_exit *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    struct hv_thread *t = thread_get(id >> 32, (__u32)id, 0); /* in KVM_RUN: not exiting */
    struct hv_exit_key k = {.tid = (__u32)id, .tgid = id >> 32, .isa = HV_ISA_VMX};

    if (!t)
        return 0;
    if (bpf_core_field_exists(ctx->exit_reason))
        k.reason = BPF_CORE_READ(ctx, exit_reason);
    if (bpf_core_field_exists(ctx->isa))
        k.isa = BPF_CORE_READ(ctx, isa);
    t->exits++;
    t->exit_since = bpf_ktime_get_ns();
    count_exit(&k);
    return 0;
}

/* KVM_RUN returning to QEMU (I/O, MMIO, HLT... handled in userspace). */
SEC("tracepoint/kvm/kvm_userspace_exit")
int hv_kvm_uexit(struct trace_event_raw_kvm_userspace_exit *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    struct hv_exit_key k = {.tid = (__u32)id, .tgid = id >> 32, .isa = HV_ISA_USER};

    if (!thread_get(id >> 32, (__u32)id, 0))
        return 0;
    if (bpf_core_field_exists(ctx->reason))
        k.reason = BPF_CORE_READ(ctx, reason);
    count_exit(&k);
    return 0;
}

/* An instruction KVM emulated.  Under kvm_pvm (this project's CI host) a
 * guest that is not PVM-aware has its privileged instructions emulated
 * one by one and kvm_exit does not fire: this is where its exits show. */
SEC("tracepoint/kvm/kvm_emulate_insn")
int hv_kvm_emul(struct trace_event_raw_kvm_emulate_insn *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    struct hv_exit_key k = {.tid = (__u32)id, .tgid = id >> 32, .isa = HV_ISA_EMUL};

    if (!thread_get(id >> 32, (__u32)id, 0))
        return 0;
    if (bpf_core_field_exists(ctx->failed))
        k.reason = BPF_CORE_READ(ctx, failed) ? 1 : 0;
    count_exit(&k);
    return 0;
}

/* A halted vCPU woke up: halt-polling outcome and duration (what kvm_stat
 * shows as halt_successful_poll / halt_wait_ns). */
SEC("tracepoint/kvm/kvm_vcpu_wakeup")
int hv_kvm_wakeup(struct trace_event_raw_kvm_vcpu_wakeup *ctx)
{
    __u64 id = bpf_get_current_pid_tgid(), ns = 0;
    struct hv_thread *t = thread_get(id >> 32, (__u32)id, 0);
    bool waited = true;

    if (!t)
        return 0;
    if (bpf_core_field_exists(ctx->ns))
        ns = BPF_CORE_READ(ctx, ns);
    if (bpf_core_field_exists(ctx->waited))
        waited = BPF_CORE_READ(ctx, waited);
    if (waited) {
        t->halt_waited++;
        t->halt_wait_ns += ns;
    } else {
        t->halt_polled++;
        t->halt_poll_ns += ns;
    }
    return 0;
}

SEC("tracepoint/kvm/kvm_entry")
int hv_kvm_entry(void *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tgid = id >> 32, tid = (__u32)id;
    struct hv_thread *t;

    if (!tracked(tgid) || !(t = bpf_map_lookup_elem(&threads, &tid)))
        return 0;
    if (t->exit_since) {
        __u64 d = bpf_ktime_get_ns() - t->exit_since;
        t->exit_ns += d;
        if (d > t->exit_max_ns)
            t->exit_max_ns = d;
        t->exit_since = 0;
    }
    return 0;
}
