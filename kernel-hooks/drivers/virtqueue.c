/*
 * Split virtqueues (virtio 1.x, 2.7), independent of the transport: the only
 * device access is virtio_transport_notify().  Builds for the host so that
 * tests/unit/test_virtqueue.c can play the device.
 *
 * Memory ordering.  The device is another agent reading and writing the
 * rings concurrently (QEMU's I/O thread or KVM on another host CPU), so the
 * rings are shared memory and need the same ordering as between CPUs:
 *  - publish: descriptors and avail->ring[] must be visible before the new
 *    avail->idx (store-store): release fence, then the idx store;
 *  - kick: the avail->idx store must be visible before we read used->flags
 *    to decide whether to notify (store-load, the one ordering x86-TSO does
 *    NOT give; otherwise we may read a stale NO_NOTIFY and never kick a
 *    device that just went to sleep): a full (seq_cst) fence, mfence;
 *  - consume: used->ring[] must be read after used->idx (load-load):
 *    acquire load of idx.
 * On x86 the release/acquire fences compile to nothing but stop the compiler
 * from reordering; they document the protocol and keep it right elsewhere.
 * Single-writer fields in shared memory are accessed with UK_READ_ONCE /
 * UK_WRITE_ONCE or __atomic so the compiler neither tears nor caches them.
 */
#include <uk/klog.h>
#include <uk/mem.h>

#include "virtio_internal.h"

static size_t ring_bytes(uint16_t size, size_t *avail_off, size_t *used_off)
{
    size_t desc = sizeof(struct uk_virtq_desc) * size;
    size_t avail = sizeof(struct uk_virtq_avail) + sizeof(uint16_t) * (size + 1u);
    size_t used =
        sizeof(struct uk_virtq_used) + sizeof(struct uk_virtq_used_elem) * size + sizeof(uint16_t);

    /* desc at 0 (page aligned, so 16-aligned); avail right after (2-aligned,
     * as desc is a multiple of 16); used on its own cache line (4-aligned)
     * so the device's writes do not share a line with the driver's. */
    *avail_off = desc;
    *used_off = UK_ALIGN_UP(desc + avail, 64);
    return *used_off + used;
}

static size_t meta_bytes(uint16_t size)
{
    return UK_ALIGN_UP(sizeof(struct uk_virtq), sizeof(void *)) + sizeof(void *) * size;
}

static size_t pages_of(size_t bytes)
{
    return (bytes + UK_PAGE_SIZE - 1) / UK_PAGE_SIZE;
}

uk_result virtq_create(struct uk_virtio_dev *d, uint16_t index, uint16_t size,
                       struct uk_virtq **out)
{
    size_t avail_off, used_off, rbytes;
    struct uk_virtq *q;
    char *ring;

    if (!out || size == 0 || size > VIRTQ_SIZE_MAX || (size & (size - 1)))
        return UK_EINVAL;
    rbytes = ring_bytes(size, &avail_off, &used_off);
    q = uk_page_alloc(pages_of(meta_bytes(size)));
    if (!q)
        return UK_ENOMEM;
    ring = uk_page_alloc(pages_of(rbytes));
    if (!ring) {
        uk_page_free(q, pages_of(meta_bytes(size)));
        return UK_ENOMEM;
    }
    /* Pages are zeroed: flags, indices and tokens start at 0 / NULL. */
    q->dev = d;
    q->index = index;
    q->size = size;
    q->tokens = (void **)((char *)q + UK_ALIGN_UP(sizeof(struct uk_virtq), sizeof(void *)));
    q->desc = (struct uk_virtq_desc *)ring;
    q->avail = (struct uk_virtq_avail *)(ring + avail_off);
    q->used = (struct uk_virtq_used *)(ring + used_off);
    for (uint16_t i = 0; i + 1u < size; i++)
        q->desc[i].next = (uint16_t)(i + 1);
    q->free_head = 0;
    q->num_free = size;
    *out = q;
    return UK_OK;
}

