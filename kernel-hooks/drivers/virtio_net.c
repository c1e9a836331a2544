/*
 * virtio-net (virtio 1.x, 5.1) over the virtio core: one receive and one
 * transmit queue, no offloads, frames copied through fixed 2 KiB buffers.
 *
 * With VERSION_1 the per-packet header is always the 12-byte form (with
 * num_buffers); without VIRTIO_NET_F_MRG_RXBUF every receive buffer must
 * hold a whole frame, so each buffer is header + 1514 bytes, rounded up.
 */
#include <string.h>
#include <uk/cpu.h>
#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/netdev.h>
#include <uk/sync.h>
#include <uk/virtio.h>

enum virtio_net_feature {
    VIRTIO_NET_F_MAC = 5,
};

enum virtio_net_queue {
    VNET_RXQ = 0,
    VNET_TXQ = 1,
};

struct virtio_net_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr) == 12, "virtio_net_hdr layout");

#define VNET_BUF_SIZE 2048
#define VNET_RING     128

struct vnet_buf {
    struct virtio_net_hdr hdr;
    uint8_t data[VNET_BUF_SIZE - sizeof(struct virtio_net_hdr)];
};
_Static_assert(sizeof(struct vnet_buf) == VNET_BUF_SIZE, "vnet_buf size");

struct uk_netdev {
    struct uk_virtio_dev *vdev;
    struct uk_virtq *rxq, *txq;
    struct uk_spinlock lock;
    uint8_t mac[6];
    struct vnet_buf *rxbufs, *txbufs; /* one per ring entry */
    uint16_t tx_free[VNET_RING];      /* stack of free tx buffer indices */
    unsigned tx_nfree;
    void (*notify)(void *arg);
    void *notify_arg;
    struct uk_netdev_stats st;
};

static struct uk_netdev vnet0;
static bool vnet0_ready;

/* Tokens must be non-NULL: buffer index + 1. */
static void *idx_token(unsigned i) { return (void *)(uintptr_t)(i + 1); }
static unsigned token_idx(void *t) { return (unsigned)((uintptr_t)t - 1); }

static uk_result rx_post(struct uk_netdev *d, unsigned i)
{
    struct uk_virtq_buf b = {&d->rxbufs[i], VNET_BUF_SIZE, true};
    return uk_virtq_add(d->rxq, &b, 1, idx_token(i));
}

static void vnet_irq(struct uk_virtio_dev *vd, void *arg)
{
    struct uk_netdev *d = arg;

    d->st.interrupts++;
    if (d->notify)
        d->notify(d->notify_arg);
}

/* Reap completed transmissions (lock held). */
static void tx_reap(struct uk_netdev *d)
{
    void *tok;

    while ((tok = uk_virtq_get(d->txq, NULL)) != NULL) {
        unsigned i = token_idx(tok);
        if (i < d->txq->size && d->tx_nfree < d->txq->size)
            d->tx_free[d->tx_nfree++] = (uint16_t)i;
    }
}

size_t uk_netdev_rx(struct uk_netdev *d, void *buf, size_t len)
{
    unsigned long fl = uk_spin_lock_irqsave(&d->lock);
    size_t got = 0;
    uint32_t wlen;
    void *tok;

    while ((tok = uk_virtq_get(d->rxq, &wlen)) != NULL) {
        unsigned i = token_idx(tok);
        if (i >= d->rxq->size)
            continue; /* cannot happen: the core validates ids */
        size_t flen = wlen > sizeof(struct virtio_net_hdr) ? wlen - sizeof(struct virtio_net_hdr) : 0;
        bool ok = flen > 0 && flen <= sizeof(d->rxbufs[i].data) && flen <= len;
        if (ok) {
            memcpy(buf, d->rxbufs[i].data, flen);
            d->st.rx_packets++;
            d->st.rx_bytes += flen;
            got = flen;
        } else {
            d->st.rx_dropped++;
        }
        if (rx_post(d, i) != UK_OK)
            d->st.rx_dropped++;
        uk_virtq_kick(d->rxq);
        if (ok)
            break;
    }
    uk_spin_unlock_irqrestore(&d->lock, fl);
    return got;
}

