/*
 * Host decoder of the telemetry stream (guest-agent/common/telemetry.proto,
 * framing in telemetry_frame.h).  The input is hostile: every frame is
 * bounded (TELEM_FRAME_MAX), decoded by libprotobuf-c into fresh memory,
 * and checked before use.
 *
 * Resync policy: after a bad frame (length prefix too big or non-minimal,
 * body that does not decode, envelope without a payload) the decoder
 * reports one error and then drops one byte at a time until a position
 * where a whole frame decodes to an envelope with a payload and a sequence
 * number above the last good one, and at most TELEM_RESYNC_MAX long (so
 * garbage cannot make every byte cost a megabyte of decoding); it then
 * reports how many bytes it skipped.  A candidate whose announced length is
 * not buffered yet does not stall the resync when a complete good frame
 * follows it in the buffer.  Length-delimited streams carry no sync marker, so resync is a
 * heuristic; it is bounded (each byte is examined at most once per
 * candidate, candidates are at most TELEM_FRAME_MAX long) and never trusts
 * the data it skipped.
 */
#ifndef UKSCOPE_TELEMETRY_DECODE_H
#define UKSCOPE_TELEMETRY_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry.pb-c.h"
#include "telemetry_frame.h"

typedef Ukscope__Telemetry__Envelope telem_envelope;

/* Largest frame body accepted as a resync point. */
#define TELEM_RESYNC_MAX (64u * 1024)

struct telem_decoder {
    uint8_t *buf; /* TELEM_FRAME_MAX + TELEM_VARINT_MAX bytes */
    size_t start; /* first unread byte */
    size_t len;   /* bytes buffered from start */
    bool resyncing;
    bool eof; /* no more input will come */
    bool have_seq;
    uint64_t last_seq; /* of the last good envelope */
    uint64_t skipped;  /* bytes dropped in the current resync */
    uint64_t total_skipped;
    uint64_t errors; /* bad frames reported */
};

enum telem_dec_status {
    TELEM_DEC_FRAME = 0, /* *out is an envelope; free with telem_envelope_free */
    TELEM_DEC_MORE,      /* need more input */
    TELEM_DEC_ERROR,     /* err says what; call again to continue */
    TELEM_DEC_RESYNCED,  /* err says how many bytes were skipped, and *out is the
                          * first good envelope after them (free it too) */
};

/* 0, or -1 (out of memory). */
int telem_dec_init(struct telem_decoder *d);
void telem_dec_free(struct telem_decoder *d);

/* Free space for telem_dec_feed; never 0 after telem_dec_next returned MORE. */
size_t telem_dec_room(const struct telem_decoder *d);

/* Append n <= telem_dec_room() bytes; returns bytes taken. */
size_t telem_dec_feed(struct telem_decoder *d, const uint8_t *data, size_t n);

/* Next event from the buffered bytes. */
enum telem_dec_status telem_dec_next(struct telem_decoder *d, telem_envelope **out, char *err,
                                     size_t errlen);

/* No more input: call before the last telem_dec_next round, so that a
 * resync does not wait for bytes that will never come. */
void telem_dec_eof(struct telem_decoder *d);

/*
 * End of input: -1 with err set if bytes are left (a truncated frame or
 * garbage being skipped), else 0.
 */
int telem_dec_finish(struct telem_decoder *d, char *err, size_t errlen);

void telem_envelope_free(telem_envelope *e);

#endif
