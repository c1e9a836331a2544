/*
 * Network devices: Ethernet frames in and out of the virtio-net driver
 * (drivers/virtio_net.c), for a network stack carried in by guest-agent/.
 *
 * Contract: the driver binds the first virtio-net device at DRIVER initcall
 * time.  Frames are copied in both directions (the stack owns no driver
 * buffers).  uk_netdev_rx/tx may be called from any thread and from the
 * rx-notify function's caller context (they take the driver's irqsave lock);
 * the stack normally calls them from one network thread.  Transmission never
 * blocks: a full transmit ring drops the frame and counts it.
 */
#ifndef UK_NETDEV_H
#define UK_NETDEV_H

#include <uk/types.h>

#define UK_NETDEV_MTU       1500
#define UK_NETDEV_FRAME_MAX 1514 /* Ethernet header + MTU, no FCS */

struct uk_netdev;

struct uk_netdev_stats {
    uint64_t rx_packets, rx_bytes;
    uint64_t rx_dropped; /* frames lost: bad length from the device, no buffer */
    uint64_t tx_packets, tx_bytes;
    uint64_t tx_dropped; /* frames refused: ring full or oversize */
    uint64_t interrupts;
};

/* The n-th network device (0: first), or UK_ENOENT. */
uk_result uk_netdev_get(unsigned n, struct uk_netdev **out);

/* Its MAC address (6 bytes). */
void uk_netdev_mac(const struct uk_netdev *d, uint8_t mac[6]);

/*
 * Copy the next received frame into buf (len bytes); returns the frame's
 * length, or 0 if none is pending.  A frame longer than len is dropped and
 * counted (rx_dropped), and the next one is tried.
 */
size_t uk_netdev_rx(struct uk_netdev *d, void *buf, size_t len);

/* Queue one frame (copied) for transmission.  UK_EAGAIN when the ring is full,
 * UK_EINVAL if len is 0 or > UK_NETDEV_FRAME_MAX (both counted in tx_dropped). */
uk_result uk_netdev_tx(struct uk_netdev *d, const void *frame, size_t len);

/*
 * fn(arg) is called in interrupt context when frames arrive (e.g. to wake
 * the network thread).  Set once, before traffic matters.
 */
void uk_netdev_set_rx_notify(struct uk_netdev *d, void (*fn)(void *arg), void *arg);

void uk_netdev_stats(const struct uk_netdev *d, struct uk_netdev_stats *out);

#endif
