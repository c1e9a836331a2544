/*
 * hostview: the layouts shared by the BPF programs (hostview.bpf.c) and
 * their userspace loader/reader (hostview.c).  One definition for both
 * sides: the BPF side sees the kernel's __u32/__u64 through vmlinux.h,
 * userspace through <linux/types.h>.  See docs/host-view.md.
 *
 * Sizes are bounded for 1 000 instances x 16 vCPUs (HV_MAX_*); every map
 * is preallocated, so the memory is fixed at load time (docs/host-view.md
 * states it).  A full map drops new entries and counts them (HV_STAT_FULL).
 */
#ifndef UKSCOPE_HOSTVIEW_H
#define UKSCOPE_HOSTVIEW_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "hosttrace.h" /* HT_FILTER_WORDS: the tgid bitmap both objects use */

enum {
    HV_MAX_INSTANCES = 1024,   /* tracked QEMU processes (tgids) */
    HV_MAX_THREADS = 32768,    /* 1024 x (16 vCPUs + 16 main/IO/worker threads) */
    HV_MAX_EXIT_KEYS = 65536,  /* (tid, exit reason) pairs: 4 reasons per vCPU at full scale */
    HV_HIST_BUCKETS = 27,      /* log2 of microseconds: [0,1) [1,2) [2,4) ... [2^25, inf) us */
    HV_FILTER_WORDS = HT_FILTER_WORDS, /* `filter` bitmap (tgidfilter.bpf.h) */
};

/* Per-process value of the `procs` map (key: tgid).  Userspace sets slot;
 * the gone_* sums hold the counters of the process's threads that have
 * exited (folded in by the sched_process_exit program), so per-process
 * totals stay monotonic while QEMU's worker threads come and go. */
struct hv_proc {
    __u32 slot;
    __u32 pad;
    __u64 gone_oncpu_ns;
    __u64 gone_rq_ns;
    __u64 gone_switches;
    __u64 gone_invol;
    __u64 gone_migrations;
};

/* Per-thread value of the `threads` map (key: tid).  Times are ns of
 * bpf_ktime_get_ns (CLOCK_MONOTONIC). */
struct hv_thread {
    __u32 tgid;
    __u32 cpu;            /* host CPU it last ran on */
    __u32 based;          /* exec_base is set */
    __u32 pad;
    __u64 exec_base;      /* the task's se.sum_exec_runtime when first seen */
    __u64 on_since;       /* switched in at (0: not on a CPU) */
    __u64 oncpu_ns;       /* time on a host CPU (sum_exec_runtime - exec_base at the last
                           * switch-out: the kernel's own run time, schedstat field 1) */
    __u64 rq_ns;          /* completed run-queue waits (runnable, not running): steal */
    __u64 switches;       /* times switched out */
    __u64 invol;          /* ... of which while still runnable (preempted) */
    __u64 migrations;     /* moved to another host CPU */
    __u64 exits;          /* kvm_exit events on this thread (vCPU threads under KVM) */
    __u64 exit_ns;        /* sum of kvm_exit -> next kvm_entry */
    __u64 exit_max_ns;
    __u64 exit_since;     /* last kvm_exit not yet re-entered (0: in guest/none) */
    __u64 halt_polled;    /* kvm_vcpu_wakeup: halts ended while KVM polled (no sleep) */
    __u64 halt_waited;    /* ... halts that had to block the thread */
    __u64 halt_poll_ns;   /* time of the polled halts */
    __u64 halt_wait_ns;   /* time of the blocked halts */
    __u64 rq_hist[HV_HIST_BUCKETS]; /* run-queue waits by log2(us) */
};

/* What an `exits` key counts (its isa field). */
enum hv_exit_isa {
    HV_ISA_VMX = 1,   /* kvm_exit, VMX basic exit reason (the event's own isa field) */
    HV_ISA_SVM = 2,   /* kvm_exit, SVM exit code */
    HV_ISA_USER = 3,  /* kvm_userspace_exit: KVM_RUN returned to QEMU; reason KVM_EXIT_* */
    HV_ISA_EMUL = 4,  /* kvm_emulate_insn: an instruction KVM emulated; reason 0 (1: failed) */
};

/* Key of the `exits` map: events counted by thread and reason (value:
 * __u64 count).  Names of reasons are in hvexit.c. */
struct hv_exit_key {
    __u32 tid;
    __u32 reason;
    __u32 isa;
    __u32 tgid; /* so userspace can drop a whole process's keys */
};

/* Indexes of the per-CPU `stats` array. */
enum hv_stat {
    HV_STAT_EVENTS,   /* program runs that found a tracked thread */
    HV_STAT_FULL,     /* entries dropped because a map was full */
    HV_STAT_COUNT,
};

#endif
