/*
 * virtio-console driver with VIRTIO_CONSOLE_F_MULTIPORT (virtio 1.x, 5.3):
 * named byte-stream ports to the host; API in <uk/vcon.h>, control
 * messages in vcon_ctrl.c / vcon_internal.h, design in docs/virtio.md.
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
 *    port presence/name/open state, and names_wq.  Taken by the interrupt
 *    handler, uk_vcon_open and uk_vcon_poll.
 *  - port->lock (irqsave) guards the port's two virtqueues, buffers, rx
 *    FIFO and counters.  Never held together with vcon_lock.
 *  With interrupts off (a debugger with the world stopped: the CPU holding
 *  a lock may be frozen) both are taken by lock_bounded: try for at most
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
#include <uk/sync.h>
#include <uk/time.h>
#include <uk/vcon.h>
#include <uk/virtio.h>

#include "vcon_internal.h"

#define VCON_DEVS_MAX       2
#define VCON_PORTS_MAX      ((UK_VIRTQ_MAX - 2) / 2) /* queues 2n+2/2n+3 < UK_VIRTQ_MAX */
#define VCON_BUF_SIZE       4096
#define VCON_RX_BUFS        8
#define VCON_TX_BUFS        16
#define VCON_CTRL_BUFS      16  /* each of rx and tx */
#define VCON_CTRL_BUF_SIZE  128 /* header + name of up to VCON_NAME_MAX + NUL */
#define VCON_LOCK_WAIT_NS   UK_MSEC(50)

struct vcon_dev;

struct uk_vcon_port {
    struct vcon_dev *dev;
    unsigned id;
    bool usable; /* queues and buffers set up */
    struct uk_spinlock lock;
    struct uk_virtq *rxq, *txq;
    uint8_t *rxbuf, *txbuf; /* VCON_*_BUFS * VCON_BUF_SIZE each */
    bool rx_posted;         /* receive buffers handed to the device once */
    uint8_t rx_fifo[VCON_RX_BUFS]; /* completed receive buffers, oldest first */
    uint32_t rx_len[VCON_RX_BUFS]; /* bytes the device wrote, per buffer */
    unsigned rx_head, rx_count;
    uint32_t rx_off; /* bytes of the FIFO head already read */
    uint8_t tx_free[VCON_TX_BUFS];
    unsigned tx_nfree;
    uk_vcon_rx_fn rx_fn;
    void *rx_arg;
    struct uk_vcon_stats st;
    /* Control state, written under vcon_lock. */
    bool present;    /* DEVICE_ADD seen, no DEVICE_REMOVE since */
    bool host_open;  /* PORT_OPEN value from the device */
    bool guest_open; /* we sent PORT_OPEN 1 (uk_vcon_open) */
    char name[VCON_NAME_MAX + 1];
};

struct vcon_dev {
    struct uk_virtio_dev *vdev;
    unsigned nports;
    struct uk_virtq *crxq, *ctxq;
    uint8_t *crx;            /* VCON_CTRL_BUFS * VCON_CTRL_BUF_SIZE */
    uint8_t (*ctx)[VCON_CTRL_HDR_LEN];
    uint8_t ctx_free[VCON_CTRL_BUFS];
    unsigned ctx_nfree;
    uint64_t bad_msgs, ctrl_drops;
    struct uk_vcon_port ports[VCON_PORTS_MAX];
};

static struct vcon_dev devs[VCON_DEVS_MAX];
static unsigned ndevs;
static struct uk_spinlock vcon_lock = UK_SPINLOCK_INIT;
static struct uk_waitq names_wq = UK_WAITQ_INIT; /* woken on PORT_NAME */

/* ------------------------------------------------------------- locking --- */

static bool lock_bounded(struct uk_spinlock *l, unsigned long *flags)
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

/* --------------------------------------------------------- port buffers --- */

static void rx_post(struct uk_vcon_port *p, unsigned i)
{
    struct uk_virtq_buf b = {p->rxbuf + i * VCON_BUF_SIZE, VCON_BUF_SIZE, true};

    /* Cannot fail: the queue has a descriptor for each of our buffers. */
    if (uk_virtq_add(p->rxq, &b, 1, b.addr))
        uk_warn("vcon port %u: rx buffer %u not posted", p->id, i);
}

/* Move completed buffers: rx to the FIFO, tx back to the free list.
 * port->lock held.  Returns true if new bytes arrived. */
