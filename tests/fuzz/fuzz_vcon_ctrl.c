/* Fuzz vcon_ctrl_parse (virtio-console control messages written by the
 * device): no crash or UB; accepted messages satisfy the invariants and
 * re-encode to the same header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vcon_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    struct vcon_ctrl_msg m;
    uint8_t hdr[VCON_CTRL_HDR_LEN];
    uint8_t *copy;
    uint32_t max_ports;

    if (n < 1)
        return 0;
    max_ports = data[0] % 40; /* the first byte picks the device's port count */
    data++;
    n--;
    copy = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
    if (!copy)
        return 0;
    memcpy(copy, data, n);
    if (vcon_ctrl_parse(copy, n, max_ports, &m) == UK_OK) {
        size_t len = strnlen(m.name, sizeof(m.name));
        if (m.id >= max_ports || len >= sizeof(m.name))
            abort();
        if (m.event == VCON_DEVICE_READY || m.event == VCON_PORT_READY || m.event > VCON_PORT_NAME)
            abort();
        if (m.event == VCON_PORT_NAME) {
            if (len == 0 || len > VCON_NAME_MAX || memcmp(m.name, copy + VCON_CTRL_HDR_LEN, len))
                abort();
            for (size_t i = 0; i < len; i++)
                if (m.name[i] < 0x21 || m.name[i] > 0x7e)
                    abort();
        }
        vcon_ctrl_encode(hdr, m.id, m.event, m.value);
        if (memcmp(hdr, copy, VCON_CTRL_HDR_LEN))
            abort();
    }
    free(copy);
    return 0;
}
