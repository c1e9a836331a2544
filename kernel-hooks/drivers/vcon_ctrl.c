/* virtio-console control-message codec; see vcon_internal.h.  Pure: no
 * kernel calls, so it is unit-tested and fuzzed on the host. */
#include "vcon_internal.h"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

uk_result vcon_ctrl_parse(const uint8_t *buf, size_t len, uint32_t max_ports,
                          struct vcon_ctrl_msg *out)
{
    uint16_t event;
    size_t n;

    if (!buf || !out || len < VCON_CTRL_HDR_LEN)
        return UK_EINVAL;
    out->id = le32(buf);
    event = le16(buf + 4);
    out->value = le16(buf + 6);
    out->name[0] = '\0';
    if (out->id >= max_ports)
        return UK_EINVAL;
    switch ((enum vcon_ctrl_event)event) {
    case VCON_DEVICE_ADD:
    case VCON_DEVICE_REMOVE:
    case VCON_CONSOLE_PORT:
    case VCON_RESIZE:
    case VCON_PORT_OPEN:
        break;
    case VCON_PORT_NAME:
        /* The name runs to its NUL or to the end of what the device wrote. */
        buf += VCON_CTRL_HDR_LEN;
        len -= VCON_CTRL_HDR_LEN;
        for (n = 0; n < len && buf[n]; n++) {
            if (n >= VCON_NAME_MAX || buf[n] < 0x21 || buf[n] > 0x7e)
                return UK_EINVAL;
            out->name[n] = (char)buf[n];
        }
        if (n == 0)
            return UK_EINVAL;
        out->name[n] = '\0';
        break;
    default: /* DEVICE_READY and PORT_READY only go driver -> device */
        return UK_EINVAL;
    }
    out->event = (enum vcon_ctrl_event)event;
    return UK_OK;
}

void vcon_ctrl_encode(uint8_t out[VCON_CTRL_HDR_LEN], uint32_t id, enum vcon_ctrl_event event,
                      uint16_t value)
{
    out[0] = (uint8_t)id;
    out[1] = (uint8_t)(id >> 8);
    out[2] = (uint8_t)(id >> 16);
    out[3] = (uint8_t)(id >> 24);
    out[4] = (uint8_t)event;
    out[5] = (uint8_t)(event >> 8);
    out[6] = (uint8_t)value;
    out[7] = (uint8_t)(value >> 8);
}
