/*
 * Page tables.  mmu_init replaces the boot tables (4 GiB of 2 MiB pages)
 * with identity mappings that are 4 KiB-granular where permissions change
 * (2 MiB pages elsewhere, split on demand, e.g. for a guard page):
 *   page 0                      unmapped (NULL dereferences fault)
 *   low memory, data, bss, heap RW + NX
 *   kernel text                 R + X
 *   rodata, notes, symbol table R + NX
 *   AP trampoline page          RWX (real-mode start-up code)
 *   0xfe000000..4 GiB           device memory (IOAPIC, LAPIC, virtio-mmio), UC + NX
 *   stack guard pages           unmapped
 * Only this CPU's TLB is flushed by changes; callers that unmap memory other
 * CPUs may have used flush them with mmu_flush_all().
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <string.h>
#include <uk/cpu.h>
#include <uk/mem.h>
#include <uk/panic.h>

#define PT_ENTRIES 512
#define ADDR_MASK 0x000ffffffffff000ULL
#define DEVICE_BASE 0xfe000000ULL
#define DEVICE_END 0x100000000ULL

static uint64_t *pml4;

static uint64_t *table_alloc(void)
{
    uint64_t *t = uk_page_alloc(1);
    UK_ASSERT(t && (uintptr_t)t < 0x100000000ULL); /* APs load CR3 in 32-bit mode */
    return t;
}

/*
 * Split the 2 MiB mapping in *pde into 512 4 KiB entries with the same
 * flags.  Called with the world in a state where nobody else edits tables.
 */
static void split_2m(uint64_t *pde)
{
    uint64_t *pt = table_alloc();
    uint64_t base = *pde & 0x000fffffffe00000ULL;
    uint64_t flags = *pde & ~(0x000fffffffe00000ULL | PTE_PS);
    for (unsigned i = 0; i < PT_ENTRIES; i++)
        pt[i] = (base + i * UK_PAGE_SIZE) | flags;
    *pde = (uint64_t)(uintptr_t)pt | PTE_P | PTE_W;
}

/* The PD entry (level 1) or PTE (level 0) for va, creating tables if `create`. */
static uint64_t *entry_get(uintptr_t va, int want_level, bool create)
{
    uint64_t *t = pml4;
    for (int level = 3; level > want_level; level--) {
        uint64_t *e = &t[(va >> (12 + 9 * level)) & 511];
        if (!(*e & PTE_P)) {
            if (!create)
                return NULL;
            *e = (uint64_t)(uintptr_t)table_alloc() | PTE_P | PTE_W;
        } else if (*e & PTE_PS) {
            UK_ASSERT(level == 1); /* only 2 MiB pages are made here */
            if (!create)
                return NULL;
            split_2m(e);
        }
        t = (uint64_t *)(uintptr_t)(*e & ADDR_MASK);
    }
    return &t[(va >> (12 + 9 * want_level)) & 511];
}

static uint64_t *pte_get(uintptr_t va, bool create)
{
    return entry_get(va, 0, create);
}

/*
 * Map [start, end) identity with `flags`, using 2 MiB pages for aligned
 * 2 MiB blocks that are not yet mapped at a finer grain (fewer tables, and
 * boot stays fast where the hypervisor emulates the guest).
 */
static void map_range(uint64_t start, uint64_t end, uint64_t flags)
{
    uint64_t a = UK_ALIGN_DOWN(start, UK_PAGE_SIZE);
    while (a < end) {
        if (a % 0x200000 == 0 && a + 0x200000 <= end) {
            uint64_t *pde = entry_get(a, 1, true);
            if (!(*pde & PTE_P) || (*pde & PTE_PS)) {
                *pde = a | flags | PTE_PS;
                a += 0x200000;
                continue;
            }
        }
        *pte_get(a, true) = a | flags;
        a += UK_PAGE_SIZE;
    }
}

static void map_device_2m(uint64_t start, uint64_t end)
{
    map_range(start, end, PTE_P | PTE_W | PTE_PCD | PTE_PWT | PTE_NX);
}

