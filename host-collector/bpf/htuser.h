/*
 * hosttrace loader (hosttrace.c): record the host events of the tracked
 * QEMU processes: one for a while (`ukctl trace --with-host`), or every
 * instance of a fleet continuously (the collector's host flight recorder,
 * collectd/htglue.c).  Needs the same capabilities as hostview (CAP_BPF +
 * CAP_PERFMON, or root).
 */
#ifndef UKSCOPE_HTUSER_H
#define UKSCOPE_HTUSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hosttrace.h"

struct ht;

/* Called for each record in ring-buffer order; e is valid for the call only. */
typedef void (*ht_event_fn)(void *ctx, const struct ht_event *e);

enum ht_flags {
    /* Only libc writev() calls of the tracked processes (a uprobe per
     * process, attached by ht_track) and KVM exits: no switches (the
     * collector takes them from the host view's program: hv_open
     * HV_RECORD, ht_add_ring), no HT_WAKEUP, no syscall tracepoint; the
     * continuous recorder's cost to every other process. */
    HT_LEAN = 1,
};

/* Load and attach the programs, tracking no process yet.  flags: enum
 * ht_flags.  ring_bytes: the ring buffer's size (a power of 2 of at least a
 * page; 0: HT_RINGBUF_BYTES).  fn: where records go (NULL: appended to the
 * array ht_events returns).  0, or -1 with a "Failed to ..." message in err.
 * The kvm programs are attached only where their trace events exist. */
int ht_open(struct ht **out, unsigned flags, size_t ring_bytes, ht_event_fn fn, void *ctx,
            char *err, size_t errlen);
/* Also drain another object's ring buffer of host records (the host
 * view's, hv_events_fd) into the same callback or array.  0 or -1. */
int ht_add_ring(struct ht *h, int map_fd);
/* Start / stop recording the process tgid (0 < tgid < 2^22; with HT_LEAN
 * also its writev() uprobe).  0 or -1 (errno ERANGE for a tgid out of
 * range). */
int ht_track(struct ht *h, pid_t tgid);
int ht_untrack(struct ht *h, pid_t tgid);
/* Wait timeout_ms (0: not at all), then drain what the ring buffer holds
 * (the programs do not wake the reader).  0 or -1. */
int ht_poll(struct ht *h, int timeout_ms);
/* All records so far (fn NULL), in ring-buffer order (time order per CPU). */
const struct ht_event *ht_events(const struct ht *h, size_t *n);
/* Records the kernel could not store (ring buffer full). */
uint64_t ht_lost(const struct ht *h);
/* Program runs the kernel skipped (BPF recursion protection), summed. */
uint64_t ht_prog_misses(const struct ht *h);
/* Run count and time of each program (see hv_prog_stats). */
void ht_prog_stats(const struct ht *h,
                   void (*fn)(void *arg, const char *prog, uint64_t run_cnt, uint64_t run_time_ns),
                   void *arg);
bool ht_has_kvm(const struct ht *h);
void ht_close(struct ht *h);

#endif
