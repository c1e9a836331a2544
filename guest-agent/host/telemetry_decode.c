/* Telemetry stream decoder; see telemetry_decode.h. */
#include "telemetry_decode.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEC_CAP (TELEM_FRAME_MAX + TELEM_VARINT_MAX)

int telem_dec_init(struct telem_decoder *d)
{
    memset(d, 0, sizeof(*d));
    d->buf = malloc(DEC_CAP);
    return d->buf ? 0 : -1;
}

void telem_dec_free(struct telem_decoder *d)
{
    free(d->buf);
    d->buf = NULL;
}

size_t telem_dec_room(const struct telem_decoder *d)
{
    return DEC_CAP - d->len;
}

size_t telem_dec_feed(struct telem_decoder *d, const uint8_t *data, size_t n)
{
    /* Compact lazily: skipping garbage byte by byte only moves `start`. */
    if (d->start) {
        memmove(d->buf, d->buf + d->start, d->len);
        d->start = 0;
    }
    if (n > DEC_CAP - d->len)
        n = DEC_CAP - d->len;
    memcpy(d->buf + d->len, data, n);
    d->len += n;
    return n;
}

void telem_envelope_free(telem_envelope *e)
{
    if (e)
        ukscope__telemetry__envelope__free_unpacked(e, NULL);
}

static void consume(struct telem_decoder *d, size_t n)
{
    d->start += n;
    d->len -= n;
    if (!d->len)
        d->start = 0;
}

/* Outcome of examining the frame at the start of the buffer. */
enum frame_check {
    FRAME_GOOD,
    FRAME_SHORT,
    FRAME_BAD,
};

/* Examine the frame `at` bytes past the first unread one. */
static enum frame_check try_frame(struct telem_decoder *d, size_t at, telem_envelope **out,
                                  size_t *flen, char *err, size_t errlen)
{
    const uint8_t *p = d->buf + d->start + at;
    size_t avail = d->len - at;
    uint32_t body;
    size_t pre;
    telem_envelope *e;

    switch (telem_varint_get(p, avail, &body, &pre)) {
    case TELEM_VARINT_SHORT:
        return FRAME_SHORT;
    case TELEM_VARINT_TOO_BIG:
        snprintf(err, errlen, "oversized frame: length prefix above %u bytes", TELEM_FRAME_MAX);
        return FRAME_BAD;
    case TELEM_VARINT_OVERLONG:
        snprintf(err, errlen, "bad frame: non-minimal length prefix");
        return FRAME_BAD;
    case TELEM_VARINT_OK:
        break;
    }
    if (d->resyncing && body > TELEM_RESYNC_MAX)
        return FRAME_BAD;
    if (avail - pre < body)
        return FRAME_SHORT;
    e = ukscope__telemetry__envelope__unpack(NULL, body, p + pre);
    if (!e) {
        snprintf(err, errlen, "garbage frame: %" PRIu32 " bytes that are not an Envelope", body);
        return FRAME_BAD;
    }
    if (e->payload_case == UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD__NOT_SET) {
        snprintf(err, errlen, "bad frame: envelope seq %" PRIu64 " without a payload", e->seq);
        telem_envelope_free(e);
        return FRAME_BAD;
    }
    /* While resyncing, a candidate must also move the sequence forward. */
    if (d->resyncing && d->have_seq && e->seq <= d->last_seq) {
        telem_envelope_free(e);
        return FRAME_BAD;
    }
    *out = e;
    *flen = pre + body;
    return FRAME_GOOD;
}

enum telem_dec_status telem_dec_next(struct telem_decoder *d, telem_envelope **out, char *err,
                                     size_t errlen)
{
    char why[160];
    size_t flen;

    *out = NULL;
    for (;;) {
        if (!d->len)
            return TELEM_DEC_MORE;
        switch (try_frame(d, 0, out, &flen, why, sizeof(why))) {
        case FRAME_SHORT:
            if (!d->resyncing)
                return TELEM_DEC_MORE; /* at EOF telem_dec_finish reports it */
            /*
             * Garbage may announce a length that never comes: rather than
             * wait for it, take a complete good frame further on if the
             * buffer holds one; at end of input, drop the byte.
             */
            for (size_t at = 1; at < d->len; at++) {
                if (try_frame(d, at, out, &flen, why, sizeof(why)) == FRAME_GOOD) {
                    d->skipped += at;
                    d->total_skipped += at;
                    consume(d, at);
                    goto good;
                }
            }
            if (d->eof) {
                consume(d, 1);
                d->skipped++;
                d->total_skipped++;
                continue;
            }
            return TELEM_DEC_MORE;
        case FRAME_GOOD:
        good:
            consume(d, flen);
            if (d->resyncing) {
                /* Report the resync first; the frame is held for the next call. */
                snprintf(err, errlen, "resynchronized after skipping %" PRIu64 " bytes",
                         d->skipped);
                d->resyncing = false;
                d->skipped = 0;
                d->have_seq = true;
                d->last_seq = (*out)->seq;
                return TELEM_DEC_RESYNCED;
            }
            d->have_seq = true;
            d->last_seq = (*out)->seq;
            return TELEM_DEC_FRAME;
        case FRAME_BAD:
            consume(d, 1);
            d->skipped++;
            d->total_skipped++;
            if (!d->resyncing) {
                d->resyncing = true;
                d->errors++;
                snprintf(err, errlen, "%s", why);
                return TELEM_DEC_ERROR;
            }
            break;
        }
    }
}

void telem_dec_eof(struct telem_decoder *d)
{
    d->eof = true;
}

int telem_dec_finish(struct telem_decoder *d, char *err, size_t errlen)
{
    uint32_t body;
    size_t pre;

    if (!d->len && !d->resyncing)
        return 0;
    if (d->resyncing)
        snprintf(err, errlen,
                 "stream ended while resynchronizing: %" PRIu64 " bytes skipped, %zu left",
                 d->skipped, d->len);
    else if (telem_varint_get(d->buf + d->start, d->len, &body, &pre) == TELEM_VARINT_OK)
        snprintf(err, errlen, "truncated frame at end of stream: %zu of %" PRIu32 " bytes",
                 d->len - pre, body);
    else
        snprintf(err, errlen, "truncated frame at end of stream: %zu bytes of a length prefix",
                 d->len);
    d->len = d->start = 0;
    d->resyncing = false;
    return -1;
}