void mmu_init(void)
{
    const uint64_t rw = PTE_P | PTE_W | PTE_NX;
    pml4 = table_alloc();

    for (unsigned i = 0; i < mem_range_count; i++)
        map_range(UK_MAX(mem_ranges[i].start, UK_PAGE_SIZE), mem_ranges[i].end, rw);
    map_range(AP_TRAMPOLINE_PADDR, AP_TRAMPOLINE_PADDR + UK_PAGE_SIZE, PTE_P | PTE_W);
    map_range((uintptr_t)__image_start, (uintptr_t)__text_start, PTE_P | PTE_NX);
    map_range((uintptr_t)__text_start, (uintptr_t)__text_end, PTE_P);
    map_range((uintptr_t)__rodata_start, (uintptr_t)__data_start, PTE_P | PTE_NX);
    map_range((uintptr_t)__data_start, (uintptr_t)__bss_end, rw);
    map_range((uintptr_t)__uksyms_start, (uintptr_t)__image_end, PTE_P | PTE_NX);
    /* The boot stack's guard page. */
    *pte_get((uintptr_t)boot_stack_guard, true) = 0;
    map_device_2m(DEVICE_BASE, DEVICE_END);

    write_cr3((uint64_t)(uintptr_t)pml4);
}

void mmu_init_ap(void)
{
    write_cr3((uint64_t)(uintptr_t)pml4);
}

uint64_t mmu_cr3(void)
{
    return (uint64_t)(uintptr_t)pml4;
}

static bool canonical(uintptr_t va)
{
    return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

/* Walk the live page tables (CR3) for one address; 0 if unmapped. */
static uint64_t walk(uintptr_t va)
{
    if (!canonical(va))
        return 0;
    uint64_t *t = (uint64_t *)(uintptr_t)(read_cr3() & ADDR_MASK);
    uint64_t eff = PTE_W; /* W must be set at every level; NX at any level */
    uint64_t nx = 0;
    for (int level = 3; level >= 0; level--) {
        uint64_t e = t[(va >> (12 + 9 * level)) & 511];
        if (!(e & PTE_P))
            return 0;
        eff &= e | ~PTE_W;
        nx |= e & PTE_NX;
        if (level == 0 || ((e & PTE_PS) && level <= 2))
            return (e & ~(PTE_W | PTE_NX)) | (eff & PTE_W) | nx | PTE_P;
        t = (uint64_t *)(uintptr_t)(e & ADDR_MASK);
    }
    return 0;
}

bool uk_mem_accessible(uintptr_t addr, size_t len, unsigned access)
{
    if (len == 0)
        return true;
    if (addr + len - 1 < addr)
        return false;
    for (uintptr_t p = UK_ALIGN_DOWN(addr, UK_PAGE_SIZE); p <= addr + len - 1;
         p += UK_PAGE_SIZE) {
        uint64_t e = walk(p);
        if (!(e & PTE_P))
            return false;
        if ((access & UK_MEM_WRITE) && !(e & PTE_W))
            return false;
        if ((access & UK_MEM_EXEC) && (e & PTE_NX))
            return false;
        if (p + UK_PAGE_SIZE < p)
            break;
    }
    return true;
}

uk_result uk_mem_set_writable(uintptr_t addr, bool writable)
{
    if (!canonical(addr))
        return UK_EFAULT;
    if (!uk_mem_accessible(addr, 1, UK_MEM_READ))
        return UK_EFAULT;
    uint64_t *pte = pte_get(UK_ALIGN_DOWN(addr, UK_PAGE_SIZE), true);
    if (writable)
        *pte |= PTE_W;
    else
        *pte &= ~(uint64_t)PTE_W;
    invlpg(addr);
    return UK_OK;
}

static void flush_local(void *arg)
{
    write_cr3(read_cr3());
}

void mmu_flush_all(void)
{
    for (unsigned c = 0; c < uk_cpu_count(); c++)
        uk_cpu_call(c, flush_local, NULL);
}

void *uk_stack_alloc(size_t npages)
{
    uint8_t *p = uk_page_alloc(npages + 1);
    if (!p)
        return NULL;
    *pte_get((uintptr_t)p, true) = 0; /* splits a 2 MiB mapping if needed */
    invlpg((uintptr_t)p);
    return p + UK_PAGE_SIZE;
}

void uk_stack_free(void *stack, size_t npages)
{
    uint8_t *p = (uint8_t *)stack - UK_PAGE_SIZE;
    *pte_get((uintptr_t)p, false) = (uintptr_t)p | PTE_P | PTE_W | PTE_NX;
    invlpg((uintptr_t)p);
    uk_page_free(p, npages + 1);
}
