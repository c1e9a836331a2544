/* RELP forwarder: every log record to rsyslog (imrelp) as RFC 5424, through an
 * on-disk spool, so that an rsyslog outage or a kill -9 of the collector loses
 * nothing (issue 12).  Built on Debian's librelp.
 *
 * Delivery is at-least-once.  librelp does not tell which frames were acked,
 * only that at most `window` (RELPFWD_WINDOW) sent frames are unacked when a
 * send returns; rsyslog's imrelp acks in order.  So after the n-th send of a
 * session everything up to the (n - window)-th is known to be acked, and a
 * graceful session close (whose response follows every other response)
 * confirms the rest when the spool runs dry.  After a broken session the
 * forwarder reconnects with a fresh session and resends from the acked
 * offset: at most one window of records arrives twice, each counted in
 * `resent` and identifiable by its seq in the structured data.  The acked
 * offset is persisted once per poll, so after a kill -9 of the collector at
 * most RELPFWD_POLL_MAX + RELPFWD_WINDOW records arrive twice.
 *
 * librelp blocks in connect and send; the forwarder sets 1 s timeouts (the
 * library's unit) and bounds the work per poll (RELPFWD_POLL_MAX records), so
 * a poll normally takes milliseconds and at worst about two timeouts when
 * rsyslog hangs without closing the connection.
 *
 * The process must not die of SIGPIPE (librelp writes without MSG_NOSIGNAL):
 * relpfwd_new() sets SIGPIPE to SIG_IGN if it is still SIG_DFL.
 */
#ifndef UKSCOPE_COLLECTD_RELPFWD_H
#define UKSCOPE_COLLECTD_RELPFWD_H

#include <stdint.h>

#include "logrec.h"

enum {
    RELPFWD_WINDOW = 32,    /* RELP window: the bound of re-sent records */
    RELPFWD_POLL_MAX = 256, /* records sent per poll at most */
};

struct relpfwd_stats {
    uint64_t forwarded;         /* records acked by rsyslog (this process) */
    uint64_t spooled;           /* records appended to the spool (this process) */
    uint64_t spool_bytes;       /* bytes of spool files on disk now */
    uint64_t pending;           /* records in the spool not yet acked */
    uint64_t resent;            /* records sent again after a broken session; after
                                   a restart, every record pending at open (the old
                                   process may have sent it) */
    uint64_t dropped_disk_full; /* submits refused: spool_max_bytes or ENOSPC */
    uint64_t torn;              /* torn/bad spool tails truncated at open */
    uint64_t reconnects;        /* sessions opened after the first */
    uint64_t connected;         /* 1 while a RELP session is up */
    uint64_t errors;            /* connect/send/spool errors */
};

struct relpfwd;

/* Open (or create, 0700) the spool in spool_dir, bounded by spool_max_bytes,
 * and prepare a client for host:port.  Nothing is connected until the first
 * poll.  Returns NULL with a logged reason on error. */
struct relpfwd *relpfwd_new(const char *host, const char *port, const char *spool_dir,
                            uint64_t spool_max_bytes);

/* Append the record, rendered as RFC 5424, to the spool.  Durable when it
 * returns 0 (write + fdatasync) unless relpfwd_set_batch(f, 1) was called, in
 * which case relpfwd_flush() makes every submitted record durable.  -1 when
 * the spool is full (counted in dropped_disk_full, logged once per episode)
 * or on an I/O error (counted in errors). */
int relpfwd_submit(struct relpfwd *f, const struct logrec *r);

/* Batch mode: submit only writes; the caller calls relpfwd_flush() (one
 * fdatasync) before it persists its own read positions. */
void relpfwd_set_batch(struct relpfwd *f, int batch);
int relpfwd_flush(struct relpfwd *f);

/* Connect or reconnect (exponential backoff 100 ms .. 10 s), send up to
 * RELPFWD_POLL_MAX spooled records, advance and persist the acked offset,
 * delete fully acked spool segments.  Call every tick; now is CLOCK_MONOTONIC
 * ms.  0, or -1 on a spool I/O error (rsyslog being down is not an error of
 * the poll: it is counted and retried). */
int relpfwd_poll(struct relpfwd *f, int64_t now);

void relpfwd_stats(const struct relpfwd *f, struct relpfwd_stats *st);

/* Close the session (gracefully, so acked work is recorded) and free. */
void relpfwd_free(struct relpfwd *f);

#endif
