/*
 * Fuzz the host telemetry decoder: arbitrary bytes fed in pieces (the first
 * byte picks the piece size) through framing, protobuf decoding, the stream
 * checks and both printers.  Contract: never crashes or leaks, every status
 * is a documented one, and the decoder always makes progress.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "telemetry_print.h"

static void run(const uint8_t *data, size_t size, size_t step, bool json, FILE *out)
{
    struct telem_decoder d;
    struct telem_stream s;
    telem_envelope *e;
    char err[256];
    size_t off = 0;

    if (telem_dec_init(&d) < 0)
        abort();
    telem_stream_init(&s, out, json);
    while (off < size) {
        size_t n = size - off < step ? size - off : step, took;

        took = telem_dec_feed(&d, data + off, n);
        if (!took)
            abort(); /* after MORE there is always room: no stall */
        off += took;
        for (;;) {
            enum telem_dec_status st = telem_dec_next(&d, &e, err, sizeof(err));
            if (st == TELEM_DEC_MORE)
                break;
            if (st == TELEM_DEC_ERROR) {
                telem_stream_problem(&s, "error", err);
                continue;
            }
            if (st != TELEM_DEC_FRAME && st != TELEM_DEC_RESYNCED)
                abort();
            if (!e)
                abort();
            telem_stream_envelope(&s, e);
            telem_envelope_free(e);
        }
    }
    telem_dec_eof(&d);
    while (telem_dec_next(&d, &e, err, sizeof(err)) != TELEM_DEC_MORE)
        if (e) {
            telem_stream_envelope(&s, e);
            telem_envelope_free(e);
        }
    if (telem_dec_finish(&d, err, sizeof(err)) < 0)
        telem_stream_problem(&s, "truncated", err);
    telem_stream_summary(&s);
    telem_dec_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *out;

    if (!out)
        out = fopen("/dev/null", "w");
    if (size == 0)
        return 0;
    run(data + 1, size - 1, (size_t)(data[0] % 64) + 1, data[0] & 0x80, out);
    return 0;
}
