/*
 * Trace store: the collector's per-instance flight recorder on disk.
 *
 * Each drain copies the records newly committed in an instance's trace
 * rings (read from its RAM file with the same validating reader as
 * `ukctl trace --follow`) into segment files under DIR/INSTANCE/ (0700,
 * files 0600; format in tseg.h).  A segment is closed after
 * TRACESTORE_SEG_BYTES or TRACESTORE_SEG_AGE_S; the oldest closed segments
 * are deleted when an instance's store exceeds max_bytes or a segment is
 * older than max_age_s, and the events they held are counted as
 * dropped_by_limit.  Limits are per instance, so a noisy guest cannot evict
 * another's trace.  Existing segments are adopted at open (a restarted
 * collector keeps its history).
 *
 * Time: `now` is CLOCK_MONOTONIC ms.  tracestore_export's `last_s` counts
 * back from the newest stored event of the instance's latest boot, in guest
 * time (guest clocks need no host mapping, and a stopped guest still yields
 * its last seconds).  The fleet export puts every instance on the host's
 * CLOCK_REALTIME (each drain stores an anchor: host time against the guest
 * time of the newest event seen) and keeps the last `last_s` seconds before
 * the newest event of the fleet.
 *
 * Guest memory is hostile (the reader validates everything); a RAM file
 * truncated or replaced under the reader is detected by fstat before each
 * pass and, for a truncation racing the pass, by a SIGBUS handler that
 * abandons the pass: either way a counted drain error, never a crash.
 * All functions return 0 or -1 (message on stderr).  Not thread-safe.
 */
#ifndef TRACESTORE_H
#define TRACESTORE_H

#include <stdint.h>
#include <sys/types.h>

#include "bpf/trace_host_tracks.h"

#define TRACESTORE_SEG_BYTES (4u << 20) /* at most; smaller for small max_bytes */
#define TRACESTORE_SEG_AGE_S 60

struct tracestore;

struct tracestore_stats {
    uint64_t events_stored;    /* events appended since open (or adopted at open) */
    uint64_t bytes;            /* on disk now */
    uint64_t dropped_by_limit; /* events in segments deleted by the size/age limits */
    uint64_t lost_in_guest;    /* records the reader saw overwritten, torn or discarded */
    uint64_t segments;         /* on disk now */
    uint64_t drain_errors;     /* failed passes (no header, truncated RAM, write errors) */
    uint64_t drains;           /* passes attempted */
    uint64_t drain_cpu_ns;     /* thread CPU time spent in tracestore_drain */
};

/* Open (create, 0700) the store in dir.  max_bytes per instance (0: no
 * limit), max_age_s of the newest event in a segment (0: none). */
struct tracestore *tracestore_open(const char *dir, uint64_t max_bytes, int64_t max_age_s);

/* One bounded drain pass of instance's rings (RUN_DIR/ram) into the store,
 * then apply the limits.  instance: [A-Za-z0-9._-], 1..63 characters. */
int tracestore_drain(struct tracestore *, const char *instance, const char *run_dir, int64_t now);

/* The instance's last `last_s` seconds (<= 0: everything stored) as
 * perfetto, ctf or json, written atomically to out_path. */
int tracestore_export(struct tracestore *, const char *instance, int64_t last_s,
                      const char *format /* perfetto|ctf|json */, const char *out_path);

/* One Perfetto trace, a process per instance (named after it) with a
 * track per guest CPU and per guest thread. */
int tracestore_export_fleet(struct tracestore *, int64_t last_s, const char *out_path);

/* The host half of a guest+host timeline: one QEMU's host records and
 * sync writes, and the host TSC <-> CLOCK_MONOTONIC rate and pair
 * (clock.ns_per_tick, t0, m0) they were converted with (htglue.c). */
struct ts_host {
    pid_t pid;
    struct ht_event *ev; /* sorted by time */
    size_t n;
    struct th_hostw *sync; /* host TSC, in time order */
    size_t nsync;
    uint64_t overwritten, lost; /* records the recorder did not keep / the kernel dropped */
    struct th_clock clock;      /* k, bound, points: set by the export */
    unsigned missed, guest_points;
};
void ts_host_free(struct ts_host *h);

/*
 * One Perfetto trace of the instance's latest boot on the host's
 * CLOCK_MONOTONIC: the guest's events from the first host record on,
 * mapped through the clock fitted to the guest's host_sync points and h's
 * sync writes, and h's host tracks (process "host: qemu PID").  -1 with
 * the reason in why (no consistent fit: the guest needs trace_sync_ms=N).
 */
int tracestore_export_host(struct tracestore *, const char *instance, struct ts_host *h,
                           const char *out_path, char *why, size_t whylen);

/* Counters of one instance (zeros if unknown). */
void tracestore_stats(const struct tracestore *, const char *instance, struct tracestore_stats *);

/* Drop the instance's reader state (unmap its RAM); its stored segments stay. */
void tracestore_forget(struct tracestore *, const char *instance);

void tracestore_close(struct tracestore *);

#endif
