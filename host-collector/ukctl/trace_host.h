/*
 * `ukctl trace --with-host` (trace_host.c): record the host's scheduler,
 * syscall and KVM events of one instance's QEMU (hosttrace BPF programs)
 * while draining the guest's rings, map the guest TSC to the host's
 * CLOCK_MONOTONIC from the guest's host_sync points, and write one Perfetto
 * trace with both.  docs/host-view.md "One timeline".
 */
#ifndef UKCTL_TRACE_HOST_H
#define UKCTL_TRACE_HOST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/hosttrace.h"
#include "trace_clock.h"
#include "trace_reader.h"

/* The byte tracing/guest/trace_sync.c writes to COM1 at each sync point. */
#define TH_SYNC_BYTE 0

struct tout;
/* Host records ev[0..n) (sorted here by time) -> host tracks in o, after
 * the guest's events; *missed counts the switches the record lacks
 * ("missed switch-in/out" marks).  0, or -1 with o->err set. */
int th_host_tracks(struct tout *o, pid_t pid, struct ht_event *ev, size_t n, unsigned *missed);

/* The whole command after the trace header is open; out is the Perfetto
 * output path.  Returns the process exit code. */
int trace_with_host(const char *run_dir, struct utr *t, double duration_s, const char *out,
                    volatile sig_atomic_t *stop);

#endif
