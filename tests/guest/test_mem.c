/*
 * Memory: heap stress with content checks and exact counters, aligned
 * allocation, failure accounting, page allocator, and the debugger's
 * access query against the real page tables.
 */
#include <stdlib.h>
#include <string.h>
#include <uk/mem.h>
#include <uk/test.h>

extern char __text_start[], __rodata_start[], __data_start[];

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

#define SLOTS 512

UK_TEST(heap_stress)
{
    static uint8_t *ptr[SLOTS];
    static size_t len[SLOTS];
    struct uk_mem_stats before, after;
    uk_mem_stats(&before);

    for (int round = 0; round < 5000; round++) {
        unsigned i = rnd() % SLOTS;
        if (ptr[i]) {
            for (size_t k = 0; k < len[i]; k++)
                UK_CHECK(ptr[i][k] == (uint8_t)(i + k));
            if (rnd() % 4 == 0) {
                size_t n = 1 + rnd() % 9000;
                uint8_t *p = realloc(ptr[i], n);
                UK_CHECK(p);
                for (size_t k = 0; k < UK_MIN(n, len[i]); k++)
                    UK_CHECK(p[k] == (uint8_t)(i + k));
                for (size_t k = 0; k < n; k++)
                    p[k] = (uint8_t)(i + k);
                ptr[i] = p;
                len[i] = n;
            } else {
                free(ptr[i]);
                ptr[i] = NULL;
            }
        } else {
            size_t n = (rnd() % 8 == 0) ? 1 + rnd() % 12000 : 1 + rnd() % 300;
            ptr[i] = malloc(n);
            UK_CHECK(ptr[i]);
            UK_CHECK(((uintptr_t)ptr[i] & 15) == 0);
            len[i] = n;
            for (size_t k = 0; k < n; k++)
                ptr[i][k] = (uint8_t)(i + k);
        }
    }
    for (unsigned i = 0; i < SLOTS; i++)
        free(ptr[i]);
    uk_mem_stats(&after);
    uk_info("heap: in use %llu -> %llu, peak %llu, allocs %llu, frees %llu",
            (unsigned long long)before.heap_in_use, (unsigned long long)after.heap_in_use,
            (unsigned long long)after.heap_peak, (unsigned long long)after.heap_allocs,
            (unsigned long long)after.heap_frees);
    UK_CHECK(after.heap_in_use == before.heap_in_use);
    UK_CHECK(after.heap_peak > before.heap_in_use);
    UK_CHECK(after.heap_allocs - before.heap_allocs == after.heap_frees - before.heap_frees);
    return 0;
}

UK_TEST(heap_aligned_and_failures)
{
    for (size_t align = 32; align <= 8192; align *= 2) {
        void *p = aligned_alloc(align, 100);
        UK_CHECK(p && ((uintptr_t)p % align) == 0);
        memset(p, 0xab, 100);
        void *q = realloc(p, 5000);
        UK_CHECK(q && ((uint8_t *)q)[99] == 0xab);
        free(q);
    }
    UK_CHECK(aligned_alloc(48, 10) == NULL); /* not a power of two */
    struct uk_mem_stats a, b;
    uk_mem_stats(&a);
    UK_CHECK(malloc((size_t)1 << 50) == NULL);
    UK_CHECK(malloc(a.ram_bytes * 2) == NULL);
    UK_CHECK(calloc((size_t)1 << 40, (size_t)1 << 40) == NULL);
    uk_mem_stats(&b);
    UK_CHECK(b.heap_failures == a.heap_failures + 2);
    return 0;
}

UK_TEST(mem_access)
{
    /* Text: readable and executable, not writable; rodata: no exec. */
    UK_CHECK(uk_mem_accessible((uintptr_t)__text_start, 16, UK_MEM_READ | UK_MEM_EXEC));
    UK_CHECK(!uk_mem_accessible((uintptr_t)__text_start, 16, UK_MEM_WRITE));
    UK_CHECK(!uk_mem_accessible((uintptr_t)__rodata_start, 16, UK_MEM_EXEC));
    UK_CHECK(!uk_mem_accessible((uintptr_t)__rodata_start, 16, UK_MEM_WRITE));
    UK_CHECK(uk_mem_accessible((uintptr_t)__data_start, 16, UK_MEM_READ | UK_MEM_WRITE));
    UK_CHECK(!uk_mem_accessible((uintptr_t)__data_start, 16, UK_MEM_EXEC));
    /* Page 0, non-canonical, wrap-around, beyond RAM. */
    UK_CHECK(!uk_mem_accessible(0, 1, UK_MEM_READ));
    UK_CHECK(!uk_mem_accessible(0x8000000000000000ULL, 1, UK_MEM_READ));
    UK_CHECK(!uk_mem_accessible(~0ULL - 4, 16, UK_MEM_READ));
    UK_CHECK(!uk_mem_accessible(0x800000000ULL, 1, UK_MEM_READ));
    /* A stack's guard page is unmapped, the stack itself is mapped. */
    uint8_t *stack = uk_stack_alloc(2);
    UK_CHECK(stack);
    UK_CHECK(uk_mem_accessible((uintptr_t)stack, 2 * UK_PAGE_SIZE, UK_MEM_WRITE));
    UK_CHECK(!uk_mem_accessible((uintptr_t)stack - 1, 1, UK_MEM_READ));
    UK_CHECK(!uk_mem_accessible((uintptr_t)stack - 8, 16, UK_MEM_READ)); /* straddles */
    uk_stack_free(stack, 2);
    /* Making text writable for a breakpoint, and back. */
    uintptr_t t = (uintptr_t)__text_start;
    UK_CHECK(uk_mem_set_writable(t, true) == UK_OK);
    UK_CHECK(uk_mem_accessible(t, 1, UK_MEM_WRITE));
    UK_CHECK(uk_mem_set_writable(t, false) == UK_OK);
    UK_CHECK(!uk_mem_accessible(t, 1, UK_MEM_WRITE));
    UK_CHECK(uk_mem_set_writable(0, true) == UK_EFAULT);
    return 0;
}

