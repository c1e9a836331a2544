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
 */
#ifndef UKSCOPE_TELEMETRY_PRINT_H
#define UKSCOPE_TELEMETRY_PRINT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

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
};

void telem_stream_init(struct telem_stream *s, FILE *out, bool json);

/* Check e against the stream so far, then print it (and any gap). */
void telem_stream_envelope(struct telem_stream *s, const telem_envelope *e);

/* Print a decoder problem (kind: "error", "resync", "truncated"). */
void telem_stream_problem(struct telem_stream *s, const char *kind, const char *msg);

/* The summary line (JSON: {"event":"summary",...}). */
void telem_stream_summary(struct telem_stream *s);

/* Payload of e as a JSON object (new reference) / one text line (more for
 * metrics and crashes).  In telemetry_payload.c. */
json_t *telem_payload_json(const telem_envelope *e);
void telem_payload_text(FILE *out, const telem_envelope *e);

/* `ukctl telemetry` (telemetry_cmd.c). */
int telemetry_main(int argc, char **argv);

#endif
