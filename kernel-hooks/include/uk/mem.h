/*
 * Memory: physical pages, the kernel heap and the debugger's access check.
 *
 * The kernel identity-maps RAM (virtual == physical) with 4 KiB pages:
 * text RX, rodata R, data/heap RW+NX, page 0 and stack guard pages unmapped.
 * malloc/calloc/realloc/free/aligned_alloc are in <stdlib.h> (the small libc)
 * and use the heap below.
 */
#ifndef UK_MEM_H
#define UK_MEM_H

#include <uk/types.h>

enum uk_mem_access {
    UK_MEM_READ = 1,
    UK_MEM_WRITE = 2,
    UK_MEM_EXEC = 4,
};

/*
 * True if every byte of [addr, addr+len) is mapped with the given access
 * (a mask of enum uk_mem_access) in the current page tables.  Walks the
 * page tables; takes no lock, so it is safe from trap hooks and NMI context.
 * A debugger must call this before touching memory it was asked for.
 */
bool uk_mem_accessible(uintptr_t addr, size_t len, unsigned access);

/*
 * Make the page containing addr temporarily writable (for a debugger
 * placing int3 into read-only text), or restore it.  Returns UK_EFAULT if
 * unmapped.  Caller stops other CPUs first; the TLB is flushed locally and
 * by the caller's resume.
 */
uk_result uk_mem_set_writable(uintptr_t addr, bool writable);

/* Physical pages (identity-mapped).  Zeroed.  NULL when out of memory. */
void *uk_page_alloc(size_t npages);
void uk_page_free(void *p, size_t npages);

/* Allocate npages with an unmapped guard page below (a stack). */
void *uk_stack_alloc(size_t npages);
void uk_stack_free(void *p, size_t npages);

struct uk_mem_stats {
    uint64_t ram_bytes;       /* usable RAM from the memory map */
    uint64_t pages_total;     /* pages managed by the page allocator */
    uint64_t pages_free;
    uint64_t heap_in_use;     /* bytes handed out by malloc, not yet freed */
    uint64_t heap_peak;       /* maximum of heap_in_use */
    uint64_t heap_size;       /* bytes the heap holds from the page allocator */
    uint64_t heap_allocs;     /* successful allocations */
    uint64_t heap_frees;
    uint64_t heap_failures;   /* allocations that returned NULL */
};
void uk_mem_stats(struct uk_mem_stats *out);

#endif