static bool port_harvest(struct uk_vcon_port *p)
{
    bool got = false, repost = false;
    uint32_t len;
    void *tok;

    while ((tok = uk_virtq_get(p->txq, NULL)))
        p->tx_free[p->tx_nfree++] = (uint8_t)(((uint8_t *)tok - p->txbuf) / VCON_BUF_SIZE);
    while ((tok = uk_virtq_get(p->rxq, &len))) {
        unsigned i = (unsigned)(((uint8_t *)tok - p->rxbuf) / VCON_BUF_SIZE);

        if (len == 0) { /* nothing in it: give it straight back */
            rx_post(p, i);
            repost = true;
            continue;
        }
        p->rx_fifo[(p->rx_head + p->rx_count) % VCON_RX_BUFS] = (uint8_t)i;
        p->rx_len[i] = UK_MIN(len, VCON_BUF_SIZE); /* the device may lie */
        p->rx_count++;
        got = true;
    }
    if (repost)
        uk_virtq_kick(p->rxq);
    return got;
}

/* ------------------------------------------------------------- control --- */

/* Queue an 8-byte control message; vcon_lock held. */
static void ctrl_send(struct vcon_dev *d, uint32_t id, enum vcon_ctrl_event ev, uint16_t value)
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
            ctrl_send(d, m->id, VCON_PORT_READY, 0);
            return;
        }
        if (!p->rx_posted) {
            unsigned long f = uk_spin_lock_irqsave(&p->lock);
            for (unsigned i = 0; i < VCON_RX_BUFS; i++)
                rx_post(p, i);
            uk_virtq_kick(p->rxq);
            p->rx_posted = true;
            uk_spin_unlock_irqrestore(&p->lock, f);
        }
        UK_WRITE_ONCE(p->present, true);
        ctrl_send(d, m->id, VCON_PORT_READY, 1);
        if (p->guest_open) /* re-added while a user holds it open */
            ctrl_send(d, m->id, VCON_PORT_OPEN, 1);
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
        uk_waitq_wake_all(&names_wq);
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
static void ctrl_process(struct vcon_dev *d)
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

    if (lock_bounded(&vcon_lock, &f)) {
        ctrl_process(d);
        uk_spin_unlock_irqrestore(&vcon_lock, f);
    }
    for (unsigned i = 0; i < d->nports; i++) {
        struct uk_vcon_port *p = &d->ports[i];
        uk_vcon_rx_fn fn = NULL;
        void *fn_arg = NULL;
        bool got;

        if (!p->usable || !lock_bounded(&p->lock, &f))
            continue;
        got = port_harvest(p);
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
    ctrl_send(d, 0, VCON_DEVICE_READY, 1);
    uk_spin_unlock_irqrestore(&vcon_lock, f);
    return UK_OK;
}

static void vcon_init(void)
{
    struct uk_virtio_dev *vdev;
    unsigned skip = 0; /* devices that refused features stay unclaimed */

    while (ndevs < VCON_DEVS_MAX) {
        uk_result r = uk_virtio_claim(UK_VIRTIO_ID_CONSOLE, skip, VIRTIO_CONSOLE_F_MULTIPORT, &vdev);
        if (r == UK_ENOENT)
            break;
        if (r) {
            skip++;
            continue;
        }
        struct vcon_dev *d = &devs[ndevs];
        d->vdev = vdev;
        r = dev_setup(d);
        if (r) { /* stays claimed, so the next claim finds the next device */
            uk_warn("vcon: device at 0x%lx not started: %s", (unsigned long)vdev->base,
                    uk_result_str(r));
            memset(d, 0, sizeof(*d));
            continue;
        }
        uk_info("vcon: device at 0x%lx, %u ports", (unsigned long)vdev->base, d->nports);
        UK_WRITE_ONCE(ndevs, ndevs + 1);
    }
}
UK_INITCALL_DRIVER(vcon_init);

/* ---------------------------------------------------------------- API --- */

static struct uk_vcon_port *find_name(const char *name)
{
    for (unsigned i = 0; i < ndevs; i++)
        for (unsigned k = 0; k < devs[i].nports; k++) {
            struct uk_vcon_port *p = &devs[i].ports[k];
            if (p->present && p->name[0] && !strcmp(p->name, name))
                return p;
        }
    return NULL;
}

