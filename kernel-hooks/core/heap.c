/*
 * Kernel heap: malloc and friends for the whole guest.
 *
 * Small requests (<= 3 KiB with the header) come from size classes carved
 * out of pages and kept on per-class free lists; larger ones take whole
 * pages.  One spinlock: allocation is not a hot path in this kernel.
 * Every block has a 16-byte header (so payloads are 16-byte aligned) whose
 * magic catches double frees and wild pointers.
 */
#include <stdlib.h>
#include <string.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/panic.h>
#include <uk/sync.h>
#include "core/kernel.h"

#define HDR_MAGIC 0x4b4c4255u  /* "UBLK" */
#define FREE_MAGIC 0x45455246u /* "FREE" */

enum heap_class_kind {
    CLASS_LARGE = 0xff,   /* whole pages; size = page count */
    CLASS_ALIGNED = 0xfe, /* aligned_alloc shim; size = bytes back to the inner payload */
};

struct hdr {
    uint32_t magic;
    uint32_t cls;
    uint64_t size; /* bytes requested (small), pages (large), or offset (aligned) */
};
_Static_assert(sizeof(struct hdr) == 16, "heap header keeps 16-byte alignment");

static const uint32_t class_size[] = {32,  48,  64,   96,   128,  192,  256, 384,
                                      512, 768, 1024, 1536, 2048, 3072, 4096};
#define NCLASSES UK_ARRAY_SIZE(class_size)

/* A free block keeps the header's magic (FREE_MAGIC) and class; the link
 * overlays the size field, so double frees stay detectable. */
struct free_blk {
    uint32_t magic;
    uint32_t cls;
    struct free_blk *next;
};

static struct free_blk *free_list[NCLASSES];
static struct uk_spinlock heap_lock = UK_SPINLOCK_INIT;
static struct uk_mem_stats st;

void heap_init(void)
{
}

static int class_of(size_t total)
{
    for (unsigned i = 0; i < NCLASSES; i++)
        if (total <= class_size[i])
            return (int)i;
    return -1;
}

/* Refill class c with a fresh run of pages; called with the lock held. */
static bool refill(unsigned c)
{
    size_t pages = class_size[c] > 1024 ? 4 : 1;
    uint8_t *p = uk_page_alloc(pages);
    if (!p)
        return false;
    st.heap_size += pages * UK_PAGE_SIZE;
    for (size_t off = 0; off + class_size[c] <= pages * UK_PAGE_SIZE; off += class_size[c]) {
        struct free_blk *b = (struct free_blk *)(p + off);
        b->magic = FREE_MAGIC;
        b->cls = c;
        b->next = free_list[c];
        free_list[c] = b;
    }
    return true;
}

static void account_alloc(size_t size)
{
    st.heap_allocs++;
    st.heap_in_use += size;
    if (st.heap_in_use > st.heap_peak)
        st.heap_peak = st.heap_in_use;
}

void *malloc(size_t size)
{
    if (size > (1ULL << 40))
        goto fail_unlocked;
    size_t total = size + sizeof(struct hdr);
    int c = class_of(total);
    struct hdr *h;
    if (c < 0) {
        size_t pages = UK_ALIGN_UP(total, UK_PAGE_SIZE) / UK_PAGE_SIZE;
        h = uk_page_alloc(pages);
        unsigned long flags = uk_spin_lock_irqsave(&heap_lock);
        if (!h) {
            st.heap_failures++;
            uk_spin_unlock_irqrestore(&heap_lock, flags);
            return NULL;
        }
        h->magic = HDR_MAGIC;
        h->cls = CLASS_LARGE;
        h->size = pages;
        st.heap_size += pages * UK_PAGE_SIZE;
        account_alloc(pages * UK_PAGE_SIZE);
        uk_spin_unlock_irqrestore(&heap_lock, flags);
        return h + 1;
    }
    unsigned long flags = uk_spin_lock_irqsave(&heap_lock);
    if (!free_list[c] && !refill((unsigned)c)) {
        st.heap_failures++;
        uk_spin_unlock_irqrestore(&heap_lock, flags);
        return NULL;
    }
    h = (struct hdr *)free_list[c];
    free_list[c] = free_list[c]->next;
    h->magic = HDR_MAGIC;
    h->cls = (uint32_t)c;
    h->size = size;
    account_alloc(size);
    uk_spin_unlock_irqrestore(&heap_lock, flags);
    return h + 1;

fail_unlocked:;
    unsigned long f = uk_spin_lock_irqsave(&heap_lock);
    st.heap_failures++;
    uk_spin_unlock_irqrestore(&heap_lock, f);
    return NULL;
}

