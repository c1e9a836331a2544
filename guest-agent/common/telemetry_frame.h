/*
 * Telemetry framing, shared by the guest sender and the host decoder.
 *
 * A stream is a sequence of frames; a frame is the Envelope's encoded size
 * as a base-128 varint (protobuf style, least significant group first)
 * followed by that many bytes of a ukscope.telemetry.Envelope
 * (guest-agent/common/telemetry.proto).  See docs/telemetry.md.
 */
#ifndef UKSCOPE_TELEMETRY_FRAME_H
#define UKSCOPE_TELEMETRY_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* The largest frame body a reader accepts; the guest never sends more. */
#define TELEM_FRAME_MAX    (1u << 20)
/* Bytes of a length prefix for any body <= TELEM_FRAME_MAX (7 bits each). */
#define TELEM_VARINT_MAX   3
/* Heartbeat period. */
#define TELEM_HEARTBEAT_NS 1000000000ULL

/* Outcome of parsing a length prefix. */
enum telem_varint_result {
    TELEM_VARINT_OK = 0,   /* *value and *used are set */
    TELEM_VARINT_SHORT,    /* need more bytes */
    TELEM_VARINT_TOO_BIG,  /* longer than TELEM_VARINT_MAX bytes or > TELEM_FRAME_MAX */
    TELEM_VARINT_OVERLONG, /* non-minimal encoding (trailing zero group) */
};

/*
 * Encode v (<= TELEM_FRAME_MAX) into out[TELEM_VARINT_MAX]; returns the
 * number of bytes used (1..3).
 */
size_t telem_varint_put(uint8_t *out, uint32_t v);

/*
 * Parse a frame length from buf[0..len).  Rejects values above
 * TELEM_FRAME_MAX without reading more than TELEM_VARINT_MAX bytes, and
 * non-minimal encodings (so a resyncing reader cannot be fed zero-padded
 * prefixes).
 */
enum telem_varint_result telem_varint_get(const uint8_t *buf, size_t len, uint32_t *value,
                                          size_t *used);

#endif