uk_result uk_vcon_open(const char *name, uint64_t timeout_ns, struct uk_vcon_port **out)
{
    uint64_t deadline = uk_time_ns() + timeout_ns;
    struct uk_vcon_port *p;
    unsigned long f;

    if (!name || !*name || !out)
        return UK_EINVAL;
    f = uk_spin_lock_irqsave(&vcon_lock);
    while (!(p = find_name(name))) {
        if (timeout_ns == 0 || uk_time_ns() >= deadline) {
            uk_spin_unlock_irqrestore(&vcon_lock, f);
            return UK_ENOENT;
        }
        uk_waitq_wait(&names_wq, &vcon_lock, deadline);
    }
    if (!p->guest_open) {
        p->guest_open = true;
        ctrl_send(p->dev, p->id, VCON_PORT_OPEN, 1);
    }
    uk_spin_unlock_irqrestore(&vcon_lock, f);
    *out = p;
    return UK_OK;
}

size_t uk_vcon_write(struct uk_vcon_port *p, const void *buf, size_t len)
{
    const uint8_t *src = buf;
    size_t done = 0;
    unsigned long f;

    if (!p || (!buf && len))
        return 0;
    if (!lock_bounded(&p->lock, &f)) {
        p->st.tx_dropped += len; /* racy but only a counter, and rare */
        return 0;
    }
    port_harvest(p);
    if (UK_READ_ONCE(p->present) && UK_READ_ONCE(p->host_open)) {
        while (done < len && p->tx_nfree) {
            unsigned i = p->tx_free[--p->tx_nfree];
            uint32_t n = (uint32_t)UK_MIN(len - done, VCON_BUF_SIZE);
            struct uk_virtq_buf b = {p->txbuf + i * VCON_BUF_SIZE, n, false};

            memcpy(b.addr, src + done, n);
            if (uk_virtq_add(p->txq, &b, 1, b.addr)) {
                p->tx_free[p->tx_nfree++] = (uint8_t)i;
                break;
            }
            done += n;
        }
        if (done)
            uk_virtq_kick(p->txq);
    }
    p->st.tx_bytes += done;
    p->st.tx_dropped += len - done;
    uk_spin_unlock_irqrestore(&p->lock, f);
    return done;
}

size_t uk_vcon_read(struct uk_vcon_port *p, void *buf, size_t len)
{
    uint8_t *dst = buf;
    size_t done = 0;
    bool repost = false;
    unsigned long f;

    if (!p || !buf || !p->usable || !lock_bounded(&p->lock, &f))
        return 0;
    port_harvest(p);
    while (done < len && p->rx_count) {
        unsigned i = p->rx_fifo[p->rx_head];
        uint32_t n = (uint32_t)UK_MIN(len - done, p->rx_len[i] - p->rx_off);

        memcpy(dst + done, p->rxbuf + i * VCON_BUF_SIZE + p->rx_off, n);
        done += n;
        p->rx_off += n;
        if (p->rx_off == p->rx_len[i]) { /* buffer empty: back to the device */
            p->rx_off = 0;
            p->rx_head = (p->rx_head + 1) % VCON_RX_BUFS;
            p->rx_count--;
            rx_post(p, i);
            repost = true;
        }
    }
    if (repost)
        uk_virtq_kick(p->rxq);
    p->st.rx_bytes += done;
    uk_spin_unlock_irqrestore(&p->lock, f);
    return done;
}

uk_result uk_vcon_set_rx_handler(struct uk_vcon_port *p, uk_vcon_rx_fn fn, void *arg)
{
    unsigned long f;

    if (!p || !p->usable)
        return UK_EINVAL;
    f = uk_spin_lock_irqsave(&p->lock);
    p->rx_fn = fn;
    p->rx_arg = arg;
    uk_spin_unlock_irqrestore(&p->lock, f);
    return UK_OK;
}

void uk_vcon_poll(struct uk_vcon_port *p)
{
    unsigned long f;

    if (!p || !p->usable)
        return;
    /* Control too: a host connecting while the world is stopped must be
     * seen, or every write would be dropped as "no host". */
    if (lock_bounded(&vcon_lock, &f)) {
        ctrl_process(p->dev);
        uk_spin_unlock_irqrestore(&vcon_lock, f);
    }
    if (lock_bounded(&p->lock, &f)) {
        port_harvest(p);
        uk_spin_unlock_irqrestore(&p->lock, f);
    }
}

bool uk_vcon_host_connected(const struct uk_vcon_port *p)
{
    return p && UK_READ_ONCE(p->present) && UK_READ_ONCE(p->host_open);
}

void uk_vcon_stats(const struct uk_vcon_port *p, struct uk_vcon_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!p)
        return;
    out->tx_bytes = UK_READ_ONCE(p->st.tx_bytes);
    out->rx_bytes = UK_READ_ONCE(p->st.rx_bytes);
    out->tx_dropped = UK_READ_ONCE(p->st.tx_dropped);
}
