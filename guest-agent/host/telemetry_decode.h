/*
 * Host decoder of the telemetry stream (guest-agent/common/telemetry.proto,
 * framing in telemetry_frame.h).  The input is hostile: every frame is
 * bounded (TELEM_FRAME_MAX), decoded by libprotobuf-c into fresh memory,
 * and checked before use.
 *
 * Resync policy (docs/telemetry.md): after a bad frame (length prefix too
 * big or non-minimal, body that does not decode, envelope without a payload)
 * the decoder reports one error, then looks for the next plausible frame.
 * The search is linear in the input:
 *  - a cursor visits every byte position once and applies an O(1) header
 *    check (minimal length prefix of 1..TELEM_RESYNC_MAX bytes, a body that
 *    starts like an Envelope: the last good envelope's instance_id when it
 *    had one, then a seq above the last good one); positions behind the
 *    cursor are never looked at again;
 *  - only a position that passes is unpacked, and unpacking during resync
 *    draws on a budget of TELEM_RESYNC_WORK bytes per input byte (starting
 *    at TELEM_RESYNC_MAX, never above TELEM_RESYNC_BUDGET_MAX, so a long
 *    clean stream cannot save up for a burst): crafted garbage made of overlapping
 *    plausible headers cannot make the decoder do more than that; a
 *    candidate the budget cannot pay for is rejected unread;
 *  - a candidate whose body has not arrived yet is remembered (at most
 *    TELEM_PENDING_MAX of them) and the cursor moves on, so a length that
 *    never comes does not stall the resync when a good frame follows it.
 * The first candidate that unpacks to an envelope with a payload and a seq
 * above the last good one ends the resync; the decoder then reports how many
 * bytes it skipped.  Length-delimited streams carry no sync marker, so the
 * resync point is plausible, not proven, and never trusts skipped data.
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
#define TELEM_RESYNC_MAX  (64u * 1024)
/* Unpack budget during resync: bytes of candidate body per input byte. */
#define TELEM_RESYNC_WORK 4u
/* Most unpack work a resync may have saved up. */
#define TELEM_RESYNC_BUDGET_MAX (1u << 20)
/* Candidates waiting for their body during one resync. */
#define TELEM_PENDING_MAX 4
/* Longest instance_id remembered for the resync header check. */
#define TELEM_ID_MAX      120

/* Work counters: what the decoder did, for tests and diagnostics. */
struct telem_dec_stats {
    uint64_t fed;            /* input bytes accepted */
    uint64_t positions;      /* resync positions header-checked */
    uint64_t unpacks;        /* protobuf unpack attempts */
    uint64_t unpack_bytes;   /* body bytes handed to them */
    uint64_t budget_refused; /* candidates rejected unread for lack of budget */
};

/* A resync candidate whose body is not buffered yet (offsets from start). */
struct telem_pending {
    size_t at, end;
};

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
    /* resync state */
    size_t scan;         /* next position to header-check, from start */
    size_t npending;
    struct telem_pending pending[TELEM_PENDING_MAX]; /* ascending `at` */
    uint64_t budget;     /* unpack bytes still allowed during resync */
    size_t id_len;       /* instance_id of the last good envelope */
    char id[TELEM_ID_MAX];
    struct telem_dec_stats stats;
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
