/*
 * Per-instance log store: STATE/instances/NAME/log.jsonl (append-only JSON
 * lines, rotated to log.jsonl.1 by size) and pos.json, the position of every
 * source.  Record keys are in docs/collector.md.
 *
 * Nothing lost, nothing twice, across kill -9: a batch of records is
 * written and fsync'ed first; only then is pos.json replaced (temp file,
 * fsync, rename).  pos.json also records the store's size when it was
 * written, so at open the records appended after it (the daemon died
 * between the two steps) are replayed into the position: the store, not
 * pos.json, is the truth, and pos.json only saves re-reading it.  A
 * partial last line (impossible with one write(2) per batch, but cheap to
 * handle) is cut off.
 */
#ifndef UKCOLLECTD_LOGSTORE_H
#define UKCOLLECTD_LOGSTORE_H

#include <jansson.h>
#include <stdint.h>
#include <stddef.h>

/* Where each source of one boot is; all per boot_id. */
struct logpos {
    char boot_id[37];
    uint64_t klog_next;    /* next klog seq to read */
    uint64_t klog_records; /* klog records stored */
    uint64_t klog_lost;    /* overwritten before read: exact */
    uint64_t console_off;  /* console.log bytes consumed */
    uint64_t console_seq;  /* console lines stored */
    uint64_t store_size;   /* log.jsonl size when pos.json was written */
};

struct logstore {
    char dir[4096];
    int fd; /* log.jsonl, O_APPEND */
    uint64_t size, max_bytes;
    struct logpos pos; /* includes the records added since the last commit */
    struct logpos committed; /* as on disk; pos goes back to it when a commit fails */
    char *buf;         /* pending JSON lines */
    size_t len, cap;
    uint64_t recovered; /* records replayed at open (after the last pos.json) */
};

/* Create dir (0700), open the store, load and recover the position. */
int logstore_open(struct logstore *s, const char *dir, uint64_t max_bytes);

/*
 * Add one record (a JSON object, borrowed) to the pending batch and apply
 * it to s->pos.  Kinds: {"source":"klog","seq":N,...}, {"source":"klog",
 * "lost":N,"from_seq":S}, {"source":"console","seq":N,"off_end":B,...}.  A
 * record of another boot_id than s->pos resets the position to that boot.
 */
int logstore_add(struct logstore *s, json_t *rec);

/*
 * The hot path of the same for one klog record of s->pos's boot: line is
 * the record already formatted as one compact JSON object (n bytes, no
 * newline) with that seq.  Same position update as logstore_add, without
 * building a json_t per record (jansson and malloc were ~60 % of the
 * store path's CPU).
 */
int logstore_add_klog(struct logstore *s, const char *line, size_t n, uint64_t seq);

/*
 * Write the n bytes of s as the body of a JSON string (no quotes) at p,
 * which has room for 6 * n bytes; returns the end.  '"' and '\\' are
 * escaped, control bytes and DEL become \u00XX, other bytes are copied
 * (callers pass ASCII or valid UTF-8: klog text, cleaned thread names).
 */
char *logstore_json_str(char *p, const char *s, size_t n);

/*
 * Write + fsync the batch, then persist pos atomically; rotate by size.
 * On failure the batch is dropped and pos goes back to the committed one,
 * so the caller re-reads those records from their source next time.
 */
int logstore_commit(struct logstore *s);

void logstore_close(struct logstore *s);

/*
 * Called with whole JSON lines once they are durable in a store, before the
 * position is persisted: after each commit's fsync, and at open for the
 * lines replayed after pos.json (those may have been handed on already by
 * the process that died: at most one batch again).  Used to hand records to
 * the RELP forwarder, whose spool must hold them before pos.json moves.
 */
extern void (*logstore_durable_hook)(const char *lines, size_t len);

/* Apply one record to a position (used live and at recovery). */
void logpos_apply(struct logpos *p, json_t *rec);

#endif
