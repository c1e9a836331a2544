/*
 * Virtio core: virtio-mmio (version 2, "modern") transport discovery and
 * split virtqueues (virtio 1.x, section 2.7).  Drivers (net, console) are
 * built on this API.
 *
 * Devices are discovered from the `virtio_mmio.device=SIZE@BASE:IRQ`
 * command-line entries QEMU adds on microvm.  Legacy (version 1) devices are
 * skipped with a warning: run QEMU with -global virtio-mmio.force-legacy=false.
 *
 * Concurrency: one driver owns a device; a virtqueue is used under the
 * driver's lock (the core takes none).
 */
#ifndef UK_VIRTIO_H
#define UK_VIRTIO_H

#include <uk/types.h>

enum uk_virtio_device_id {
    UK_VIRTIO_ID_NET = 1,
    UK_VIRTIO_ID_BLOCK = 2,
    UK_VIRTIO_ID_CONSOLE = 3,
    UK_VIRTIO_ID_RNG = 4,
};

/* Feature bits of the transport (virtio 1.x, 6). */
#define UK_VIRTIO_F_VERSION_1 (1ULL << 32)

#define UK_VIRTIO_DEV_MAX 8
#define UK_VIRTQ_MAX 8

struct uk_virtq;

struct uk_virtio_dev {
    uintptr_t base;       /* MMIO register base */
    unsigned gsi;         /* interrupt line */
    uint32_t device_id;   /* enum uk_virtio_device_id */
    uint32_t vendor_id;
    uint64_t features;    /* negotiated */
    bool claimed;         /* a driver owns it */
    struct uk_virtq *vq[UK_VIRTQ_MAX];
    void (*irq_fn)(struct uk_virtio_dev *dev, void *arg);
    void *irq_arg;
    uint64_t interrupts;
};

/* One buffer of a descriptor chain. */
struct uk_virtq_buf {
    void *addr;          /* identity-mapped: address == physical */
    uint32_t len;
    bool device_writes;  /* true: device writes it (an "in" buffer) */
};

/* Split virtqueue state.  Fields are read-only for drivers. */
struct uk_virtq {
    struct uk_virtio_dev *dev;
    uint16_t index, size;
    struct uk_virtq_desc *desc;
    struct uk_virtq_avail *avail;
    struct uk_virtq_used *used;
    void **tokens;          /* per head descriptor */
    uint16_t free_head, num_free, last_used;
    uint64_t notifies, completions;
};

/* Number of discovered devices and device i, or NULL. */
unsigned uk_virtio_count(void);
struct uk_virtio_dev *uk_virtio_get(unsigned i);

/*
 * Claim the n-th unclaimed device with `device_id` and reset it, acknowledge
 * it and negotiate: the result is wanted & offered, plus VERSION_1 (required).
 * Returns UK_ENOENT if none, UK_ENOSYS if the device lacks VERSION_1 or
 * refuses FEATURES_OK.
 */
uk_result uk_virtio_claim(uint32_t device_id, unsigned n, uint64_t wanted,
                          struct uk_virtio_dev **out);

/* Read/write the device-specific config space at byte offset off. */
uint8_t uk_virtio_cfg_read8(struct uk_virtio_dev *d, unsigned off);
uint16_t uk_virtio_cfg_read16(struct uk_virtio_dev *d, unsigned off);
uint32_t uk_virtio_cfg_read32(struct uk_virtio_dev *d, unsigned off);
void uk_virtio_cfg_write32(struct uk_virtio_dev *d, unsigned off, uint32_t v);

/* Set up queue `index` with at most `size` entries (a power of two). */
uk_result uk_virtio_queue_setup(struct uk_virtio_dev *d, unsigned index, unsigned size,
                                struct uk_virtq **out);

/* Set DRIVER_OK: call after queues are set up. */
void uk_virtio_driver_ok(struct uk_virtio_dev *d);

/* Route the device's interrupt to fn (interrupt context; the core acks it). */
uk_result uk_virtio_set_irq(struct uk_virtio_dev *d, void (*fn)(struct uk_virtio_dev *, void *),
                            void *arg);

/*
 * Add a chain of n buffers (all "out" before all "in") with `token` returned
 * by uk_virtq_get on completion.  UK_EAGAIN if not enough free descriptors.
 */
uk_result uk_virtq_add(struct uk_virtq *q, const struct uk_virtq_buf *bufs, unsigned n,
                       void *token);

/* Tell the device about new buffers. */
void uk_virtq_kick(struct uk_virtq *q);

/* Next completed chain: its token, and bytes written by the device; NULL if none. */
void *uk_virtq_get(struct uk_virtq *q, uint32_t *len);

#endif
