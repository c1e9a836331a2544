/*
 * virtio-console driver with VIRTIO_CONSOLE_F_MULTIPORT (virtio 1.x, 5.3):
 * named byte-stream ports to the host; API in <uk/vcon.h>, control
 * messages in vcon_ctrl.c / vcon_internal.h, the port API in vcon_port.c,
 * shared state in vcon_driver.h, design in docs/virtio.md.
 *
 * Buffers: every port owns VCON_RX_BUFS receive and VCON_TX_BUFS transmit
 * buffers of VCON_BUF_SIZE bytes, allocated at init (no allocation later,
 * so nothing here allocates in interrupt context).  A completed receive
 * buffer waits in the port's rx FIFO until uk_vcon_read drains it and only
 * then goes back to the device: a slow reader throttles the host (QEMU
 * stops reading its socket) instead of losing bytes.  Writes copy into a
 * free transmit buffer; none free or no host: the bytes are dropped and
 * counted.
 *
 * Locking:
 *  - vcon_lock (global, irqsave) guards the control queues of all devices,
 *    port presence/name/open state, and vcon_names_wq.  Taken by the interrupt
 *    handler, uk_vcon_open and uk_vcon_poll.
 *  - port->lock (irqsave) guards the port's two virtqueues, buffers, rx
 *    FIFO and counters.  Order: vcon_lock may be held while taking a port
 *    lock (DEVICE_ADD posts the port's buffers), never the reverse; data
 *    paths take only the port lock, so ports never contend with each other.
 *  With interrupts off (a debugger with the world stopped: the CPU holding
 *  a lock may be frozen) both are taken by vcon_lock_bounded: try for at most
 *  VCON_LOCK_WAIT_NS, then give up (read returns 0, write drops, poll skips)
 *  rather than hang the debugger.  Port state flags are read without the
 *  lock (UK_READ_ONCE): a stale value only moves one write across a
 *  connect/disconnect edge.
 */
#include <string.h>
#include <uk/cpu.h>
#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/time.h>

#include "vcon_driver.h"

struct vcon_dev vcon_devs[VCON_DEVS_MAX];
unsigned vcon_ndevs;
struct uk_spinlock vcon_lock = UK_SPINLOCK_INIT;
struct uk_waitq vcon_names_wq = UK_WAITQ_INIT;

/* ------------------------------------------------------------- locking --- */

bool vcon_lock_bounded(struct uk_spinlock *l, unsigned long *flags)
{
    uint64_t deadline = 0;

    if (uk_irq_enabled()) {
        *flags = uk_spin_lock_irqsave(l);
        return true;
    }
    *flags = uk_irq_save();
    for (unsigned i = 0;; i++) {
        if (uk_spin_trylock(l))
            return true;
        if (i == 64)
            deadline = uk_time_ns() + VCON_LOCK_WAIT_NS;
        else if (i > 64 && uk_time_ns() > deadline)
            return false;
        uk_cpu_relax();
    }
}

/* ------------------------------------------------------------- control --- */

/* Queue an 8-byte control message; vcon_lock held. */
void vcon_ctrl_send(struct vcon_dev *d, uint32_t id, enum vcon_ctrl_event ev, uint16_t value)
{
    struct uk_virtq_buf b;
    void *tok;
    unsigned i;

    while ((tok = uk_virtq_get(d->ctxq, NULL)))
        d->ctx_free[d->ctx_nfree++] = (uint8_t)((uint8_t(*)[VCON_CTRL_HDR_LEN])tok - d->ctx);
    if (d->ctx_nfree == 0) {
        d->ctrl_drops++;
        uk_warn("vcon: control queue full, event %u for port %u dropped", ev, id);
        return;
    }
    i = d->ctx_free[--d->ctx_nfree];
    vcon_ctrl_encode(d->ctx[i], id, ev, value);
    b = (struct uk_virtq_buf){d->ctx[i], VCON_CTRL_HDR_LEN, false};
    if (uk_virtq_add(d->ctxq, &b, 1, d->ctx[i])) {
        d->ctx_free[d->ctx_nfree++] = (uint8_t)i;
        d->ctrl_drops++;
        return;
    }
    uk_virtq_kick(d->ctxq);
}

