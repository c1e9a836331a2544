// SPDX-License-Identifier: GPL-2.0
/*
 * hosttrace: one record per scheduler/syscall/KVM event of the tracked
 * QEMU processes, into a BPF ring buffer, for the merged guest+host
 * timeline of `ukctl trace --with-host` and the collector's host flight
 * recorder (docs/host-view.md).  Unlike hostview (counters), this emits per
 * event, which only the QEMU processes of the fleet can afford.  The
 * processes are filtered in the kernel by the `filter` bitmap the loader
 * sets (one bit per tgid): any other task costs an inlined array load and
 * a bit test per event.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "hosttrace.h"
#include "htrec.bpf.h"
#include "tgidfilter.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct task_struct___pre514 {
    long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *p)
{
    if (bpf_core_field_exists(p->__state))
        return BPF_CORE_READ(p, __state);
    return BPF_CORE_READ((struct task_struct___pre514 *)p, state);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(ht_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    __u32 cpu = bpf_get_smp_processor_id();

    if (tracked(prev->tgid))
        ht_put(prev->tgid, prev->pid, cpu, HT_OFF_CPU, preempt || task_state(prev) == 0, 0);
    if (tracked(next->tgid))
        ht_put(next->tgid, next->pid, cpu, HT_ON_CPU, 0, 0);
    return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(ht_wakeup, struct task_struct *p)
{
    if (tracked(p->tgid))
        ht_put(p->tgid, p->pid, BPF_CORE_READ(p, wake_cpu), HT_WAKEUP, 0, 0);
    return 0;
}

struct ht_write_args {
    __u64 pad;
    long nr;
    unsigned long fd;
    const char *buf;
    unsigned long count;
};

/* The sync point: the guest's UART byte becomes QEMU's write(2) of it. */
SEC("tracepoint/syscalls/sys_enter_write")
int ht_write(struct ht_write_args *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    unsigned char c = 0;
    __s64 first = -1;

    if (!tracked((__u32)(id >> 32)))
        return 0;
    if (ctx->count && !bpf_probe_read_user(&c, 1, ctx->buf))
        first = c;
    ht_put((__u32)(id >> 32), (__u32)id, bpf_get_smp_processor_id(), HT_WRITE, (__u32)ctx->fd, first);
    return 0;
}

struct ht_writev_args {
    __u64 pad;
    long nr;
    unsigned long fd;
    const struct iovec *vec;
    unsigned long vlen;
};

/* A writev of the tracked process: its fd and the first byte of its first
 * buffer (the sync byte, trace_clock.c), for the tracepoint and the uprobe. */
static __always_inline int writev_entry(unsigned long fd, const struct iovec *vec,
                                        long vlen)
{
    __u64 id = bpf_get_current_pid_tgid();
    struct iovec v = {};
    unsigned char c = 0;
    __s64 first = -1;

    if (!tracked((__u32)(id >> 32)))
        return 0;
    if (vlen > 0 && !bpf_probe_read_user(&v, sizeof(v), vec) && v.iov_len &&
        !bpf_probe_read_user(&c, 1, v.iov_base))
        first = c;
    ht_put((__u32)(id >> 32), (__u32)id, bpf_get_smp_processor_id(), HT_WRITE, (__u32)fd, first);
    return 0;
}

/* The end of the sync write: the guest's second stamp comes after it, so
 * the bracket shrinks by the syscall's own duration (trace_clock.c). */
static __always_inline int write_return(long ret)
{
    __u64 id = bpf_get_current_pid_tgid();

    if (tracked((__u32)(id >> 32)))
        ht_put((__u32)(id >> 32), (__u32)id, bpf_get_smp_processor_id(), HT_WRITE_RET, 0, ret);
    return 0;
}

/* QEMU's file and socket chardevs write through writev(2) (QIOChannel). */
SEC("tracepoint/syscalls/sys_enter_writev")
int ht_writev(struct ht_writev_args *ctx)
{
    return writev_entry(ctx->fd, ctx->vec, (long)ctx->vlen);
}

/* The same for the collector's continuous recorder, as a uprobe on libc's
 * writev() attached to each tracked QEMU only (hosttrace.c): a syscall
 * tracepoint, once attached, sends every syscall of every task on the host
 * down the kernel's slow syscall path. */
SEC("uprobe")
int BPF_KPROBE(ht_uwritev, int fd, const struct iovec *vec, int vlen)
{
    return writev_entry((unsigned long)fd, vec, vlen);
}

/* ... and its return, which bounds the bracket's other side. */
SEC("uretprobe")
int BPF_KRETPROBE(ht_uwritev_ret, long ret)
{
    return write_return(ret);
}

struct ht_sys_exit_args {
    __u64 pad;
    long nr;
    long ret;
};

SEC("tracepoint/syscalls/sys_exit_write")
int ht_write_ret(struct ht_sys_exit_args *ctx)
{
    return write_return(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int ht_writev_ret(struct ht_sys_exit_args *ctx)
{
    return write_return(ctx->ret);
}

struct ht_kvm_exit_args {
    __u64 pad;
    unsigned int exit_reason;
    unsigned long guest_rip;
    __u32 isa;
};

SEC("tracepoint/kvm/kvm_exit")
int ht_kvm_exit(struct ht_kvm_exit_args *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();

    if (tracked((__u32)(id >> 32)))
        ht_put((__u32)(id >> 32), (__u32)id, bpf_get_smp_processor_id(), HT_KVM_EXIT, ctx->exit_reason, ctx->isa);
    return 0;
}

struct ht_kvm_uexit_args {
    __u64 pad;
    __u32 reason;
    int errno_;
};

SEC("tracepoint/kvm/kvm_userspace_exit")
int ht_kvm_uexit(struct ht_kvm_uexit_args *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();

    if (tracked((__u32)(id >> 32)))
        ht_put((__u32)(id >> 32), (__u32)id, bpf_get_smp_processor_id(), HT_KVM_UEXIT, ctx->reason, ctx->errno_);
    return 0;
}
