/*
 * hosttrace: per-event host records of the tracked QEMU processes, for
 * `ukctl trace --with-host` (one process, one window) and the collector's
 * host flight recorder (every instance, continuously; docs/host-view.md,
 * "One timeline").  Shared by the BPF side (hosttrace.bpf.c) and the loader
 * (hosttrace.c); fixed-width types only.
 */
#ifndef UKSCOPE_HOSTTRACE_H
#define UKSCOPE_HOSTTRACE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* 4 MiB: ~100 000 records of 40 B; a busy 2-vCPU guest gives 3 000-6 000
 * records/s, so many seconds of slack for a reader polling every 100 ms.
 * A loader may size it (ht_open's ring_bytes). */
#define HT_RINGBUF_BYTES (4u << 20)

/* `filter` bitmap: one bit per tgid < 2^22 (PID_MAX_LIMIT). */
#define HT_FILTER_WORDS 65536

enum ht_type {
    HT_ON_CPU = 1,  /* thread switched in on host CPU `cpu` */
    HT_OFF_CPU = 2, /* thread switched out; arg = 1 if still runnable (preempted) */
    HT_WAKEUP = 3,  /* thread woken (enters a run queue); cpu = the target CPU */
    HT_WRITE = 4,   /* write(2) entered; arg = fd, arg2 = first byte, or -1 */
    HT_KVM_EXIT = 5,   /* kvm_exit; arg = exit reason, arg2 = ISA (1 VMX, 2 SVM) */
    HT_KVM_UEXIT = 6,  /* KVM_RUN returned to QEMU; arg = KVM_EXIT_* reason */
    HT_WRITE_RET = 7,  /* write(2)/writev(2) returns; arg2 = its result */
};

struct ht_event {
    __u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
    __u32 tgid;  /* the QEMU process: which instance */
    __u32 tid;
    __u32 cpu;
    __u32 type; /* enum ht_type */
    __u32 arg;
    __u32 pad; /* 0: arg2 is 8-aligned, no hidden padding */
    __s64 arg2;
};
_Static_assert(sizeof(struct ht_event) == 40, "ht_event is shared with the BPF side");

#endif