static void ctrl_handle(struct vcon_dev *d, const struct vcon_ctrl_msg *m)
{
    struct uk_vcon_port *p = &d->ports[m->id];

    switch (m->event) {
    case VCON_DEVICE_ADD:
        if (m->id >= d->nports || !p->usable) {
            uk_warn("vcon: port %u not supported (max %u)", m->id, d->nports);
            vcon_ctrl_send(d, m->id, VCON_PORT_READY, 0);
            return;
        }
        if (!p->rx_posted) {
            unsigned long f = uk_spin_lock_irqsave(&p->lock);
            for (unsigned i = 0; i < VCON_RX_BUFS; i++)
                vcon_rx_post(p, i);
            uk_virtq_kick(p->rxq);
            p->rx_posted = true;
            uk_spin_unlock_irqrestore(&p->lock, f);
        }
        UK_WRITE_ONCE(p->present, true);
        vcon_ctrl_send(d, m->id, VCON_PORT_READY, 1);
        if (p->guest_open) /* re-added while a user holds it open */
            vcon_ctrl_send(d, m->id, VCON_PORT_OPEN, 1);
        return;
    case VCON_DEVICE_REMOVE:
        UK_WRITE_ONCE(p->present, false);
        UK_WRITE_ONCE(p->host_open, false);
        p->name[0] = '\0';
        return;
    case VCON_PORT_NAME:
        if (!p->present)
            break;
        memcpy(p->name, m->name, sizeof(p->name));
        uk_info("vcon: port %u is \"%s\"", m->id, p->name);
        uk_waitq_wake_all(&vcon_names_wq);
        return;
    case VCON_PORT_OPEN:
        if (!p->present)
            break;
        UK_WRITE_ONCE(p->host_open, m->value != 0);
        return;
    case VCON_CONSOLE_PORT: /* an unnamed console (virtconsole): unused */
    case VCON_RESIZE:
        return;
    default:
        break;
    }
    d->bad_msgs++;
}

/* Drain the control receive queue; vcon_lock held. */
void vcon_ctrl_process(struct vcon_dev *d)
{
    uint8_t msg[VCON_CTRL_BUF_SIZE];
    struct vcon_ctrl_msg m;
    uint32_t len;
    void *tok;

    while ((tok = uk_virtq_get(d->crxq, &len))) {
        struct uk_virtq_buf b = {tok, VCON_CTRL_BUF_SIZE, true};

        len = UK_MIN(len, VCON_CTRL_BUF_SIZE);
        memcpy(msg, tok, len);
        /* Repost first: QEMU drops control messages when no buffer waits. */
        uk_virtq_add(d->crxq, &b, 1, tok);
        uk_virtq_kick(d->crxq);
        if (vcon_ctrl_parse(msg, len, d->nports, &m)) {
            d->bad_msgs++;
            uk_warn("vcon: bad control message (%u bytes) ignored", (unsigned)len);
            continue;
        }
        ctrl_handle(d, &m);
    }
}

/* --------------------------------------------------------- interrupts --- */

static void vcon_irq(struct uk_virtio_dev *vdev, void *arg)
{
    struct vcon_dev *d = arg;
    unsigned long f;

    if (vcon_lock_bounded(&vcon_lock, &f)) {
        vcon_ctrl_process(d);
        uk_spin_unlock_irqrestore(&vcon_lock, f);
    }
    for (unsigned i = 0; i < d->nports; i++) {
        struct uk_vcon_port *p = &d->ports[i];
        uk_vcon_rx_fn fn = NULL;
        void *fn_arg = NULL;
        bool got;

        if (!p->usable || !vcon_lock_bounded(&p->lock, &f))
            continue;
        got = vcon_port_harvest(p);
        if (got || p->rx_count) {
            fn = p->rx_fn;
            fn_arg = p->rx_arg;
        }
        uk_spin_unlock_irqrestore(&p->lock, f);
        if (got && fn) /* outside the lock: it will call uk_vcon_read */
            fn(p, vdev->irq_tf, fn_arg);
    }
}

/* --------------------------------------------------------------- init --- */

static uk_result port_setup(struct vcon_dev *d, unsigned id)
{
    struct uk_vcon_port *p = &d->ports[id];
    uk_result r;

    p->dev = d;
    p->id = id;
    r = uk_virtio_queue_setup(d->vdev, vcon_port_rxq(id), VCON_RX_BUFS, &p->rxq);
    if (!r)
        r = uk_virtio_queue_setup(d->vdev, vcon_port_txq(id), VCON_TX_BUFS, &p->txq);
    if (r)
        return r;
    if (p->rxq->size < VCON_RX_BUFS || p->txq->size < VCON_TX_BUFS)
        return UK_ENOSYS;
    p->rxbuf = uk_page_alloc((VCON_RX_BUFS + VCON_TX_BUFS) * VCON_BUF_SIZE / UK_PAGE_SIZE);
    if (!p->rxbuf)
        return UK_ENOMEM;
    p->txbuf = p->rxbuf + VCON_RX_BUFS * VCON_BUF_SIZE;
    for (unsigned i = 0; i < VCON_TX_BUFS; i++)
        p->tx_free[i] = (uint8_t)i;
    p->tx_nfree = VCON_TX_BUFS;
    p->usable = true;
    return UK_OK;
}

