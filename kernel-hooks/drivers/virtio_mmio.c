/*
 * virtio-mmio transport, version 2 (virtio 1.x, 4.2): discovery from the
 * `virtio_mmio.device=` command-line entries, device initialisation
 * (3.1.1), queue setup (4.2.3.2), config space and interrupts.
 *
 * All register accesses are 32-bit through volatile pointers (4.2.2: the
 * driver MUST use 32-bit accesses for the registers); config space uses the
 * width of the field.  The window 0xfe000000..0xffffffff is mapped as device
 * (uncached) memory by the MMU code; entries outside it are refused.
 */
#include <uk/cmdline.h>
#include <uk/trace_hooks.h>
#include <uk/irq.h>
#include <uk/klog.h>
#include <uk/mem.h>

#include "core/kernel.h"
#include "virtio_internal.h"

/* Register offsets (4.2.2, table "MMIO Device Register Layout"). */
enum {
    VIRTIO_MMIO_MAGIC = 0x000,
    VIRTIO_MMIO_VERSION = 0x004,
    VIRTIO_MMIO_DEVICE_ID = 0x008,
    VIRTIO_MMIO_VENDOR_ID = 0x00c,
    VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
    VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
    VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
    VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
    VIRTIO_MMIO_QUEUE_SEL = 0x030,
    VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
    VIRTIO_MMIO_QUEUE_NUM = 0x038,
    VIRTIO_MMIO_QUEUE_READY = 0x044,
    VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
    VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
    VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
    VIRTIO_MMIO_STATUS = 0x070,
    VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
    VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
    VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
    VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
    VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
    VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
    VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
    VIRTIO_MMIO_CONFIG = 0x100,
};

#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976 /* "virt" little-endian */

/* Device status bits (2.1). */
enum {
    VIRTIO_STATUS_ACKNOWLEDGE = 1,
    VIRTIO_STATUS_DRIVER = 2,
    VIRTIO_STATUS_DRIVER_OK = 4,
    VIRTIO_STATUS_FEATURES_OK = 8,
    VIRTIO_STATUS_NEEDS_RESET = 64,
    VIRTIO_STATUS_FAILED = 128,
};

/* InterruptStatus bits (4.2.2). */
enum {
    VIRTIO_INT_USED_BUFFER = 1,
    VIRTIO_INT_CONFIG_CHANGE = 2,
};

/* The device-memory window mapped uncached by the MMU code. */
#define VIRTIO_MMIO_WINDOW_START 0xfe000000ULL
#define VIRTIO_MMIO_WINDOW_END   0x100000000ULL

static struct uk_virtio_dev devices[UK_VIRTIO_DEV_MAX];
static unsigned device_count;

static inline uint32_t reg_read(const struct uk_virtio_dev *d, unsigned off)
{
    return *(volatile uint32_t *)(d->base + off);
}

static inline void reg_write(const struct uk_virtio_dev *d, unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(d->base + off) = v;
}

static const char *device_name(uint32_t id)
{
    switch (id) {
    case UK_VIRTIO_ID_NET:
        return "net";
    case UK_VIRTIO_ID_BLOCK:
        return "block";
    case UK_VIRTIO_ID_CONSOLE:
        return "console";
    case UK_VIRTIO_ID_RNG:
        return "rng";
    default:
        return "other";
    }
}

/* The interrupt source's name in metrics (uk_irq_name). */
static const char *irq_name(uint32_t id)
{
    switch (id) {
    case UK_VIRTIO_ID_NET:
        return "virtio-net";
    case UK_VIRTIO_ID_BLOCK:
        return "virtio-block";
    case UK_VIRTIO_ID_CONSOLE:
        return "virtio-console";
    case UK_VIRTIO_ID_RNG:
        return "virtio-rng";
    default:
        return "virtio";
    }
}

/* ------------------------------------------------------------ discovery --- */