UK_TEST(page_alloc)
{
    struct uk_mem_stats a, b;
    uk_mem_stats(&a);
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = uk_page_alloc((size_t)1 + (size_t)i % 5);
        UK_CHECK(p[i] && ((uintptr_t)p[i] % UK_PAGE_SIZE) == 0);
        UK_CHECK(((uint64_t *)p[i])[100] == 0); /* zeroed */
        memset(p[i], 0x5a, UK_PAGE_SIZE);
    }
    for (int i = 0; i < 64; i++)
        uk_page_free(p[i], (size_t)1 + (size_t)i % 5);
    uk_mem_stats(&b);
    UK_CHECK(a.pages_free == b.pages_free);
    UK_CHECK(uk_page_alloc(a.pages_total + 1) == NULL);
    return 0;
}

/*
 * The guest's string instructions (kernel-hooks/libc/string.c: rep movsq /
 * stosq for words, then bytes) against byte loops, for every length 0..80
 * plus a few large ones, every source/destination offset 0..7, with guard
 * bytes around the destination that must stay untouched.
 */
enum { STR_BUF = 4096 + 64, STR_GUARD = 0xa5 };
static uint8_t str_src[STR_BUF], str_dst[STR_BUF], str_ref[STR_BUF];

/* The destination window [0, doff + n + 32): the guard bytes that a copy of
 * n bytes at doff could overrun (a word loop overruns by < 8), without
 * scanning all 4 KiB for every small case (kvm_pvm emulates each byte). */
static size_t str_window(size_t doff, size_t n)
{
    return doff + n + 32 < STR_BUF ? doff + n + 32 : STR_BUF;
}

static bool str_check(size_t doff, size_t n)
{
    for (size_t i = 0; i < str_window(doff, n); i++) {
        bool inside = i >= doff && i < doff + n;
        if (inside ? str_dst[i] != str_ref[i] : str_dst[i] != STR_GUARD)
            return false;
    }
    return true;
}

UK_TEST(libc_string_words)
{
    static const size_t big[] = {255, 256, 257, 1000, 4095, 4096};
    for (size_t i = 0; i < STR_BUF; i++)
        str_src[i] = (uint8_t)(i * 7 + 3);
    for (size_t k = 0; k < 81 + UK_ARRAY_SIZE(big); k++) {
        size_t n = k <= 80 ? k : big[k - 81];
        for (size_t so = 0; so < 8; so++) {
            for (size_t doff = 0; doff < 8; doff++) {
                for (size_t i = 0; i < n; i++) /* the reference, byte by byte */
                    str_ref[doff + i] = str_src[so + i];
                for (size_t i = 0; i < str_window(doff, n); i++)
                    str_dst[i] = STR_GUARD;
                UK_CHECK(memcpy(str_dst + doff, str_src + so, n) == str_dst + doff);
                UK_CHECK(str_check(doff, n));
                for (size_t i = 0; i < n; i++)
                    str_ref[doff + i] = (uint8_t)(0x5a + so);
                UK_CHECK(memset(str_dst + doff, 0x5a + (int)so + 0x100, n) == str_dst + doff);
                UK_CHECK(str_check(doff, n));
            }
        }
    }
    /* Overlapping moves, both directions. */
    for (size_t n = 0; n < 40; n++) {
        for (size_t i = 0; i < 64; i++)
            str_dst[i] = (uint8_t)i;
        memmove(str_dst + 3, str_dst, n);
        for (size_t i = 0; i < n; i++)
            UK_CHECK(str_dst[3 + i] == i);
        for (size_t i = 0; i < 64; i++)
            str_dst[i] = (uint8_t)i;
        memmove(str_dst, str_dst + 3, n);
        for (size_t i = 0; i < n; i++)
            UK_CHECK(str_dst[i] == i + 3);
    }
    return 0;
}
