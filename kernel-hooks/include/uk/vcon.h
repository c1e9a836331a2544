/*
 * virtio-console ports (virtio 1.x, 5.3) with VIRTIO_CONSOLE_F_MULTIPORT:
 * byte streams to the host, found by the name QEMU gives them
 * (`-device virtserialport,chardev=X,name=NAME` on a
 * `-device virtio-serial-device`).  Used by the gdbstub's fast transport
 * (name UK_VCON_GDB) and the telemetry channel (UK_VCON_TELEMETRY).
 *
 * Contract: the driver binds every virtio-console device at UK_INIT_DRIVER
 * time and learns port names from the device's control queue.  Writes never
 * block: when the transmit ring is full or no host side is connected, they
 * take what fits (possibly nothing) and return the count, so a guest never
 * stalls on a slow host.  Reads never block.  All functions are safe from
 * thread context; uk_vcon_poll/read/write are also safe with interrupts off
 * (a stopped-world debugger polls): then they try the driver's locks for at
 * most 50 ms (a stopped CPU may hold one) and give up -- read returns 0,
 * write drops -- rather than hang.  Details: docs/virtio.md.
 */
#ifndef UK_VCON_H
#define UK_VCON_H

#include <uk/types.h>

#define UK_VCON_GDB "org.ukscope.gdb"
#define UK_VCON_TELEMETRY "org.ukscope.telemetry"

struct uk_vcon_port;
struct uk_trap_frame;

/*
 * Find the port called `name`.  Port names arrive from the host shortly
 * after the driver starts; this sleeps up to `timeout_ns` for the name to
 * appear (0: do not wait).  UK_ENOENT if there is no such port, UK_EINVAL
 * for a NULL/empty name or NULL out.  Thread context only.  The first open
 * tells the device the guest side is open (PORT_OPEN 1; QEMU delivers no
 * data before).  Opening again returns the same port; ports are never freed.
 */
uk_result uk_vcon_open(const char *name, uint64_t timeout_ns, struct uk_vcon_port **out);

/*
 * Queue up to len bytes for the host; returns how many were accepted.  The
 * bytes are copied (buf may be reused at once).  At most 64 KiB per port is
 * in flight; what does not fit, and everything while the host side is not
 * connected, is dropped and counted in tx_dropped.
 */
size_t uk_vcon_write(struct uk_vcon_port *p, const void *buf, size_t len);

/* Copy up to len received bytes into buf; returns the count (0: none).
 * Unread data is not lost: the host is throttled until it is read. */
size_t uk_vcon_read(struct uk_vcon_port *p, void *buf, size_t len);

/*
 * Call fn (in interrupt context, outside the driver's locks, so it may call
 * uk_vcon_read/write) when bytes arrive on the port; NULL removes it.  The
 * trap frame of the interrupted context is passed so a debugger can stop
 * there.  UK_EINVAL for a NULL or unusable port.
 */
typedef void (*uk_vcon_rx_fn)(struct uk_vcon_port *p, struct uk_trap_frame *tf, void *arg);
uk_result uk_vcon_set_rx_handler(struct uk_vcon_port *p, uk_vcon_rx_fn fn, void *arg);

/* Reap completed transmit buffers, collect received data and process the
 * device's control messages (e.g. the host connecting) without interrupts
 * (for a debugger polling with the world stopped). */
void uk_vcon_poll(struct uk_vcon_port *p);

/* True while the host side has the port open (PORT_OPEN from the device). */
bool uk_vcon_host_connected(const struct uk_vcon_port *p);

struct uk_vcon_stats {
    uint64_t tx_bytes, rx_bytes;
    uint64_t tx_dropped; /* bytes refused by uk_vcon_write (ring full or no host) */
};
void uk_vcon_stats(const struct uk_vcon_port *p, struct uk_vcon_stats *out);

#endif
