/* Telemetry stream decoder; see telemetry_decode.h. */
#include "telemetry_decode.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEC_CAP (TELEM_FRAME_MAX + TELEM_VARINT_MAX)

/* Wire tags of Envelope's top-level fields (field << 3 | wire type). */
enum env_tag {
    TAG_INSTANCE_ID = 0x0a,
    TAG_SEQ = 0x10,
    TAG_LOST = 0x18,
    TAG_TIME_NS = 0x20,
    TAG_LOG = 0x52,
    TAG_HEARTBEAT = 0x5a,
    TAG_METRICS = 0x62,
    TAG_CRASH = 0x6a,
};

int telem_dec_init(struct telem_decoder *d)
{
    memset(d, 0, sizeof(*d));
    d->budget = TELEM_RESYNC_MAX;
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
    /*
     * Compact only when the tail has no room: moving the buffered bytes on
     * every small read would cost their length per read.  Offsets are kept
     * relative to `start`, so they survive the move.
     */
    if (d->start && DEC_CAP - d->start - d->len < n) {
        memmove(d->buf, d->buf + d->start, d->len);
        d->start = 0;
    }
    if (n > DEC_CAP - d->len)
        n = DEC_CAP - d->len;
    memcpy(d->buf + d->start + d->len, data, n);
    d->len += n;
    d->stats.fed += n;
    d->budget += (uint64_t)TELEM_RESYNC_WORK * n;
    if (d->budget > TELEM_RESYNC_BUDGET_MAX)
        d->budget = TELEM_RESYNC_BUDGET_MAX;
    return n;
}

void telem_envelope_free(telem_envelope *e)
{
    if (e)
        ukscope__telemetry__envelope__free_unpacked(e, NULL);
}

/* Drop n buffered bytes; resync offsets move with them. */
static void consume(struct telem_decoder *d, size_t n)
{
    size_t i, k = 0;

    d->start += n;
    d->len -= n;
    if (!d->len)
        d->start = 0;
    d->scan = d->scan > n ? d->scan - n : 0;
    for (i = 0; i < d->npending; i++) {
        if (d->pending[i].at < n)
            continue;
        d->pending[k].at = d->pending[i].at - n;
        d->pending[k++].end = d->pending[i].end - n;
    }
    d->npending = k;
}

static void remember(struct telem_decoder *d, const telem_envelope *e)
{
    size_t n = e->instance_id ? strlen(e->instance_id) : 0;

    d->have_seq = true;
    d->last_seq = e->seq;
    d->id_len = n <= TELEM_ID_MAX ? n : 0;
    memcpy(d->id, e->instance_id ? e->instance_id : "", d->id_len);
}

/* Unpack a whole body and check it is a usable envelope; NULL if not. */
static telem_envelope *unpack(struct telem_decoder *d, const uint8_t *body, uint32_t len,
                              char *err, size_t errlen)
{
    telem_envelope *e;

    d->stats.unpacks++;
    d->stats.unpack_bytes += len;
    e = ukscope__telemetry__envelope__unpack(NULL, len, body);
    if (!e) {
        snprintf(err, errlen, "garbage frame: %" PRIu32 " bytes that are not an Envelope", len);
        return NULL;
    }
    if (e->payload_case == UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD__NOT_SET) {
        snprintf(err, errlen, "bad frame: envelope seq %" PRIu64 " without a payload", e->seq);
        telem_envelope_free(e);
        return NULL;
    }
    return e;
}

/* Outcome of the O(1) resync header check at one position. */
enum cand {
    CAND_NO,   /* not a plausible frame start */
    CAND_NEED, /* cannot tell until more bytes arrive */
    CAND_YES,  /* plausible: *pre and *body are set */
};

static bool is_env_tag(uint8_t t)
{
    switch ((enum env_tag)t) {
    case TAG_INSTANCE_ID: case TAG_SEQ: case TAG_LOST: case TAG_TIME_NS:
    case TAG_LOG: case TAG_HEARTBEAT: case TAG_METRICS: case TAG_CRASH:
        return true;
    }
    return false;
}

/*
 * Does a frame plausibly start `at` bytes past start?  Reads at most a
 * length prefix, the instance_id and the seq: constant work per position.
 */
static enum cand candidate(struct telem_decoder *d, size_t at, size_t *pre, uint32_t *body)
{
    const uint8_t *p = d->buf + d->start + at;
    size_t avail = d->len - at, i, lim;
    enum cand need = d->eof ? CAND_NO : CAND_NEED;
    uint64_t seq = 0;

