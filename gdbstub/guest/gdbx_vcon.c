/*
 * virtio-console transport (port UK_VCON_GDB): same protocol, no per-byte
 * port I/O.  The port's RX interrupt enters the stub like COM2's; while the
 * world is stopped the stub polls the port (uk_vcon_poll).
 */
#include "gdbx.h"

#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/vcon.h>

static struct uk_vcon_port *port;
static uint8_t rxbuf[512];
static size_t rx_pos, rx_len;

static int vcon_getc(void)
{
    if (rx_pos == rx_len) {
        rx_pos = 0;
        rx_len = uk_vcon_read(port, rxbuf, sizeof(rxbuf));
        if (!rx_len)
            return -1;
    }
    return rxbuf[rx_pos++];
}

static void vcon_write(const uint8_t *buf, size_t len)
{
    /* Writes take what fits; with the world stopped, reap and retry.  A host
     * that went away gets nothing (never spin on a dead port). */
    unsigned idle = 0;
    while (len && uk_vcon_host_connected(port) && idle < 1000000) {
        size_t n = uk_vcon_write(port, buf, len);
        buf += n;
        len -= n;
        if (n)
            idle = 0;
        else {
            uk_vcon_poll(port);
            uk_cpu_relax();
            idle++;
        }
    }
}

static void vcon_poll(void)
{
    uk_vcon_poll(port);
}

/* The host closed the port (QEMU: the socket's client disconnected). */
static bool vcon_peer_gone(void)
{
    return !uk_vcon_host_connected(port);
}

static const struct gdbx_transport vcon_transport = {
    .name = "virtio-console " UK_VCON_GDB,
    .getc = vcon_getc,
    .write = vcon_write,
    .poll = vcon_poll,
    .peer_gone = vcon_peer_gone,
};

static void vcon_rx(struct uk_vcon_port *p, struct uk_trap_frame *tf, void *arg)
{
    int c;
    while ((c = vcon_getc()) >= 0)
        gdbx_rx_byte(&vcon_transport, tf, c);
}

static bool try_open(void)
{
    if (uk_vcon_open(UK_VCON_GDB, 0, &port) != UK_OK)
        return false;
    if (uk_vcon_set_rx_handler(port, vcon_rx, NULL)) {
        uk_warn("gdb: cannot take the %s RX interrupt", UK_VCON_GDB);
        return true;
    }
    gdbx_add_transport(&vcon_transport);
    uk_log(UK_LOG_INFO, "gdb: also listening on %s", vcon_transport.name);
    return true;
}

/* Port names arrive from the host shortly after the driver starts: retry
 * without blocking from CPU 0's idle loop for a while (initcalls must not
 * wait for a device that may not exist). */
static void idle_retry(unsigned cpu, void *arg)
{
    static unsigned tries;
    static bool done;
    if (done || cpu != 0)
        return;
    done = try_open() || ++tries > 2000;
}

/* After the drivers (the vcon driver binds at DRIVER level). */
static void gdbx_vcon_init(void)
{
    if (gdbx_enabled() && !try_open())
        uk_idle_hook_register(idle_retry, NULL);
}
UK_INITCALL_SERVICE(gdbx_vcon_init);
