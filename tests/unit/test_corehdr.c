/*
 * Unit tests: the image's ELF header page in a core (host-collector/crash/
 * corehdr.c), which libdwfl needs to report the kernel as a module: written
 * where a loader would have mapped the header, with an offset-0 PT_LOAD,
 * the build-id note, and the NT_FILE mapping that names the image from
 * offset 0; never when guest memory in the core covers that page, nor for
 * a layout without room for it.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crash_image.h"

static struct crash_image ci;
static struct crash_state st;
static const struct crash_meta meta = {.name = "t", .accel = "tcg", .smp = 2, .mem_mib = 8,
                                       .image = "/x/kernel.elf", .level = "minimal"};

static int setup(void **state)
{
    ci_init(&ci);
    /* an image linked above the fake RAM: text at 16 MiB from file offset 0x1000 */
    ci.lay.lseg[0].addr = 0x1000000, ci.lay.lseg[0].len = 0x20000;
    ci.lay.lseg[0].offset = 0x1000;
    ci.lay.lseg[1].addr = 0x1020000, ci.lay.lseg[1].len = 0x8000;
    ci.lay.lseg[1].offset = 0x21000;
    ci.lay.nlseg = 2;
    ci.lay.entry = 0x1000100;
    ci.lay.phoff = 64;
    ci.lay.phnum = 3;
    for (unsigned i = 0; i < 20; i++)
        ci.lay.build_id_raw[i] = (uint8_t)(0xa0 + i);
    ci.lay.build_id_len = 20;
    return 0;
}

static int teardown(void **state)
{
    ci_free(&ci);
    return 0;
}

static uint8_t *write_core(enum crash_level lvl, size_t *len)
{
    char err[256] = "";
    crash_read(&st, &ci.mem, &ci.lay, lvl, NULL);
    int fd = memfd_create("core", 0);
    assert_true(fd >= 0);
    long n = crash_core_write(fd, &st, &ci.mem, &ci.lay, &meta, err, sizeof(err));
    assert_true(n > 0);
    uint8_t *b = malloc((size_t)n);
    assert_int_equal(pread(fd, b, (size_t)n, 0), n);
    close(fd);
    *len = (size_t)n;
    return b;
}

/* The core's PT_LOAD at va, or NULL. */
static const Elf64_Phdr *load_at(const uint8_t *b, uint64_t va)
{
    const Elf64_Ehdr *eh = (const void *)b;
    const Elf64_Phdr *ph = (const void *)(b + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr == va)
            return &ph[i];
    return NULL;
}

/* The NT_FILE note's first mapping (start, end, offset). */
static void file_first(const uint8_t *b, uint64_t out[3], uint64_t *count)
{
    const Elf64_Ehdr *eh = (const void *)b;
    const Elf64_Phdr *ph = (const void *)(b + eh->e_phoff);
    for (size_t off = ph[0].p_offset; off < ph[0].p_offset + ph[0].p_filesz;) {
        Elf64_Nhdr nh;
        memcpy(&nh, b + off, sizeof(nh));
        size_t d = off + sizeof(nh) + ((nh.n_namesz + 3) & ~3u);
        if (nh.n_type == NT_FILE) {
            memcpy(count, b + d, 8);
            memcpy(out, b + d + 16, 24);
            return;
        }
        off = d + ((nh.n_descsz + 3) & ~3u);
    }
    fail_msg("no NT_FILE");
}

static void test_header_page(void **state)
{
    size_t len;
    uint8_t *b = write_core(CRASH_LEVEL_MINIMAL, &len);
    const Elf64_Phdr *p = load_at(b, 0xfff000);
    assert_non_null(p);
    assert_int_equal(p->p_filesz, 4096);
    assert_int_equal(p->p_flags, PF_R);
    const uint8_t *pg = b + p->p_offset;
    Elf64_Ehdr eh;
    memcpy(&eh, pg, sizeof(eh));
    assert_memory_equal(eh.e_ident, ELFMAG, SELFMAG);
    assert_int_equal(eh.e_type, ET_EXEC);
    assert_int_equal(eh.e_entry, 0x1000100);
    assert_int_equal(eh.e_phnum, 1 + 1 + 2); /* header LOAD, NOTE, the image's LOADs */
    Elf64_Phdr ph[4];
    memcpy(ph, pg + eh.e_phoff, sizeof(ph));
    assert_int_equal(ph[0].p_type, PT_LOAD);
    assert_int_equal(ph[0].p_offset, 0);
    assert_int_equal(ph[0].p_vaddr, 0xfff000);
    assert_int_equal(ph[1].p_type, PT_NOTE);
    Elf64_Nhdr nh;
    memcpy(&nh, pg + ph[1].p_offset, sizeof(nh));
    assert_int_equal(nh.n_type, NT_GNU_BUILD_ID);
    assert_int_equal(nh.n_descsz, 20);
    assert_memory_equal(pg + ph[1].p_offset + sizeof(nh), "GNU", 4);
    assert_memory_equal(pg + ph[1].p_offset + sizeof(nh) + 4, ci.lay.build_id_raw, 20);
    assert_int_equal(ph[2].p_vaddr, 0x1000000);
    assert_int_equal(ph[3].p_offset, 0x21000);
    /* NT_FILE: the header page first, from file offset 0 */
    uint64_t m[3], count;
    file_first(b, m, &count);
    assert_int_equal(count, 3);
    assert_int_equal(m[0], 0xfff000);
    assert_int_equal(m[1], 0x1000000);
    assert_int_equal(m[2], 0);
    free(b);
}

/* The page would lie over guest memory the core holds: not written. */
static void test_overlap(void **state)
{
    size_t len;
    ci.lay.lseg[0].addr = CI_KLOG + 0x1000; /* header page at CI_KLOG: in the data segment */
    uint8_t *b = write_core(CRASH_LEVEL_MINIMAL, &len);
    const Elf64_Phdr *p = load_at(b, CI_KLOG);
    assert_true(p == NULL || memcmp(b + p->p_offset, ELFMAG, SELFMAG) != 0);
    uint64_t m[3], count;
    file_first(b, m, &count);
    assert_int_equal(count, 2);
    assert_int_equal(m[0], CI_KLOG + 0x1000);
    free(b);
}

/* A full core holds all RAM: never a header page, whatever the layout. */
static void test_full(void **state)
{
    size_t len;
    ci.lay.lseg[0].addr = 0x100000;
    uint8_t *b = write_core(CRASH_LEVEL_FULL, &len);
    const Elf64_Ehdr *eh = (const void *)b;
    assert_int_equal(eh->e_phnum, 1 + st.nregions);
    free(b);
}

/* No room for it: first segment from offset 0, or a misaligned base. */
static void test_no_room(void **state)
{
    size_t len;
    const uint64_t offs[] = {0, 0x800, 0x1800};
    for (unsigned i = 0; i < 3; i++) {
        ci.lay.lseg[0].offset = offs[i];
        uint8_t *b = write_core(CRASH_LEVEL_MINIMAL, &len);
        const Elf64_Ehdr *eh = (const void *)b;
        assert_int_equal(eh->e_phnum, 1 + st.nregions);
        free(b);
    }
    /* and a hostile layout: a file offset past the segment's address */
    ci.lay.lseg[0].offset = 0x1000;
    ci.lay.lseg[0].addr = 0x800;
    uint8_t *b = write_core(CRASH_LEVEL_MINIMAL, &len);
    assert_int_equal(((const Elf64_Ehdr *)b)->e_phnum, 1 + st.nregions);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_header_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_room, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
