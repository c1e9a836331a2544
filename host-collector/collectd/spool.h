/* The RELP forwarder's on-disk spool: an append-only queue of records that
 * survives kill -9 and power loss, with a persisted "acked up to" position.
 *
 * Layout of the spool directory (0700, files 0600):
 *   <16 hex digits>.seg  segment files, named by the logical offset of their
 *                        first byte; records never span segments.  A segment
 *                        is rotated when it would exceed the segment size and
 *                        deleted once every record in it is acked.
 *   acked                the logical offset below which everything is acked:
 *                        u64 offset, u32 CRC-32C of the offset, u32 magic,
 *                        replaced atomically (write, rename) but not synced:
 *                        it survives kill -9; after a power loss a stale or
 *                        damaged one only makes records be sent again.
 * A record: u32 magic "UKR1", u32 payload length, u32 CRC-32C over the length
 * and the payload, then the payload (all little-endian).  At open every
 * segment is checked; the first bad record (a torn tail after kill -9, or
 * garbage) and everything after it in that segment are truncated away and
 * counted.  Logical offsets may then have gaps; readers skip to the next
 * segment.
 */
#ifndef UKSCOPE_COLLECTD_SPOOL_H
#define UKSCOPE_COLLECTD_SPOOL_H

#include <stddef.h>
#include <stdint.h>

enum spool_result {
    SPOOL_ERR = -1, /* I/O error (logged) */
    SPOOL_OK = 0,
    SPOOL_FULL = 1,    /* max_bytes reached */
    SPOOL_END = 2,     /* spool_read: nothing at or after that offset */
    SPOOL_NOSPACE = 3, /* the disk itself is full (ENOSPC, EDQUOT) */
};

enum {
    SPOOL_REC_MAX = 8192, /* largest payload accepted */
};

struct spool;

/* Open (creating dir 0700 if needed) and check the spool.  max_bytes bounds the
 * total size of the segment files.  Returns NULL (logged) on error. */
struct spool *spool_open(const char *dir, uint64_t max_bytes);

/* Append one record.  sync: fdatasync before returning (the record is durable
 * when SPOOL_OK is returned); else call spool_sync() before relying on it.
 * SPOOL_FULL and SPOOL_NOSPACE leave the spool unchanged. */
enum spool_result spool_append(struct spool *s, const void *data, size_t len, int sync);

/* Make every appended record durable.  0 or -1. */
int spool_sync(struct spool *s);

/* Read the record at or after *off into buf (cap >= SPOOL_REC_MAX): SPOOL_OK
 * with *len and *off set to the offset just after it, SPOOL_END, or SPOOL_ERR
 * (a segment that cannot be opened).  A record damaged since open makes the
 * rest of its segment be skipped, logged and counted in torn. */
enum spool_result spool_read(struct spool *s, uint64_t *off, void *buf, size_t cap, size_t *len);

/* Persist "everything below off is acked" and delete fully acked segments.
 * Offsets only move forward (a smaller one is ignored).  0 or -1. */
int spool_set_acked(struct spool *s, uint64_t off);

struct spool_info {
    uint64_t acked;           /* the acked offset */
    uint64_t tail;            /* the offset after the last record */
    uint64_t disk_bytes;      /* total size of the segment files */
    uint64_t pending_at_open; /* records at or after acked when opened */
    uint64_t torn;            /* bad tails truncated at open, damaged segment rests skipped */
};
void spool_info(const struct spool *s, struct spool_info *info);

void spool_close(struct spool *s);

#endif