static void probe(uint64_t base, uint64_t size, unsigned irq)
{
    struct uk_virtio_dev *d;
    uint32_t magic, version, id;

    if (base % 4 || base < VIRTIO_MMIO_WINDOW_START || base >= VIRTIO_MMIO_WINDOW_END ||
        size > VIRTIO_MMIO_WINDOW_END - base) {
        uk_warn("virtio-mmio at 0x%llx size 0x%llx skipped: outside the device window "
                "0x%llx-0x%llx or unaligned",
                (unsigned long long)base, (unsigned long long)size, VIRTIO_MMIO_WINDOW_START,
                VIRTIO_MMIO_WINDOW_END - 1);
        return;
    }
    if (size < VIRTIO_MMIO_CONFIG) {
        uk_warn("virtio-mmio at 0x%llx skipped: size 0x%llx is below the 0x%x bytes of "
                "registers",
                (unsigned long long)base, (unsigned long long)size, VIRTIO_MMIO_CONFIG);
        return;
    }
    if (!uk_mem_accessible((uintptr_t)base, (size_t)size, UK_MEM_READ | UK_MEM_WRITE)) {
        uk_warn("virtio-mmio at 0x%llx skipped: not mapped", (unsigned long long)base);
        return;
    }
    for (unsigned i = 0; i < device_count; i++) {
        if (devices[i].base == base) {
            uk_warn("virtio-mmio at 0x%llx skipped: listed twice", (unsigned long long)base);
            return;
        }
    }

    struct uk_virtio_dev probe_dev = {.base = (uintptr_t)base};
    magic = reg_read(&probe_dev, VIRTIO_MMIO_MAGIC);
    if (magic != VIRTIO_MMIO_MAGIC_VALUE) {
        uk_warn("virtio-mmio at 0x%llx skipped: bad magic 0x%08x", (unsigned long long)base, magic);
        return;
    }
    version = reg_read(&probe_dev, VIRTIO_MMIO_VERSION);
    if (version == 1) {
        uk_warn("legacy virtio-mmio at 0x%llx skipped: use -global "
                "virtio-mmio.force-legacy=false",
                (unsigned long long)base);
        return;
    }
    if (version != 2) {
        uk_warn("virtio-mmio at 0x%llx skipped: unknown version %u", (unsigned long long)base,
                version);
        return;
    }
    id = reg_read(&probe_dev, VIRTIO_MMIO_DEVICE_ID);
    if (id == 0)
        return; /* empty slot: QEMU lists every transport, used or not */
    if (device_count == UK_VIRTIO_DEV_MAX) {
        uk_warn("virtio-mmio at 0x%llx skipped: more than %u devices", (unsigned long long)base,
                UK_VIRTIO_DEV_MAX);
        return;
    }
    d = &devices[device_count++];
    d->base = (uintptr_t)base;
    d->mmio_size = size;
    d->gsi = irq;
    d->device_id = id;
    d->vendor_id = reg_read(d, VIRTIO_MMIO_VENDOR_ID);
    uk_info("virtio-mmio at 0x%llx irq %u: %s (id %u, vendor 0x%x)", (unsigned long long)base, irq,
            device_name(id), id, d->vendor_id);
}

void virtio_init(void)
{
    const struct uk_cmdline_arg *a;
    unsigned it = 0;
    uint64_t base, size;
    unsigned irq;

    while ((a = uk_cmdline_next("virtio_mmio.device", &it))) {
        if (virtio_mmio_parse_arg(a->value, &base, &size, &irq)) {
            uk_warn("virtio_mmio.device=%s ignored: expected SIZE@BASE:IRQ (e.g. "
                    "512@0xfeb00e00:12, IRQ 0..23)",
                    a->value);
            continue;
        }
        probe(base, size, irq);
    }
    uk_info("virtio: %u device(s)", device_count);
}

unsigned uk_virtio_count(void)
{
    return device_count;
}

struct uk_virtio_dev *uk_virtio_get(unsigned i)
{
    return i < device_count ? &devices[i] : NULL;
}

/* --------------------------------------------------------- initialise --- */

static void set_status(struct uk_virtio_dev *d, uint32_t bits)
{
    reg_write(d, VIRTIO_MMIO_STATUS, reg_read(d, VIRTIO_MMIO_STATUS) | bits);
}

static void reset(struct uk_virtio_dev *d)
{
    reg_write(d, VIRTIO_MMIO_STATUS, 0);
    /* Reset is synchronous on QEMU; wait (bounded) for it like on PCI. */
    for (unsigned i = 0; i < 1000000 && reg_read(d, VIRTIO_MMIO_STATUS) != 0; i++)
        __builtin_ia32_pause();
}

