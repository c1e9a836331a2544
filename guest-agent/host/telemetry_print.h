/*
 * Checking and printing decoded telemetry envelopes (ukctl telemetry).
 *
 * Stream checks: each envelope's seq should be the previous one + 1; a jump
 * is a gap, "accounted" when the envelope's `lost` equals the number of
 * missing seqs (the guest dropped them), "unexplained" otherwise (lost on
 * the host side or corrupt stream).  When the reader saw the stream from
 * its start (first seq == its lost), every heartbeat's envelopes_lost must
 * equal the sum of `lost` seen so far and envelopes_produced its seq + 1:
 * that is the exact loss check.
 *
 * Envelopes the guest dropped before the first one this reader received
 * (the first envelope's `lost`: nobody was reading) are not reported as
 * lost but as "before_first"; the log records among them are replayed from
 * the kernel log ring (telem_stream_replay) and the copies the stream
 * delivers again later are not printed twice.
 */
#ifndef UKSCOPE_TELEMETRY_PRINT_H
#define UKSCOPE_TELEMETRY_PRINT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "klog_ring.h"
#include "telemetry_decode.h"

struct telem_stream {
    FILE *out;
    bool json;
    bool have;     /* an envelope was seen */
    bool complete; /* the first one accounted for every earlier seq */
    uint64_t last_seq;
    uint64_t frames;
    uint64_t lost_sum; /* sum of `lost` of the envelopes seen */
    uint64_t gaps, unexplained_gaps, restarts;
    uint64_t errors, skipped_bytes;
    uint64_t heartbeats, loss_checks_ok, loss_checks_bad;
    uint64_t crashes;
    uint64_t lost_before_first; /* the first envelope's `lost` */
    uint64_t replayed;          /* log records replayed from the klog ring */
    uint64_t replay_until;      /* LogRecords with klog_seq below were replayed */
    uint64_t replay_dups;       /* ... and arrived again: not printed */
};

void telem_stream_init(struct telem_stream *s, FILE *out, bool json);

/* Check e against the stream so far, then print it (and any gap). */
void telem_stream_envelope(struct telem_stream *s, const telem_envelope *e);

/* Print a log record replayed from the kernel log ring; call before the
 * first envelope, then set s->replay_until to the next unreplayed seq. */
void telem_stream_replay(struct telem_stream *s, const struct klog_record *r);

/* Print a decoder problem (kind: "error", "resync", "truncated"). */
void telem_stream_problem(struct telem_stream *s, const char *kind, const char *msg);

/* The summary line (JSON: {"event":"summary",...}). */
void telem_stream_summary(struct telem_stream *s);

/* Payload of e as a JSON object (new reference) / one text line (more for
 * metrics and crashes).  In telemetry_payload.c. */
json_t *telem_payload_json(const telem_envelope *e);
void telem_payload_text(FILE *out, const telem_envelope *e);

/*
 * Replay the kernel log ring found in the guest RAM file ram_path through
 * telem_stream_replay, up to its current head (telemetry_replay.c).  0
 * (err holds a note, or "") or -1 with err set.
 */
int telem_replay(const char *ram_path, struct telem_stream *s, char *err, size_t errlen);

/* `ukctl telemetry` (telemetry_cmd.c). */
int telemetry_main(int argc, char **argv);

#endif
