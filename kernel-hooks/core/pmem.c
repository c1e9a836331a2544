/*
 * Physical memory: the PVH memory map, and a page allocator (a bitmap of
 * 4 KiB pages, first fit with a rotating hint) over RAM above the image.
 * Memory is identity-mapped, so a page's physical address is its pointer.
 */
#include "core/kernel.h"
#include <string.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/panic.h>
#include <uk/sync.h>

struct mem_range mem_ranges[MEM_RANGES_MAX];
unsigned mem_range_count;

static uint64_t *bitmap; /* bit set = page in use */
static uint64_t page_base, page_count, pages_free, hint;
static uint64_t ram_bytes;
static struct uk_spinlock pmem_lock = UK_SPINLOCK_INIT;

void mem_map_init(const struct hvm_start_info *si)
{
    const struct hvm_memmap_entry *e = (const void *)(uintptr_t)si->memmap_paddr;
    unsigned n = si->version >= 1 ? si->memmap_entries : 0;
    for (unsigned i = 0; i < n && mem_range_count < MEM_RANGES_MAX; i++) {
        if (e[i].type != HVM_MEMMAP_RAM)
            continue;
        uint64_t start = UK_ALIGN_UP(e[i].addr, UK_PAGE_SIZE);
        uint64_t end = UK_ALIGN_DOWN(e[i].addr + e[i].size, UK_PAGE_SIZE);
        if (end <= start)
            continue;
        mem_ranges[mem_range_count++] = (struct mem_range){start, end};
        ram_bytes += end - start;
    }
}

static inline bool page_used(uint64_t i)
{
    return bitmap[i / 64] & (1ULL << (i % 64));
}
static inline void page_mark(uint64_t i, bool used)
{
    if (used)
        bitmap[i / 64] |= 1ULL << (i % 64);
    else
        bitmap[i / 64] &= ~(1ULL << (i % 64));
}

/* Mark pages [first, last) used or free, a word at a time where possible. */
static void mark_range(uint64_t first, uint64_t last, bool used)
{
    uint64_t i = first;
    for (; i < last && i % 64; i++)
        page_mark(i, used);
    for (; i + 64 <= last; i += 64)
        bitmap[i / 64] = used ? ~0ULL : 0;
    for (; i < last; i++)
        page_mark(i, used);
}

void pmem_init(void)
{
    /* Manage [image end, highest RAM); the bitmap sits at the image end. */
    uint64_t top = 0;
    for (unsigned i = 0; i < mem_range_count; i++)
        top = UK_MAX(top, mem_ranges[i].end);
    page_base = UK_ALIGN_UP((uint64_t)(uintptr_t)__image_end, UK_PAGE_SIZE);
    UK_ASSERT(top > page_base);
    page_count = (top - page_base) / UK_PAGE_SIZE;
    uint64_t bm_bytes = UK_ALIGN_UP((page_count + 63) / 64 * 8, UK_PAGE_SIZE);
    bitmap = (uint64_t *)(uintptr_t)page_base;
    memset(bitmap, 0xff, bm_bytes);

    for (unsigned r = 0; r < mem_range_count; r++) {
        uint64_t a = UK_MAX(mem_ranges[r].start, page_base);
        if (a >= mem_ranges[r].end)
            continue;
        uint64_t first = (a - page_base) / UK_PAGE_SIZE;
        uint64_t last = (mem_ranges[r].end - page_base) / UK_PAGE_SIZE;
        mark_range(first, last, false);
        pages_free += last - first;
    }
    uint64_t bm_pages = bm_bytes / UK_PAGE_SIZE;
    mark_range(0, bm_pages, true);
    pages_free -= bm_pages;
}

/* Find npages free pages in a row starting the search at `from`. */
static int64_t find_run(uint64_t from, uint64_t npages)
{
    uint64_t run = 0;
    for (uint64_t i = from; i < page_count; i++) {
        if (run == 0 && (i % 64) == 0 && bitmap[i / 64] == ~0ULL) {
            i += 63; /* whole word used */
            continue;
        }
        run = page_used(i) ? 0 : run + 1;
        if (run == npages)
            return (int64_t)(i + 1 - npages);
    }
    return -1;
}

void *uk_page_alloc(size_t npages)
{
    if (npages == 0)
        return NULL;
    unsigned long flags = uk_spin_lock_irqsave(&pmem_lock);
    int64_t first = find_run(hint, npages);
    if (first < 0)
        first = find_run(0, npages);
    if (first >= 0) {
        for (uint64_t i = 0; i < npages; i++)
            page_mark((uint64_t)first + i, true);
        pages_free -= npages;
        hint = (uint64_t)first + npages;
    }
    uk_spin_unlock_irqrestore(&pmem_lock, flags);
    if (first < 0)
        return NULL;
    void *p = (void *)(uintptr_t)(page_base + (uint64_t)first * UK_PAGE_SIZE);
    memset(p, 0, npages * UK_PAGE_SIZE);
    return p;
}

void uk_page_free(void *p, size_t npages)
{
    uint64_t a = (uint64_t)(uintptr_t)p;
    UK_ASSERT(a % UK_PAGE_SIZE == 0 && a >= page_base);
    uint64_t first = (a - page_base) / UK_PAGE_SIZE;
    UK_ASSERT(first + npages <= page_count);
    unsigned long flags = uk_spin_lock_irqsave(&pmem_lock);
    for (uint64_t i = 0; i < npages; i++) {
        UK_ASSERT(page_used(first + i));
        page_mark(first + i, false);
    }
    pages_free += npages;
    if (first < hint)
        hint = first;
    uk_spin_unlock_irqrestore(&pmem_lock, flags);
}

void pmem_stats(struct uk_mem_stats *s)
{
    s->ram_bytes = ram_bytes;
    s->pages_total = page_count;
    s->pages_free = pages_free;
}