uk_result uk_virtio_claim(uint32_t device_id, unsigned n, uint64_t wanted,
                          struct uk_virtio_dev **out)
{
    struct uk_virtio_dev *d = NULL;
    uint64_t offered, accept;

    for (unsigned i = 0; i < device_count; i++) {
        if (devices[i].claimed || devices[i].device_id != device_id)
            continue;
        if (n-- == 0) {
            d = &devices[i];
            break;
        }
    }
    if (!d)
        return UK_ENOENT;

    /* 3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, check. */
    reset(d);
    set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(d, VIRTIO_STATUS_DRIVER);

    reg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    offered = reg_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
    reg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    offered |= (uint64_t)reg_read(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    if (!(offered & UK_VIRTIO_F_VERSION_1)) {
        uk_warn("virtio %s at 0x%lx: no VERSION_1 (features 0x%llx)", device_name(device_id),
                (unsigned long)d->base, (unsigned long long)offered);
        set_status(d, VIRTIO_STATUS_FAILED);
        return UK_ENOSYS;
    }
    accept = (wanted & ~UK_VIRTIO_F_TRANSPORT_MASK & offered) | UK_VIRTIO_F_VERSION_1;

    reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)accept);
    reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(accept >> 32));
    set_status(d, VIRTIO_STATUS_FEATURES_OK);
    if (!(reg_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
        uk_warn("virtio %s at 0x%lx refused features 0x%llx", device_name(device_id),
                (unsigned long)d->base, (unsigned long long)accept);
        set_status(d, VIRTIO_STATUS_FAILED);
        return UK_ENOSYS;
    }
    d->features = accept;
    d->claimed = true;
    uk_info("virtio %s at 0x%lx: features offered 0x%llx accepted 0x%llx", device_name(device_id),
            (unsigned long)d->base, (unsigned long long)offered, (unsigned long long)accept);
    *out = d;
    return UK_OK;
}

uk_result uk_virtio_queue_setup(struct uk_virtio_dev *d, unsigned index, unsigned size,
                                struct uk_virtq **out)
{
    struct uk_virtq *q;
    uint32_t max;
    uk_result r;

    if (!d || !out || !d->claimed || d->driver_ok || index >= UK_VIRTQ_MAX || size == 0 ||
        size > VIRTQ_SIZE_MAX || (size & (size - 1)))
        return UK_EINVAL;
    if (d->vq[index])
        return UK_EBUSY;

    reg_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
    if (reg_read(d, VIRTIO_MMIO_QUEUE_READY))
        return UK_EBUSY;
    max = reg_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max == 0)
        return UK_ENOENT;
    while (size > max)
        size >>= 1;

    r = virtq_create(d, (uint16_t)index, (uint16_t)size, &q);
    if (r)
        return r;
    uint64_t desc = (uintptr_t)q->desc, avail = (uintptr_t)q->avail, used = (uintptr_t)q->used;
    reg_write(d, VIRTIO_MMIO_QUEUE_NUM, size);
    reg_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    reg_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    reg_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    reg_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
    reg_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    reg_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
    /* The zeroed rings were written by ordinary stores, the registers are
     * UC stores: x86 keeps stores in order, a compiler barrier suffices. */
    uk_barrier();
    reg_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
    d->vq[index] = q;
    *out = q;
    return UK_OK;
}

void uk_virtio_driver_ok(struct uk_virtio_dev *d)
{
    uk_barrier();
    set_status(d, VIRTIO_STATUS_DRIVER_OK);
    d->driver_ok = true;
    if (reg_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET)
        uk_warn("virtio %s at 0x%lx needs a reset after DRIVER_OK", device_name(d->device_id),
                (unsigned long)d->base);
}

void virtio_transport_notify(struct uk_virtio_dev *d, uint16_t index)
{
    /* Ring stores were made visible by the caller's fence; the UC store is
     * not reordered with earlier stores on x86. */
    UK_TRACE(VIRTIO_NOTIFY, d->base, index);
    reg_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, index);
}

/* ----------------------------------------------------------- interrupts --- */