static struct hdr *hdr_of(void *p, const char *who)
{
    struct hdr *h = (struct hdr *)p - 1;
    if (!uk_mem_accessible((uintptr_t)h, sizeof(*h), UK_MEM_READ | UK_MEM_WRITE))
        uk_panic("%s(%p): not a heap pointer", who, p);
    if (h->magic == FREE_MAGIC)
        uk_panic("%s(%p): double free", who, p);
    if (h->magic != HDR_MAGIC)
        uk_panic("%s(%p): bad heap block (corrupt header or wild pointer)", who, p);
    return h;
}

void free(void *p)
{
    if (!p)
        return;
    struct hdr *h = hdr_of(p, "free");
    if (h->cls == CLASS_ALIGNED) {
        h->magic = FREE_MAGIC;
        free((uint8_t *)h - h->size); /* the inner block's payload */
        return;
    }
    unsigned long flags = uk_spin_lock_irqsave(&heap_lock);
    st.heap_frees++;
    h->magic = FREE_MAGIC;
    if (h->cls == CLASS_LARGE) {
        size_t pages = h->size;
        st.heap_in_use -= pages * UK_PAGE_SIZE;
        st.heap_size -= pages * UK_PAGE_SIZE;
        uk_spin_unlock_irqrestore(&heap_lock, flags);
        uk_page_free(h, pages);
        return;
    }
    unsigned c = h->cls;
    UK_ASSERT(c < NCLASSES);
    st.heap_in_use -= h->size;
    struct free_blk *b = (struct free_blk *)h;
    b->next = free_list[c];
    free_list[c] = b;
    uk_spin_unlock_irqrestore(&heap_lock, flags);
}

void *calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total))
        return NULL;
    void *p = malloc(total);
    if (p)
        memset(p, 0, total);
    return p;
}

static size_t usable_size(struct hdr *h)
{
    if (h->cls == CLASS_LARGE)
        return h->size * UK_PAGE_SIZE - sizeof(*h);
    return h->size;
}

void *realloc(void *p, size_t size)
{
    if (!p)
        return malloc(size);
    if (size == 0) {
        free(p);
        return NULL;
    }
    struct hdr *h = hdr_of(p, "realloc");
    size_t old;
    if (h->cls == CLASS_ALIGNED) {
        uint8_t *inner = (uint8_t *)h - h->size;
        old = usable_size(hdr_of(inner, "realloc")) - (size_t)((uint8_t *)p - inner);
    } else {
        old = usable_size(h);
    }
    void *n = malloc(size);
    if (!n)
        return NULL;
    memcpy(n, p, UK_MIN(old, size));
    free(p);
    return n;
}

void *aligned_alloc(size_t align, size_t size)
{
    if (align <= 16)
        return malloc(size);
    if (align & (align - 1))
        return NULL;
    uint8_t *raw = malloc(size + align + sizeof(struct hdr));
    if (!raw)
        return NULL;
    uintptr_t user = UK_ALIGN_UP((uintptr_t)raw + sizeof(struct hdr), align);
    struct hdr *h = (struct hdr *)user - 1;
    h->magic = HDR_MAGIC;
    h->cls = CLASS_ALIGNED;
    h->size = (uint64_t)((uint8_t *)h - raw); /* h >= raw: user >= raw + 16 */
    return (void *)user;
}

int posix_memalign(void **out, size_t align, size_t size)
{
    void *p = aligned_alloc(align, size);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void uk_mem_stats(struct uk_mem_stats *out)
{
    unsigned long flags = uk_spin_lock_irqsave(&heap_lock);
    *out = st;
    uk_spin_unlock_irqrestore(&heap_lock, flags);
    pmem_stats(out);
}

void abort(void)
{
    uk_panic("abort() called");
}
