/*
 * Virtio core internals shared by virtio_mmio.c, virtqueue.c and their host
 * unit tests.  Not for drivers: they use <uk/virtio.h>.
 */
#ifndef UK_DRIVERS_VIRTIO_INTERNAL_H
#define UK_DRIVERS_VIRTIO_INTERNAL_H

#include <uk/virtio.h>

/* Split virtqueue layout (virtio 1.x, 2.7); all fields little-endian. */
#define VIRTQ_DESC_F_NEXT     1 /* chain continues at `next` */
#define VIRTQ_DESC_F_WRITE    2 /* device writes (otherwise reads) */
#define VIRTQ_DESC_F_INDIRECT 4 /* not used: VIRTIO_F_INDIRECT_DESC is never accepted */

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

#define VIRTQ_SIZE_MAX 32768

/* Required alignments (2.7, table "Virtqueue Part Alignment"). */
#define VIRTQ_DESC_ALIGN  16
#define VIRTQ_AVAIL_ALIGN 2
#define VIRTQ_USED_ALIGN  4

struct uk_virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct uk_virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[]; /* size entries, then used_event (unused: no EVENT_IDX) */
};

struct uk_virtq_used_elem {
    uint32_t id;  /* head descriptor of the chain (32-bit for padding) */
    uint32_t len; /* bytes written into the chain's device-writable buffers */
};

struct uk_virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct uk_virtq_used_elem ring[]; /* size entries, then avail_event */
};

_Static_assert(sizeof(struct uk_virtq_desc) == 16, "virtq_desc layout");
_Static_assert(sizeof(struct uk_virtq_used_elem) == 8, "virtq_used_elem layout");

/*
 * Allocate and initialise a split virtqueue of `size` entries (a power of two,
 * 1..VIRTQ_SIZE_MAX) for queue `index` of d: rings from uk_page_alloc with the
 * required alignments, all descriptors on the free list.  Touches no device
 * register.  UK_EINVAL, UK_ENOMEM.
 */
uk_result virtq_create(struct uk_virtio_dev *d, uint16_t index, uint16_t size,
                       struct uk_virtq **out);
void virtq_destroy(struct uk_virtq *q);

/* Write `index` to the device's QueueNotify (virtio_mmio.c; a stub in tests). */
void virtio_transport_notify(struct uk_virtio_dev *d, uint16_t index);

/*
 * Parse one `virtio_mmio.device=` value, "SIZE@BASE:IRQ" (QEMU writes e.g.
 * "512@0xfeb00e00:12").  SIZE and BASE are decimal or 0x-hex (a decimal
 * with a leading 0, like "010", is rejected as ambiguous octal); SIZE may
 * end in K, M or G (either case, powers of 1024).  IRQ is decimal 0..23.
 * Rejected: empty fields, signs or spaces, junk anywhere (the Linux
 * ":ID" suffix included), overflow, SIZE 0, BASE + SIZE beyond 2^64.
 * Pure function (no globals, no logging): returns 0 and fills the outputs,
 * or -1 and leaves them unchanged.
 */
int virtio_mmio_parse_arg(const char *s, uint64_t *base, uint64_t *size, unsigned *irq);

#endif
