/*
 * virtio-console ports: the <uk/vcon.h> API over the buffers and queues set
 * up by virtio_console.c (design, locking and drop policy there and in
 * docs/virtio.md).
 */
#include <string.h>
#include <uk/cpu.h>
#include <uk/klog.h>
#include <uk/time.h>

#include "vcon_driver.h"

/* --------------------------------------------------------- port buffers --- */

void vcon_rx_post(struct uk_vcon_port *p, unsigned i)
{
    struct uk_virtq_buf b = {p->rxbuf + i * VCON_BUF_SIZE, VCON_BUF_SIZE, true};

    /* Cannot fail: the queue has a descriptor for each of our buffers. */
    if (uk_virtq_add(p->rxq, &b, 1, b.addr))
        uk_warn("vcon port %u: rx buffer %u not posted", p->id, i);
}

/* Move completed buffers: rx to the FIFO, tx back to the free list.
 * port->lock held.  Returns true if new bytes arrived. */
bool vcon_port_harvest(struct uk_vcon_port *p)
{
    bool got = false, repost = false;
    uint32_t len;
    void *tok;

    while ((tok = uk_virtq_get(p->txq, NULL)))
        p->tx_free[p->tx_nfree++] = (uint8_t)(((uint8_t *)tok - p->txbuf) / VCON_BUF_SIZE);
    while ((tok = uk_virtq_get(p->rxq, &len))) {
        unsigned i = (unsigned)(((uint8_t *)tok - p->rxbuf) / VCON_BUF_SIZE);

        if (len == 0) { /* nothing in it: give it straight back */
            vcon_rx_post(p, i);
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

/* ---------------------------------------------------------------- API --- */

static struct uk_vcon_port *find_name(const char *name)
{
    for (unsigned i = 0; i < vcon_ndevs; i++)
        for (unsigned k = 0; k < vcon_devs[i].nports; k++) {
            struct uk_vcon_port *p = &vcon_devs[i].ports[k];
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
        uk_waitq_wait(&vcon_names_wq, &vcon_lock, deadline);
    }
    if (!p->guest_open) {
        p->guest_open = true;
        vcon_ctrl_send(p->dev, p->id, VCON_PORT_OPEN, 1);
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

    if (!p || !p->usable || (!buf && len))
        return 0;
    if (!vcon_lock_bounded(&p->lock, &f)) {
        p->st.tx_dropped += len; /* racy but only a counter, and rare */
        return 0;
    }
    vcon_port_harvest(p);
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

    if (!p || !buf || !p->usable || !vcon_lock_bounded(&p->lock, &f))
        return 0;
    vcon_port_harvest(p);
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
            vcon_rx_post(p, i);
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
    if (vcon_lock_bounded(&vcon_lock, &f)) {
        vcon_ctrl_process(p->dev);
        uk_spin_unlock_irqrestore(&vcon_lock, f);
    }
    if (vcon_lock_bounded(&p->lock, &f)) {
        vcon_port_harvest(p);
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
