/*
 * Host reader of the guest's kernel log ring (<uk/klog_abi.h>) in a guest
 * memory image: the live shared RAM file or a saved one.  Used by
 * `ukctl telemetry` to replay the boot's log records, and meant for the
 * fleet collector.
 *
 * Guest memory is hostile and changes under the reader: the ring header is
 * copied, then validated (magic, version, slot count, record size, reserved
 * fields); every record is copied between two reads of its commit word and
 * kept only when both equal the expected sequence number + 1; text is cut
 * to the record's declared length (at most UK_KLOG_TEXT) and reduced to
 * printable ASCII.  Every loop is bounded: a search by the image size, a
 * read by UK_KLOG_SLOTS records per call.  Functions return 0 (or a count)
 * and -1 with a message in err.
 */
#ifndef UKSCOPE_KLOG_RING_H
#define UKSCOPE_KLOG_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uk/klog_abi.h>

/* A guest-physical memory image: guest address A is base[A]. */
struct klog_mem {
    const uint8_t *base;
    uint64_t size;
};

/* One record, copied and cleaned. */
struct klog_record {
    uint64_t seq;     /* ring sequence number, from 0 */
    uint64_t time_ns; /* guest monotonic ns */
    unsigned level;   /* enum uk_log_level (0..7 in practice; not checked) */
    unsigned cpu;
    unsigned tid;
    size_t len;                  /* bytes of text */
    char text[UK_KLOG_TEXT + 1]; /* printable ASCII, NUL-terminated */
};

struct klog_reader {
    struct klog_mem mem;
    uint64_t addr;        /* guest address of struct uk_klog_ring */
    uint64_t next;        /* next sequence number to read */
    uint64_t overwritten; /* records gone before this reader got to them */
    uint64_t unreadable;  /* records never committed (final reads): skipped */
};

/*
 * Find the ring: the first 8-byte-aligned address whose header validates.
 * 0 and *addr, or -1 when the image holds none.
 */
int klog_find(const struct klog_mem *m, uint64_t *addr, char *err, size_t errlen);

/* Validate the header at addr and start reading at the oldest record kept. */
int klog_open(struct klog_reader *r, const struct klog_mem *m, uint64_t addr, char *err,
              size_t errlen);

/* The ring's current head (next sequence number the guest will reserve). */
uint64_t klog_head(const struct klog_reader *r);

/* Called per record in sequence order; non-zero stops the read. */
typedef int (*klog_record_fn)(void *arg, const struct klog_record *rec);

/*
 * Deliver the committed records from r->next up to min(head, until) (pass
 * UINT64_MAX for "up to the head"), at most UK_KLOG_SLOTS per call.  Records
 * already overwritten are counted in r->overwritten and skipped.  A record
 * not committed yet (being written) ends the read there, so that the next
 * call delivers it, unless `final` (the guest is stopped or will never
 * finish it): then it is counted in r->unreadable and skipped.  Returns the
 * number delivered.
 */
long klog_read(struct klog_reader *r, uint64_t until, bool final, klog_record_fn fn, void *arg);

#endif
