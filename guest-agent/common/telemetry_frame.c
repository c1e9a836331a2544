/* Telemetry length prefixes; see telemetry_frame.h. */
#include "telemetry_frame.h"

size_t telem_varint_put(uint8_t *out, uint32_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

enum telem_varint_result telem_varint_get(const uint8_t *buf, size_t len, uint32_t *value,
                                          size_t *used)
{
    uint32_t v = 0;
    size_t i;

    for (i = 0; i < TELEM_VARINT_MAX; i++) {
        if (i >= len)
            return TELEM_VARINT_SHORT;
        v |= (uint32_t)(buf[i] & 0x7f) << (7 * i);
        if (!(buf[i] & 0x80)) {
            if (i > 0 && buf[i] == 0)
                return TELEM_VARINT_OVERLONG;
            if (v > TELEM_FRAME_MAX)
                return TELEM_VARINT_TOO_BIG;
            *value = v;
            *used = i + 1;
            return TELEM_VARINT_OK;
        }
    }
    return TELEM_VARINT_TOO_BIG;
}