static uk_result dev_setup(struct vcon_dev *d)
{
    uint32_t max_ports;
    uint8_t *page;
    uk_result r;

    if (!(d->vdev->features & VIRTIO_CONSOLE_F_MULTIPORT)) {
        uk_warn("vcon: device without MULTIPORT: no named ports, left unused");
        return UK_ENOSYS;
    }
    max_ports = uk_virtio_cfg_read32(d->vdev, VCON_CFG_MAX_NR_PORTS);
    d->nports = UK_MIN(max_ports, VCON_PORTS_MAX);
    if (max_ports > VCON_PORTS_MAX)
        uk_warn("vcon: device has %u ports, using the first %u", max_ports, VCON_PORTS_MAX);
    r = uk_virtio_queue_setup(d->vdev, VCON_CTRL_RXQ, VCON_CTRL_BUFS, &d->crxq);
    if (!r)
        r = uk_virtio_queue_setup(d->vdev, VCON_CTRL_TXQ, VCON_CTRL_BUFS, &d->ctxq);
    if (r)
        return r;
    if (d->crxq->size < VCON_CTRL_BUFS || d->ctxq->size < VCON_CTRL_BUFS)
        return UK_ENOSYS;
    page = uk_page_alloc(1);
    if (!page)
        return UK_ENOMEM;
    d->crx = page;
    d->ctx = (uint8_t(*)[VCON_CTRL_HDR_LEN])(page + VCON_CTRL_BUFS * VCON_CTRL_BUF_SIZE);
    for (unsigned i = 0; i < VCON_CTRL_BUFS; i++)
        d->ctx_free[i] = (uint8_t)i;
    d->ctx_nfree = VCON_CTRL_BUFS;
    for (unsigned i = 0; i < d->nports; i++) {
        r = port_setup(d, i);
        if (r)
            uk_warn("vcon: port %u: queues: %s", i, uk_result_str(r));
    }
    for (unsigned i = 0; i < VCON_CTRL_BUFS; i++) {
        struct uk_virtq_buf b = {d->crx + i * VCON_CTRL_BUF_SIZE, VCON_CTRL_BUF_SIZE, true};
        uk_virtq_add(d->crxq, &b, 1, b.addr);
    }
    r = uk_virtio_set_irq(d->vdev, vcon_irq, d);
    if (r)
        return r;
    uk_virtio_driver_ok(d->vdev);
    unsigned long f = uk_spin_lock_irqsave(&vcon_lock);
    uk_virtq_kick(d->crxq);
    vcon_ctrl_send(d, 0, VCON_DEVICE_READY, 1);
    uk_spin_unlock_irqrestore(&vcon_lock, f);
    return UK_OK;
}

static void vcon_init(void)
{
    struct uk_virtio_dev *vdev;
    unsigned skip = 0; /* devices that refused features stay unclaimed */

    while (vcon_ndevs < VCON_DEVS_MAX) {
        uk_result r =
            uk_virtio_claim(UK_VIRTIO_ID_CONSOLE, skip, VIRTIO_CONSOLE_F_MULTIPORT, &vdev);
        if (r == UK_ENOENT)
            break;
        if (r) {
            skip++;
            continue;
        }
        struct vcon_dev *d = &vcon_devs[vcon_ndevs];
        d->vdev = vdev;
        r = dev_setup(d);
        if (r) { /* stays claimed, so the next claim finds the next device */
            uk_warn("vcon: device at 0x%lx not started: %s", (unsigned long)vdev->base,
                    uk_result_str(r));
            memset(d, 0, sizeof(*d));
            continue;
        }
        uk_info("vcon: device at 0x%lx, %u ports", (unsigned long)vdev->base, d->nports);
        /* Names may have arrived already: recheck waiters now that
         * find_name sees this device. */
        unsigned long f = uk_spin_lock_irqsave(&vcon_lock);
        UK_WRITE_ONCE(vcon_ndevs, vcon_ndevs + 1);
        uk_waitq_wake_all(&vcon_names_wq);
        uk_spin_unlock_irqrestore(&vcon_lock, f);
    }
}
UK_INITCALL_DRIVER(vcon_init);
