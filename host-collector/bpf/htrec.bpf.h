/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host records of hosttrace.h, for the BPF objects that emit them:
 * hosttrace.bpf.c (everything, for one recording or the collector's
 * recorder) and hostview.bpf.c (its scheduler switches, when loaded with
 * `hv_record`: the collector's recorder then needs no second sched_switch
 * program, whose filter check every task on the host would pay).  Each
 * object that includes this gets its own `ht_events` ring buffer and
 * `ht_lost` counter.
 */
#ifndef UKSCOPE_HTREC_BPF_H
#define UKSCOPE_HTREC_BPF_H

#include "hosttrace.h"

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, HT_RINGBUF_BYTES); /* the loader may resize it */
} ht_events SEC(".maps");

/* Records lost because the ring buffer was full (index 0). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} ht_lost SEC(".maps");

static __always_inline void ht_put(__u32 tgid, __u32 tid, __u32 cpu, __u32 type, __u32 arg,
                                   __s64 arg2)
{
    struct ht_event *e = bpf_ringbuf_reserve(&ht_events, sizeof(*e), 0);
    if (!e) {
        __u32 k = 0;
        __u64 *v = bpf_map_lookup_elem(&ht_lost, &k);
        if (v)
            (*v)++;
        return;
    }
    e->ts_ns = bpf_ktime_get_ns();
    e->tgid = tgid;
    e->tid = tid;
    e->cpu = cpu;
    e->type = type;
    e->arg = arg;
    e->arg2 = arg2;
    e->pad = 0;
    /* No wakeup per record: the reader drains on its own period (a wakeup
     * per record cost a tracked switch ~4x in the benchmark). */
    bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

#endif