void virtq_destroy(struct uk_virtq *q)
{
    size_t avail_off, used_off;

    if (!q)
        return;
    uk_page_free(q->desc, pages_of(ring_bytes(q->size, &avail_off, &used_off)));
    uk_page_free(q, pages_of(meta_bytes(q->size)));
}

uk_result uk_virtq_add(struct uk_virtq *q, const struct uk_virtq_buf *bufs, unsigned n, void *token)
{
    uint64_t total = 0;
    bool seen_in = false;
    uint16_t head, i, last;

    if (!q || !bufs || !token || n == 0 || n > q->size)
        return UK_EINVAL;
    for (unsigned k = 0; k < n; k++) {
        if (seen_in && !bufs[k].device_writes)
            return UK_EINVAL;
        seen_in = bufs[k].device_writes;
        total += bufs[k].len;
    }
    if (total > UINT32_MAX)
        return UK_EINVAL;
    if (n > q->num_free)
        return UK_EAGAIN;

    /* Take n descriptors off the free list, which is linked through
     * desc[].next (the device only reads `next` when NEXT is set). */
    head = i = last = q->free_head;
    for (unsigned k = 0; k < n; k++) {
        struct uk_virtq_desc *d = &q->desc[i];

        d->addr = (uint64_t)(uintptr_t)bufs[k].addr;
        d->len = bufs[k].len;
        d->flags = (uint16_t)((bufs[k].device_writes ? VIRTQ_DESC_F_WRITE : 0) |
                              (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        last = i;
        i = d->next;
    }
    q->free_head = q->desc[last].next;
    q->num_free = (uint16_t)(q->num_free - n);
    q->tokens[head] = token;

    UK_WRITE_ONCE(q->avail->ring[q->avail_idx & (q->size - 1)], head);
    q->avail_idx++;
    /* Descriptors and the ring slot before the index that publishes them. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELAXED);
    return UK_OK;
}

void uk_virtq_kick(struct uk_virtq *q)
{
    if (q->kicked_idx == q->avail_idx)
        return;
    q->kicked_idx = q->avail_idx;
    /* Store-load: avail->idx visible before reading used->flags (mfence). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&q->used->flags, __ATOMIC_RELAXED) & VIRTQ_USED_F_NO_NOTIFY)
        return;
    q->notifies++;
    virtio_transport_notify(q->dev, q->index);
}

void *uk_virtq_get(struct uk_virtq *q, uint32_t *len)
{
    for (;;) {
        uint16_t used_idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
        uint16_t pending = (uint16_t)(used_idx - q->last_used);
        struct uk_virtq_used_elem e;
        uint16_t tail, count;
        void *token;

        if (pending == 0)
            return NULL;
        if (pending > q->size) {
            /* The device claims more completions than there can be. */
            if (q->errors++ == 0)
                uk_warn("virtq %u: used idx %u is %u ahead of %u (size %u)", q->index, used_idx,
                        pending, q->last_used, q->size);
            return NULL;
        }
        /* The acquire load above orders these reads after used->idx. */
        e.id = UK_READ_ONCE(q->used->ring[q->last_used & (q->size - 1)].id);
        e.len = UK_READ_ONCE(q->used->ring[q->last_used & (q->size - 1)].len);
        q->last_used++;

        if (e.id >= q->size || !q->tokens[e.id]) {
            q->errors++;
            uk_warn("virtq %u: device returned bad descriptor id %u", q->index, e.id);
            continue;
        }
        /* Walk the chain we wrote (bounded: descriptors are ours, but keep
         * a corrupted table from looping) and put it back on the free list. */
        tail = (uint16_t)e.id;
        count = 1;
        while ((q->desc[tail].flags & VIRTQ_DESC_F_NEXT) && count < q->size) {
            tail = q->desc[tail].next;
            count++;
        }
        q->desc[tail].next = q->free_head;
        q->free_head = (uint16_t)e.id;
        q->num_free = (uint16_t)(q->num_free + count);
        token = q->tokens[e.id];
        q->tokens[e.id] = NULL;
        q->completions++;
        if (len)
            *len = e.len;
        return token;
    }
}
