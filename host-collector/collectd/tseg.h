/*
 * Trace store segment files (internal to tracestore.c).
 *
 * A segment is self-describing: a fixed header (magic, version, the guest's
 * TSC frequency/base, build-id, CPU and ring counts, the instance name),
 * then the ring table (cpu, kind), the tracepoint table and the thread
 * names known when it was opened, then 40-byte records appended by each
 * drain.  Records are events copied from the rings, loss markers (ring
 * overwrites seen by the reader), late thread names and time anchors (host
 * wall clock against guest time, for fleet views).  All little-endian.
 *
 * Segments are on disk and may be corrupted: tseg_parse() validates the
 * header completely and tseg_rec_ok() each record; a partial trailing
 * record (a crash during an append) is ignored.
 */
#ifndef TSEG_H
#define TSEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_reader.h"

#define TSEG_MAGIC   "UKTSEG\0\1"
#define TSEG_VERSION 1

struct tseg_hdr {
    char magic[8];
    uint32_t version;
    uint32_t hdr_size; /* this header + ring, tracepoint and thread tables */
    uint64_t seq;      /* segment number within the instance */
    int64_t created_wall_ns;
    uint64_t tsc_hz, tsc_base;
    uint8_t build_id[20];
    uint32_t build_id_len;
    uint32_t ncpus, nrings, ntps, nthreads;
    uint32_t rec_size; /* sizeof(struct tseg_rec) */
    uint32_t reserved;
    char instance[64];
};

struct tseg_ring {
    uint32_t cpu, kind;
};

struct tseg_thread {
    uint64_t tid;
    char name[32];
};

enum tseg_rec_type {
    TSEG_EVENT = 0,  /* a ring record: id, ring, seq, tsc, arg */
    TSEG_LOST = 1,   /* ring lost arg[0] records (overwritten/torn/discarded) */
    TSEG_THREAD = 2, /* seq = tid, name in the 24 bytes from tsc on */
    TSEG_ANCHOR = 3, /* arg[0] = host CLOCK_REALTIME ns at a drain, arg[1] = the
                      * guest ns of the newest event it saw */
};

struct tseg_rec {
    uint16_t id;
    uint8_t ring;
    uint8_t type; /* enum tseg_rec_type */
    uint32_t reserved;
    uint64_t seq;
    uint64_t tsc;
    uint64_t arg[UK_TRACE_FIELDS];
};
_Static_assert(sizeof(struct tseg_rec) == 40, "segment record size");

/* A parsed segment: validated copies of the metadata, records in place. */
struct tseg {
    struct tseg_hdr hdr;
    struct tseg_ring *rings;
    struct uk_trace_tp_meta *tps; /* strings NUL-terminated and clean */
    struct tseg_thread *threads;  /* names NUL-terminated and clean */
    const struct tseg_rec *recs;  /* into the caller's buffer */
    size_t nrecs;
};

/* Size of the header and tables for these counts. */
size_t tseg_hdr_size(uint32_t nrings, uint32_t ntps, uint32_t nthreads);

/* Parse buf[0..len); 0 and *s (free with tseg_free) or -1 with err. */
int tseg_parse(const uint8_t *buf, size_t len, struct tseg *s, char *err, size_t errlen);

/* A record is well formed for this segment (known type, ring and id in range). */
bool tseg_rec_ok(const struct tseg *s, const struct tseg_rec *r);

/* A thread record's name (clean, NUL-terminated) into out. */
void tseg_thread_name(const struct tseg_rec *r, char out[25]);

/* Same guest boot: build-id, TSC base/frequency and layout agree. */
bool tseg_same_boot(const struct tseg_hdr *a, const struct tseg_hdr *b);

void tseg_free(struct tseg *s);

#endif
