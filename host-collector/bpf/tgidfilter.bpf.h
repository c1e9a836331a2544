/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-kernel process filter of hostview.bpf.c and hosttrace.bpf.c: one
 * bit per tgid in an array map the loader sets (hv_filter_set), tested
 * first by every program, so an untracked task costs an inlined array load
 * and a bit test per event, no helper call.  Each object that includes
 * this gets its own `filter` map.
 */
#ifndef UKSCOPE_TGIDFILTER_BPF_H
#define UKSCOPE_TGIDFILTER_BPF_H

#include "hosttrace.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, HT_FILTER_WORDS);
    __type(key, __u32);
    __type(value, __u64);
} filter SEC(".maps");

static __always_inline bool tracked(__u32 tgid)
{
    __u32 w = tgid >> 6;
    __u64 *bits = bpf_map_lookup_elem(&filter, &w);

    return bits && (*bits >> (tgid & 63)) & 1;
}

#endif