    d->stats.positions++;
    switch (telem_varint_get(p, avail, body, pre)) {
    case TELEM_VARINT_SHORT:
        return need;
    case TELEM_VARINT_OK:
        break;
    default:
        return CAND_NO;
    }
    if (*body == 0 || *body > TELEM_RESYNC_MAX)
        return CAND_NO;
    p += *pre;
    avail -= *pre;
    lim = avail < *body ? avail : *body; /* bytes of the body we may read */
    i = 0;
    if (d->id_len) {
        if (*body < d->id_len + 2)
            return CAND_NO;
        if (lim < d->id_len + 2)
            return need;
        if (p[0] != TAG_INSTANCE_ID || p[1] != d->id_len || memcmp(p + 2, d->id, d->id_len))
            return CAND_NO;
        i = d->id_len + 2;
    }
    if (i >= *body)
        return CAND_NO; /* no room left for a payload */
    if (i >= lim)
        return need;
    if (!d->have_seq)
        return is_env_tag(p[i]) ? CAND_YES : CAND_NO;
    /* The seq must move forward: it is present (0 is not encoded) and larger. */
    if (p[i++] != TAG_SEQ)
        return CAND_NO;
    for (unsigned shift = 0; shift < 64; shift += 7, i++) {
        if (i >= *body)
            return CAND_NO;
        if (i >= lim)
            return need;
        seq |= (uint64_t)(p[i] & 0x7f) << shift;
        if (!(p[i] & 0x80))
            return seq > d->last_seq ? CAND_YES : CAND_NO;
    }
    return CAND_NO;
}

/* Unpack the candidate at `at` if the budget pays for it. */
static telem_envelope *try_candidate(struct telem_decoder *d, size_t at, size_t pre,
                                     uint32_t body)
{
    char why[160];
    telem_envelope *e;

    if (d->budget < body) {
        d->stats.budget_refused++;
        return NULL;
    }
    d->budget -= body;
    e = unpack(d, d->buf + d->start + at + pre, body, why, sizeof(why));
    if (e && d->have_seq && e->seq <= d->last_seq) {
        telem_envelope_free(e);
        e = NULL;
    }
    return e;
}

/* End the resync on the good frame at `at` (pre + body bytes long). */
static enum telem_dec_status resynced(struct telem_decoder *d, size_t at, size_t flen,
                                      telem_envelope *e, telem_envelope **out, char *err,
                                      size_t errlen)
{
    d->skipped += at;
    d->total_skipped += at;
    consume(d, at + flen);
    snprintf(err, errlen, "resynchronized after skipping %" PRIu64 " bytes", d->skipped);
    d->resyncing = false;
    d->skipped = 0;
    d->npending = 0;
    d->scan = 0;
    remember(d, e);
    *out = e;
    return TELEM_DEC_RESYNCED;
}

static enum telem_dec_status resync(struct telem_decoder *d, telem_envelope **out, char *err,
                                    size_t errlen)
{
    telem_envelope *e;
    size_t i, drop, pre;
    uint32_t body;

    /* Remembered candidates whose body is complete now, earliest first. */
    for (i = 0; i < d->npending;) {
        struct telem_pending c = d->pending[i];

        if (c.end > d->len) {
            i++;
            continue;
        }
        memmove(&d->pending[i], &d->pending[i + 1], (d->npending - i - 1) * sizeof(c));
        d->npending--;
        if (candidate(d, c.at, &pre, &body) != CAND_YES)
            continue;
        if ((e = try_candidate(d, c.at, pre, body)))
            return resynced(d, c.at, c.end - c.at, e, out, err, errlen);
    }
    while (d->scan < d->len) {
        enum cand k = candidate(d, d->scan, &pre, &body);

        if (k == CAND_NEED)
            break;
        if (k == CAND_YES && d->scan + pre + body <= d->len) {
            if ((e = try_candidate(d, d->scan, pre, body)))
                return resynced(d, d->scan, pre + body, e, out, err, errlen);
        } else if (k == CAND_YES && !d->eof && d->npending < TELEM_PENDING_MAX) {
            d->pending[d->npending].at = d->scan;
            d->pending[d->npending++].end = d->scan + pre + body;
        }
        d->scan++;
    }
    if (d->eof) {
        d->npending = 0;
        d->scan = d->len;
    }
    /* Bytes before the cursor and every remembered candidate are garbage. */
    drop = d->npending && d->pending[0].at < d->scan ? d->pending[0].at : d->scan;
    d->skipped += drop;
    d->total_skipped += drop;
    consume(d, drop);
    return TELEM_DEC_MORE;
}

enum telem_dec_status telem_dec_next(struct telem_decoder *d, telem_envelope **out, char *err,
                                     size_t errlen)
{
    const uint8_t *p = d->buf + d->start;
    uint32_t body;
    size_t pre;
    telem_envelope *e;

    *out = NULL;
    if (d->resyncing)
        return resync(d, out, err, errlen);
    if (!d->len)
        return TELEM_DEC_MORE;
    switch (telem_varint_get(p, d->len, &body, &pre)) {
    case TELEM_VARINT_SHORT:
        return TELEM_DEC_MORE; /* at EOF telem_dec_finish reports it */
    case TELEM_VARINT_TOO_BIG:
        snprintf(err, errlen, "oversized frame: length prefix above %u bytes", TELEM_FRAME_MAX);
        goto bad;
    case TELEM_VARINT_OVERLONG:
        snprintf(err, errlen, "bad frame: non-minimal length prefix");
        goto bad;
    case TELEM_VARINT_OK:
        break;
    }
    if (d->len - pre < body)
        return TELEM_DEC_MORE;
    if (!(e = unpack(d, p + pre, body, err, errlen)))
        goto bad;
    consume(d, pre + body);
    remember(d, e);
    *out = e;
    return TELEM_DEC_FRAME;
bad:
    /* Report once; the resync starts at the next byte. */
    d->resyncing = true;
    d->errors++;
    d->scan = 1;
    d->npending = 0;
    return TELEM_DEC_ERROR;
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
