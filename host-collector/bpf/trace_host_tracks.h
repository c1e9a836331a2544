/*
 * The host half of one guest+host timeline (trace_host_tracks.c), shared by
 * `ukctl trace --with-host` and the collector's crash bundles
 * (docs/host-view.md, "One timeline"): hosttrace records -> the host sync
 * writes the clock fit needs, and -> Perfetto tracks of one QEMU process.
 */
#ifndef UKSCOPE_TRACE_HOST_TRACKS_H
#define UKSCOPE_TRACE_HOST_TRACKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hosttrace.h"
#include "trace_clock.h"

/* The byte tracing/guest/trace_sync.c writes to COM1 at each sync point. */
#define TH_SYNC_BYTE 0

struct tout;

/* Sort host records by time (a ring buffer gives them in time order per
 * CPU only): what th_host_syncs expects, and what th_host_tracks does. */
void th_sort(struct ht_event *ev, size_t n);

/* The sync writes of ev[0..n) (sorted by time): each write(2)/writev(2) of
 * TH_SYNC_BYTE, from its entry to the return of that thread's next
 * write-family syscall (the same call), as host TSC with c's rate and pair
 * (c->ns_per_tick, t0, m0).  out has room for n.  Returns how many. */
size_t th_host_syncs(const struct ht_event *ev, size_t n, const struct th_clock *c,
                     struct th_hostw *out);

/* Host records ev[0..n) (sorted here by time) of QEMU process pid ->
 * host tracks in o, after the guest's events; *missed counts the switches
 * the record lacks ("missed switch-in/out" marks).  0, or -1 with o->err
 * set. */
int th_host_tracks(struct tout *o, pid_t pid, struct ht_event *ev, size_t n, unsigned *missed);

#endif
