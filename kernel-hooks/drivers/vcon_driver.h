/*
 * virtio-console driver internals shared by virtio_console.c (control
 * queue, interrupt, init) and vcon_port.c (the <uk/vcon.h> data API).
 * Guest-only; the pure control-message codec is in vcon_internal.h.
 * Design, locking and drop policy: virtio_console.c and docs/virtio.md.
 */
#ifndef VCON_DRIVER_H
#define VCON_DRIVER_H

#include <uk/sync.h>
#include <uk/time.h>
#include <uk/vcon.h>
#include <uk/virtio.h>

#include "vcon_internal.h"

#define VCON_DEVS_MAX      2
#define VCON_PORTS_MAX     ((UK_VIRTQ_MAX - 2) / 2) /* queues 2n+2/2n+3 < UK_VIRTQ_MAX */
#define VCON_BUF_SIZE      4096
#define VCON_RX_BUFS       8
#define VCON_TX_BUFS       16
#define VCON_CTRL_BUFS     16  /* each of rx and tx */
#define VCON_CTRL_BUF_SIZE 128 /* header + name of up to VCON_NAME_MAX + NUL */
#define VCON_LOCK_WAIT_NS  UK_MSEC(50)

struct vcon_dev;

struct uk_vcon_port {
    struct vcon_dev *dev;
    unsigned id;
    bool usable; /* queues and buffers set up */
    struct uk_spinlock lock;
    struct uk_virtq *rxq, *txq;
    uint8_t *rxbuf, *txbuf;        /* VCON_*_BUFS * VCON_BUF_SIZE each */
    bool rx_posted;                /* receive buffers handed to the device once */
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
    uint8_t *crx; /* VCON_CTRL_BUFS * VCON_CTRL_BUF_SIZE */
    uint8_t (*ctx)[VCON_CTRL_HDR_LEN];
    uint8_t ctx_free[VCON_CTRL_BUFS];
    unsigned ctx_nfree;
    uint64_t bad_msgs, ctrl_drops;
    struct uk_vcon_port ports[VCON_PORTS_MAX];
};

extern struct vcon_dev vcon_devs[VCON_DEVS_MAX];
extern unsigned vcon_ndevs;           /* devices started (devs[0..n-1]) */
extern struct uk_spinlock vcon_lock;  /* control state of all devices */
extern struct uk_waitq vcon_names_wq; /* woken on PORT_NAME / new device */

/*
 * Take l (irqsave).  With interrupts already off (a stopped-world debugger:
 * the holder may be frozen) only try for VCON_LOCK_WAIT_NS; false: not taken.
 */
bool vcon_lock_bounded(struct uk_spinlock *l, unsigned long *flags);

/* Hand receive buffer i back to the device (port lock held). */
void vcon_rx_post(struct uk_vcon_port *p, unsigned i);

/* Completed buffers: rx to the FIFO, tx to the free list (port lock held).
 * True if new bytes arrived. */
bool vcon_port_harvest(struct uk_vcon_port *p);

/* Queue an 8-byte control message (vcon_lock held). */
void vcon_ctrl_send(struct vcon_dev *d, uint32_t id, enum vcon_ctrl_event ev, uint16_t value);

/* Drain and handle the control receive queue (vcon_lock held). */
void vcon_ctrl_process(struct vcon_dev *d);

#endif
