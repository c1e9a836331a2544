/*
 * virtio-console (virtio 1.x, 5.3) internals shared by the driver
 * (virtio_console.c) and the control-message codec (vcon_ctrl.c), which is
 * pure so it also builds on the host for unit tests and fuzzing.
 */
#ifndef VCON_INTERNAL_H
#define VCON_INTERNAL_H

#include <uk/types.h>

/* Device feature bits (5.3.3). */
#define VIRTIO_CONSOLE_F_SIZE      (1ULL << 0)
#define VIRTIO_CONSOLE_F_MULTIPORT (1ULL << 1)

/* Config space layout (5.3.4): cols, rows, max_nr_ports, emerg_wr. */
enum vcon_cfg_offset {
    VCON_CFG_COLS = 0,
    VCON_CFG_ROWS = 2,
    VCON_CFG_MAX_NR_PORTS = 4,
};

/* Queue numbers (5.3.2): port 0 uses 0/1, control 2/3, port n>=1 2n+2/2n+3. */
enum { VCON_CTRL_RXQ = 2, VCON_CTRL_TXQ = 3 };
static inline unsigned vcon_port_rxq(unsigned port) { return port == 0 ? 0 : 2 * port + 2; }
static inline unsigned vcon_port_txq(unsigned port) { return port == 0 ? 1 : 2 * port + 3; }

/* Control events (5.3.6.2). */
enum vcon_ctrl_event {
    VCON_DEVICE_READY = 0,
    VCON_DEVICE_ADD = 1,
    VCON_DEVICE_REMOVE = 2,
    VCON_PORT_READY = 3,
    VCON_CONSOLE_PORT = 4,
    VCON_RESIZE = 5,
    VCON_PORT_OPEN = 6,
    VCON_PORT_NAME = 7,
};

/* struct virtio_console_control: le32 id, le16 event, le16 value; a
 * PORT_NAME message is followed by the name (QEMU adds a NUL). */
#define VCON_CTRL_HDR_LEN 8

/* Longest port name kept, without the NUL. */
#define VCON_NAME_MAX 63

/* A validated control message. */
struct vcon_ctrl_msg {
    uint32_t id; /* port number */
    enum vcon_ctrl_event event;
    uint16_t value;
    char name[VCON_NAME_MAX + 1]; /* PORT_NAME only; NUL-terminated */
};

/*
 * Parse one control message the device wrote (len bytes at buf; hostile).
 * UK_EINVAL: shorter than the header, an unknown event, a port id >=
 * max_ports, or a PORT_NAME whose name is empty, longer than
 * VCON_NAME_MAX, or contains bytes outside printable ASCII (0x21..0x7e)
 * before its terminating NUL (or the end of the buffer).
 */
uk_result vcon_ctrl_parse(const uint8_t *buf, size_t len, uint32_t max_ports,
                          struct vcon_ctrl_msg *out);

/* Encode a driver->device message (always 8 bytes) into out. */
void vcon_ctrl_encode(uint8_t out[VCON_CTRL_HDR_LEN], uint32_t id, enum vcon_ctrl_event event,
                      uint16_t value);

#endif
