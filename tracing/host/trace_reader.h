/*
 * Host trace reader: finds the trace header in a guest memory image (the
 * live shared RAM file or a saved image) and drains the per-CPU rings.
 *
 * Guest memory is hostile: every structure is copied out, then validated;
 * slots are copied commit-word first and then confirmed against the ring's
 * head (see uk_trace_abi.h), so a record being overwritten during the copy
 * is counted, never returned.  All loops are bounded by the image size.
 * Functions return 0 or -1 with a message in t->err.
 */
#ifndef TRACE_READER_H
#define TRACE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uk_trace_abi.h"

/* A guest-physical memory image: guest address A is base[A]. */
struct utr_mem {
    const uint8_t *base;
    uint64_t size;
};

struct utr_ring {
    struct uk_trace_ring desc;     /* validated copy; head/lost re-read on each drain */
    bool usable;                   /* false: the descriptor did not validate */
    uint64_t cursor;               /* next reservation number to read */
    uint64_t read;                 /* records returned */
    uint64_t overwritten;          /* overwritten before we could read them */
    uint64_t torn;                 /* never committed or garbage; skipped */
    uint64_t discarded;            /* guest's `lost` (discard mode full) */
    uint64_t stall_h, stall_since; /* live: uncommitted slot (+1) waited for, since when */
};

struct utr_event {
    unsigned ring, cpu, kind; /* ring index, its CPU, enum uk_trace_ring_kind */
    unsigned id;              /* tracepoint id (< ntps) */
    uint64_t seq;             /* reservation number in the ring */
    uint64_t tsc;             /* ticks since guest time zero */
    uint64_t ns;              /* nanoseconds since guest time zero */
    uint64_t arg[UK_TRACE_FIELDS];
};

/* A thread seen in the guest's thread table (name sanitised, NUL-terminated). */
struct utr_thread {
    uint64_t tid; /* 0: slot never seen in use */
    char name[32];
};

struct utr {
    struct utr_mem mem;
    uint64_t hdr_addr;
    struct uk_trace_header hdr;   /* validated copy */
    struct uk_trace_tp_meta *tps; /* ntps entries, strings NUL-terminated */
    unsigned ntps;
    struct utr_ring *rings;
    unsigned nrings;
    unsigned dup_rings;         /* rings ignored: same (cpu, kind) as an earlier ring */
    unsigned overlap_rings;     /* rings ignored: slots overlap an earlier ring's */
    struct utr_thread *threads; /* UK_THREAD_MAX slots, or NULL (no valid thread table) */
    char err[256];
};

/* Called per record in ring order; return non-zero to stop the drain. */
typedef int (*utr_event_fn)(void *arg, const struct utr_event *ev);

/*
 * A growable array of drained events.  utr_evbuf_add is a utr_event_fn (arg =
 * the buffer, zeroed at first) that appends a copy; it stops the drain (1)
 * when memory runs out.  The caller frees ev.
 */
struct utr_evbuf {
    struct utr_event *ev;
    size_t n, cap;
};
int utr_evbuf_add(void *arg, const struct utr_event *ev);

/* Scan page starts for a header that validates; 0 and *addr, or -1. */
int utr_find(const struct utr_mem *m, uint64_t *addr, char *err, size_t errlen);

/* Copy and validate the header, tracepoint table and ring descriptors. */
int utr_open(struct utr *t, const struct utr_mem *m, uint64_t hdr_addr);

/*
 * Read every ring from its cursor up to its current head, at most one
 * ring's worth of slots (nslots) per ring and call: a guest that keeps
 * advancing head cannot keep one pass going; the next call goes on.
 * final: the guest is stopped (or this is the last pass), so uncommitted
 * slots are torn, not in progress.  Also refreshes the thread names.
 * Returns the number of events delivered or -1.
 */
long utr_drain(struct utr *t, bool final, utr_event_fn fn, void *arg);

/* Totals over all rings. */
struct utr_totals {
    uint64_t read, overwritten, torn, discarded;
};
void utr_totals(const struct utr *t, struct utr_totals *out);

/* Losses of ring i: overwritten + torn + discarded. */
uint64_t utr_ring_lost(const struct utr *t, unsigned i);

/* Format field `f` of an event as text ("" for a NONE field). */
void utr_field_str(const struct utr *t, const struct utr_event *ev, unsigned f, char *buf,
                   size_t len);

void utr_close(struct utr *t);

/*
 * Guest strings (trace_names.c).  Every string a writer takes from guest
 * memory has been through utr_clean_str() once, here in the reader: it stays
 * valid UTF-8 with no control characters, '"' or '\\' (each byte of an
 * invalid sequence and each such character becomes '?'), so every output
 * format can embed it as is.
 */
void utr_clean_str(char *s);

/* Format an error message into err (errlen bytes, may be 0) and return -1:
 * `return utr_fail(err, errlen, "bad %s", what);` in the host readers. */
int utr_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Make the copied description of tracepoint `id` safe to use: strings
 * terminated and cleaned, unknown field types shown raw (hex), an empty name
 * replaced by "tpID".  For every copy of guest metadata, whether read from
 * guest RAM or back from a collector's store. */
void utr_clean_tp_meta(struct uk_trace_tp_meta *tp, unsigned id);
/* A STR8 field value as a clean C string. */
void utr_str8(uint64_t v, char out[9]);
/* Re-read the guest's thread table (header.threads_addr); ignored if invalid. */
void utr_threads_refresh(struct utr *t);
/* The thread table's name for tid (clean, up to 31 bytes), or NULL. */
const char *utr_thread_name(const struct utr *t, uint64_t tid);

#endif