static void virtio_irq(unsigned gsi, struct uk_trap_frame *tf, void *arg)
{
    struct uk_virtio_dev *d = arg;
    uint32_t status = reg_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);
    UK_TRACE(VIRTIO_COMPLETE, d->base, status);

    if (status == 0) {
        d->spurious++;
        return;
    }
    /* Ack before calling fn, so completions posted while fn drains the
     * rings raise a new interrupt rather than being lost. */
    reg_write(d, VIRTIO_MMIO_INTERRUPT_ACK, status);
    d->interrupts++;
    if (status & VIRTIO_INT_CONFIG_CHANGE)
        d->config_changes++;
    if (d->irq_fn) {
        d->irq_tf = tf;
        d->irq_fn(d, d->irq_arg);
        d->irq_tf = NULL;
    }
}

uk_result uk_virtio_set_irq(struct uk_virtio_dev *d, void (*fn)(struct uk_virtio_dev *, void *),
                            void *arg)
{
    uk_result r;

    if (!d || !fn || !d->claimed)
        return UK_EINVAL;
    if (d->irq_registered)
        return UK_EBUSY;
    d->irq_arg = arg;
    d->irq_fn = fn;
    uk_irq_set_name(d->gsi, irq_name(d->device_id));
    r = uk_irq_register(d->gsi, virtio_irq, d);
    if (r) {
        d->irq_fn = NULL;
        d->irq_arg = NULL;
        uk_warn("virtio %s at 0x%lx: irq %u: %s", device_name(d->device_id), (unsigned long)d->base,
                d->gsi, uk_result_str(r));
        return r;
    }
    d->irq_registered = true;
    return UK_OK;
}

/* --------------------------------------------------------- config space --- */

static bool cfg_ok(struct uk_virtio_dev *d, unsigned off, unsigned width)
{
    if (off % width == 0 && (uint64_t)off + width <= d->mmio_size - VIRTIO_MMIO_CONFIG)
        return true;
    uk_warn("virtio %s at 0x%lx: bad config access at 0x%x width %u", device_name(d->device_id),
            (unsigned long)d->base, off, width);
    return false;
}

static inline uintptr_t cfg_addr(struct uk_virtio_dev *d, unsigned off)
{
    return d->base + VIRTIO_MMIO_CONFIG + off;
}

uint32_t uk_virtio_cfg_generation(struct uk_virtio_dev *d)
{
    return reg_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
}

uint8_t uk_virtio_cfg_read8(struct uk_virtio_dev *d, unsigned off)
{
    return cfg_ok(d, off, 1) ? *(volatile uint8_t *)cfg_addr(d, off) : 0;
}

uint16_t uk_virtio_cfg_read16(struct uk_virtio_dev *d, unsigned off)
{
    return cfg_ok(d, off, 2) ? *(volatile uint16_t *)cfg_addr(d, off) : 0;
}

uint32_t uk_virtio_cfg_read32(struct uk_virtio_dev *d, unsigned off)
{
    return cfg_ok(d, off, 4) ? *(volatile uint32_t *)cfg_addr(d, off) : 0;
}

uint64_t uk_virtio_cfg_read64(struct uk_virtio_dev *d, unsigned off)
{
    uint32_t gen, lo, hi;

    if (!cfg_ok(d, off, 8))
        return 0;
    /* 4.2.2: 64-bit fields are read as two 32-bit halves; retry if the
     * device changed the config space in between. */
    do {
        gen = uk_virtio_cfg_generation(d);
        lo = *(volatile uint32_t *)cfg_addr(d, off);
        hi = *(volatile uint32_t *)cfg_addr(d, off + 4);
    } while (gen != uk_virtio_cfg_generation(d));
    return (uint64_t)hi << 32 | lo;
}

void uk_virtio_cfg_write8(struct uk_virtio_dev *d, unsigned off, uint8_t v)
{
    if (cfg_ok(d, off, 1))
        *(volatile uint8_t *)cfg_addr(d, off) = v;
}

void uk_virtio_cfg_write16(struct uk_virtio_dev *d, unsigned off, uint16_t v)
{
    if (cfg_ok(d, off, 2))
        *(volatile uint16_t *)cfg_addr(d, off) = v;
}

void uk_virtio_cfg_write32(struct uk_virtio_dev *d, unsigned off, uint32_t v)
{
    if (cfg_ok(d, off, 4))
        *(volatile uint32_t *)cfg_addr(d, off) = v;
}
