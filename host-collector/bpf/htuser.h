/*
 * hosttrace loader (hosttrace.c): record the host events of one QEMU
 * process for a while, for `ukctl trace --with-host`.  Needs the same
 * capabilities as hostview (CAP_BPF + CAP_PERFMON, or root).
 */
#ifndef UKSCOPE_HTUSER_H
#define UKSCOPE_HTUSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hosttrace.h"

struct ht;

/* Load and attach the programs filtered to tgid.  0, or -1 with a
 * "Failed to ..." message in err.  The kvm programs are attached only where
 * their trace events exist. */
int ht_open(struct ht **out, pid_t tgid, char *err, size_t errlen);
/* Drain the ring buffer, waiting up to timeout_ms for the first record.
 * Records are appended to the array ht_events() returns.  0 or -1. */
int ht_poll(struct ht *h, int timeout_ms);
/* All records so far, in ring-buffer order (time order per CPU). */
const struct ht_event *ht_events(const struct ht *h, size_t *n);
/* Records the kernel could not store (ring buffer full). */
uint64_t ht_lost(const struct ht *h);
/* Program runs the kernel skipped (BPF recursion protection), summed. */
uint64_t ht_prog_misses(const struct ht *h);
bool ht_has_kvm(const struct ht *h);
void ht_close(struct ht *h);

#endif