uk_result uk_netdev_tx(struct uk_netdev *d, const void *frame, size_t len)
{
    unsigned long fl;
    uk_result r = UK_OK;

    if (len == 0 || len > UK_NETDEV_FRAME_MAX) {
        __atomic_add_fetch(&d->st.tx_dropped, 1, __ATOMIC_RELAXED);
        return UK_EINVAL;
    }
    fl = uk_spin_lock_irqsave(&d->lock);
    tx_reap(d);
    if (d->tx_nfree == 0) {
        d->st.tx_dropped++;
        r = UK_EAGAIN;
        goto out;
    }
    unsigned i = d->tx_free[--d->tx_nfree];
    struct vnet_buf *b = &d->txbufs[i];
    memset(&b->hdr, 0, sizeof(b->hdr));
    memcpy(b->data, frame, len);
    struct uk_virtq_buf vb = {b, (uint32_t)(sizeof(b->hdr) + len), false};
    r = uk_virtq_add(d->txq, &vb, 1, idx_token(i));
    if (r != UK_OK) {
        d->tx_free[d->tx_nfree++] = (uint16_t)i;
        d->st.tx_dropped++;
        goto out;
    }
    uk_virtq_kick(d->txq);
    d->st.tx_packets++;
    d->st.tx_bytes += len;
out:
    uk_spin_unlock_irqrestore(&d->lock, fl);
    return r;
}

uk_result uk_netdev_get(unsigned n, struct uk_netdev **out)
{
    if (n != 0 || !vnet0_ready)
        return UK_ENOENT;
    *out = &vnet0;
    return UK_OK;
}

void uk_netdev_mac(const struct uk_netdev *d, uint8_t mac[6]) { memcpy(mac, d->mac, 6); }

void uk_netdev_set_rx_notify(struct uk_netdev *d, void (*fn)(void *arg), void *arg)
{
    unsigned long fl = uk_spin_lock_irqsave(&d->lock);
    d->notify_arg = arg;
    d->notify = fn;
    uk_spin_unlock_irqrestore(&d->lock, fl);
}

void uk_netdev_stats(const struct uk_netdev *d, struct uk_netdev_stats *out)
{
    struct uk_netdev *m = (struct uk_netdev *)d;
    unsigned long fl = uk_spin_lock_irqsave(&m->lock);
    *out = d->st;
    uk_spin_unlock_irqrestore(&m->lock, fl);
}

static void virtio_net_init(void)
{
    struct uk_netdev *d = &vnet0;
    uk_result r;
    unsigned i;

    r = uk_virtio_claim(UK_VIRTIO_ID_NET, 0, 1ULL << VIRTIO_NET_F_MAC, &d->vdev);
    if (r == UK_ENOENT)
        return;
    if (r) {
        uk_warn("virtio-net: claim failed: %s", uk_result_str(r));
        return;
    }
    if ((r = uk_virtio_queue_setup(d->vdev, VNET_RXQ, VNET_RING, &d->rxq)) ||
        (r = uk_virtio_queue_setup(d->vdev, VNET_TXQ, VNET_RING, &d->txq))) {
        uk_warn("virtio-net: queue setup failed: %s", uk_result_str(r));
        return;
    }
    size_t pages = UK_ALIGN_UP((size_t)VNET_RING * VNET_BUF_SIZE, UK_PAGE_SIZE) / UK_PAGE_SIZE;
    d->rxbufs = uk_page_alloc(pages);
    d->txbufs = uk_page_alloc(pages);
    if (!d->rxbufs || !d->txbufs) {
        uk_warn("virtio-net: out of memory");
        return;
    }
    if (d->vdev->features & (1ULL << VIRTIO_NET_F_MAC)) {
        for (i = 0; i < 6; i++)
            d->mac[i] = uk_virtio_cfg_read8(d->vdev, i);
    } else {
        /* Locally administered, fixed: QEMU always offers MAC in practice. */
        static const uint8_t def[6] = {0x02, 0x00, 0x00, 0x12, 0x34, 0x56};
        memcpy(d->mac, def, 6);
    }
    for (i = 0; i < d->txq->size; i++)
        d->tx_free[d->tx_nfree++] = (uint16_t)i;
    if ((r = uk_virtio_set_irq(d->vdev, vnet_irq, d))) {
        uk_warn("virtio-net: irq: %s", uk_result_str(r));
        return;
    }
    uk_virtio_driver_ok(d->vdev);
    for (i = 0; i < d->rxq->size; i++)
        rx_post(d, i);
    uk_virtq_kick(d->rxq);
    vnet0_ready = true;
    uk_info("virtio-net: %02x:%02x:%02x:%02x:%02x:%02x at %#lx irq %u, rings %u/%u", d->mac[0],
            d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5], (unsigned long)d->vdev->base,
            d->vdev->gsi, d->rxq->size, d->txq->size);
}
UK_INITCALL_DRIVER(virtio_net_init);
