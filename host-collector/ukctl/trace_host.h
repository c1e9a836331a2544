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

#include "bpf/trace_host_tracks.h"
#include "trace_reader.h"

/* The whole command after the trace header is open; out is the Perfetto
 * output path.  Returns the process exit code. */
int trace_with_host(const char *run_dir, struct utr *t, double duration_s, const char *out,
                    volatile sig_atomic_t *stop);

#endif
