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
 * driver's lock (the core takes none).  Only uk_virtq_add/kick/get may be
 * called from interrupt context (the driver's irq fn).
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

/*
 * Feature bits of the transport (virtio 1.x, 6).  Bits 24..49 are transport
 * and reserved bits; the core accepts none of them but VERSION_1 (it
 * implements neither indirect descriptors, event index nor packed rings).
 */
#define UK_VIRTIO_F_VERSION_1      (1ULL << 32)
#define UK_VIRTIO_F_TRANSPORT_MASK (((1ULL << 50) - 1) & ~((1ULL << 24) - 1))

#define UK_VIRTIO_DEV_MAX 8
/* 16: a virtio-console with max_ports=7 uses queues 0..15 (2 per port + 2 control). */
#define UK_VIRTQ_MAX      16

struct uk_virtq;
struct uk_trap_frame;

struct uk_virtio_dev {
    uintptr_t base;     /* MMIO register base */
    uint64_t mmio_size; /* bytes of the MMIO window (registers + config) */
    unsigned gsi;       /* interrupt line */
    uint32_t device_id; /* enum uk_virtio_device_id */
    uint32_t vendor_id;
    uint64_t features;   /* negotiated */
    bool claimed;        /* a driver owns it */
    bool driver_ok;      /* DRIVER_OK set */
    bool irq_registered; /* uk_virtio_set_irq succeeded */
    struct uk_virtq *vq[UK_VIRTQ_MAX];
    void (*irq_fn)(struct uk_virtio_dev *dev, void *arg);
    void *irq_arg;
    /* While irq_fn runs: the interrupted context's trap frame (else NULL),
     * so a driver can hand it on (e.g. a debugger stopping there). */
    struct uk_trap_frame *irq_tf;
    uint64_t interrupts;     /* interrupts with a non-zero InterruptStatus */
    uint64_t spurious;       /* interrupts with InterruptStatus == 0 */
    uint64_t config_changes; /* interrupts with the config-change bit */
};

/* One buffer of a descriptor chain. */
struct uk_virtq_buf {
    void *addr; /* identity-mapped: address == physical */
    uint32_t len;
    bool device_writes; /* true: device writes it (an "in" buffer) */
};

/*
 * Split virtqueue state.  Fields are read-only for drivers.  The rings
 * (layouts in drivers/virtio_internal.h) live in zeroed pages from
 * uk_page_alloc; desc/avail/used are their identity-mapped addresses.
 */
struct uk_virtq {
    struct uk_virtio_dev *dev;
    uint16_t index, size; /* size: a power of two */
    struct uk_virtq_desc *desc;
    struct uk_virtq_avail *avail;
    struct uk_virtq_used *used;
    void **tokens;       /* per head descriptor, NULL when free */
    uint16_t free_head;  /* first free descriptor (free list via desc[].next) */
    uint16_t num_free;   /* descriptors on the free list */
    uint16_t avail_idx;  /* driver's copy of avail->idx (free-running) */
    uint16_t kicked_idx; /* avail_idx at the last notification check */
    uint16_t last_used;  /* next used->ring entry to consume (free-running) */
    uint64_t notifies, completions;
    uint64_t errors; /* bad used entries from the device (ignored) */
};

/*
 * Devices found by virtio_init() (core/kernel.h; kmain runs it once, after
 * interrupts work, before drivers): the count, and device i or NULL.
 */
unsigned uk_virtio_count(void);
struct uk_virtio_dev *uk_virtio_get(unsigned i);

/*
 * Claim the n-th unclaimed device with `device_id` and reset it, acknowledge
 * it and negotiate: the result (d->features) is wanted & offered with the
 * transport bits of UK_VIRTIO_F_TRANSPORT_MASK removed, plus VERSION_1
 * (required).  Returns UK_ENOENT if none, UK_ENOSYS if the device lacks
 * VERSION_1 or refuses FEATURES_OK; on failure the device gets the FAILED
 * status and stays unclaimed.  Not for interrupt context.
 */
uk_result uk_virtio_claim(uint32_t device_id, unsigned n, uint64_t wanted,
                          struct uk_virtio_dev **out);

/*
 * Read/write the device-specific config space (MMIO offset 0x100) at byte
 * offset off, with an access of the field's width (little-endian).  off must
 * be naturally aligned and the field inside the MMIO window; otherwise reads
 * return 0, writes are dropped, and a warning is logged.  read64 reads two
 * halves and retries until ConfigGeneration is stable.  A multi-field read
 * that must be consistent can compare uk_virtio_cfg_generation before/after.
 */
uint8_t uk_virtio_cfg_read8(struct uk_virtio_dev *d, unsigned off);
uint16_t uk_virtio_cfg_read16(struct uk_virtio_dev *d, unsigned off);
uint32_t uk_virtio_cfg_read32(struct uk_virtio_dev *d, unsigned off);
uint64_t uk_virtio_cfg_read64(struct uk_virtio_dev *d, unsigned off);
void uk_virtio_cfg_write8(struct uk_virtio_dev *d, unsigned off, uint8_t v);
void uk_virtio_cfg_write16(struct uk_virtio_dev *d, unsigned off, uint16_t v);
void uk_virtio_cfg_write32(struct uk_virtio_dev *d, unsigned off, uint32_t v);
uint32_t uk_virtio_cfg_generation(struct uk_virtio_dev *d);

/*
 * Set up queue `index` (< UK_VIRTQ_MAX) of a claimed device, before
 * uk_virtio_driver_ok.  `size` is a power of two <= 32768; the queue gets
 * min(size, the largest power of two <= QueueNumMax) entries (see
 * (*out)->size).  UK_EINVAL for bad arguments or an unclaimed / already
 * started device, UK_EBUSY if the queue is already set up, UK_ENOENT if the
 * device has no such queue (QueueNumMax 0), UK_ENOMEM.
 */
uk_result uk_virtio_queue_setup(struct uk_virtio_dev *d, unsigned index, unsigned size,
                                struct uk_virtq **out);

/*
 * Set DRIVER_OK: call after queues are set up (and normally after
 * uk_virtio_set_irq).  The device may use its queues from then on.
 */
void uk_virtio_driver_ok(struct uk_virtio_dev *d);

/*
 * Route the device's interrupt (d->gsi) to fn, called in interrupt context
 * after the core has read InterruptStatus and written InterruptACK.  Once per
 * device: UK_EBUSY if already set or the GSI is taken by another handler,
 * UK_EINVAL if d is unclaimed or fn is NULL.
 */
uk_result uk_virtio_set_irq(struct uk_virtio_dev *d, void (*fn)(struct uk_virtio_dev *, void *),
                            void *arg);

/*
 * Add a chain of n buffers (all "out" before all "in") with `token` (not
 * NULL) returned by uk_virtq_get on completion, and publish it in the
 * available ring (the device may see it before the kick).  UK_EAGAIN if
 * fewer than n descriptors are free; UK_EINVAL if n is 0 or > q->size,
 * token is NULL, an "out" buffer follows an "in" one, or the chain is longer
 * than 4 GiB - 1 in total.
 */
uk_result uk_virtq_add(struct uk_virtq *q, const struct uk_virtq_buf *bufs, unsigned n,
                       void *token);

/*
 * Tell the device about buffers added since the last kick (QueueNotify),
 * unless none were added or the device set VIRTQ_USED_F_NO_NOTIFY.
 */
void uk_virtq_kick(struct uk_virtq *q);

/*
 * Next completed chain: its token, and in *len (if len is not NULL) the bytes
 * the device says it wrote; its descriptors are free again.  NULL if none.
 * Used entries with a bad descriptor id are counted in q->errors, logged and
 * skipped; if used->idx runs more than q->size ahead, NULL (device broken).
 */
void *uk_virtq_get(struct uk_virtq *q, uint32_t *len);

#endif
