/* Trace store internals shared by tracestore.c, tracestore_disk.c and tracestore_export.c. */
#ifndef TRACESTORE_INT_H
#define TRACESTORE_INT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include <uk/thread_abi.h>

#include "trace_reader.h"
#include "tracestore.h"
#include "tseg.h"

/* Log "ukcollectd: tracestore: MSG" on stderr (until cd_log is merged); returns -1. */
int ts_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One segment file, as the index remembers it. */
struct ts_seg {
    uint64_t seq;
    uint64_t bytes;
    uint64_t events;
    int64_t t_open, t_last; /* monotonic ms: created, last appended */
    bool valid;             /* header parsed (adopted) or written by us */
    struct tseg_hdr hdr;
    uint64_t max_ns; /* guest ns of the newest event */
    bool has_anchor;
    int64_t wall_off;                       /* smallest (host wall ns - guest ns) seen in anchors */
    uint64_t ring_next[UK_TRACE_MAX_RINGS]; /* 1 + the newest reservation stored, per ring */
};

struct ts_inst {
    struct ts_inst *next;
    char name[64];
    char dir[4096];
    struct ts_seg *segs; /* oldest first; the last is open for appends if cur_fd >= 0 */
    unsigned nsegs, cap;
    uint64_t next_seq;
    int cur_fd;
    /* reader */
    bool rd_open;
    int ram_fd;
    const uint8_t *map;
    size_t map_len;
    dev_t dev;
    ino_t ino;
    struct utr t;
    struct uk_trace_header hdr_copy; /* as opened: a change means a new boot */
    uint64_t last_lost[UK_TRACE_MAX_RINGS];
    struct utr_thread known[UK_THREAD_MAX]; /* thread names already in the segment */
    struct tseg_rec *buf;                   /* one pass's records */
    size_t n, cap_buf;
    uint64_t pass_max_ns;
    uint64_t pass_next[UK_TRACE_MAX_RINGS]; /* ring_next of this pass's events */
    struct tracestore_stats st;
};

struct tracestore {
    char dir[4096];
    uint64_t max_bytes, seg_bytes;
    int64_t max_age_s;
    struct ts_inst *insts;
};

/* tracestore_disk.c */
int ts_seg_path(const struct ts_inst *in, uint64_t seq, char *buf, size_t len);
/* Read a whole segment file into *buf (malloc'd) and parse it. */
int ts_seg_load(const char *path, uint8_t **buf, size_t *len, struct tseg *s);
/* Scan in->dir for segments into the index (a restarted collector). */
int ts_adopt(struct ts_inst *in, int64_t now);
/* Open a new segment for the reader's current boot. */
int ts_seg_create(struct tracestore *ts, struct ts_inst *in, int64_t now);
/* Enforce max_bytes / max_age_s on in: delete oldest segments, count their events. */
void ts_limits(struct tracestore *ts, struct ts_inst *in, int64_t now);
bool ts_name_ok(const char *name);

#endif
