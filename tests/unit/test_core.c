/*
 * Unit tests: the crash reader (host-collector/crash/guest.c, regions.c)
 * and the ELF core writer (core.c) on a fake RAM image, including hostile
 * images: a corrupted thread table, stack pointers outside RAM, frame
 * loops, absurd sizes, duplicate ids.  Each case must end with a core
 * written from what is valid, and warnings saying what was not.
 * With CRASH_SEED=DIR set, also writes fuzz seeds there.
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
#include <sys/procfs.h>
#include <unistd.h>

#include "crash_image.h"

static struct crash_image ci;
static struct crash_state st;

static int setup(void **state)
{
    ci_init(&ci);
    return 0;
}

static int teardown(void **state)
{
    ci_free(&ci);
    return 0;
}

static const struct crash_meta meta = {.name = "t", .accel = "tcg", .smp = 2, .mem_mib = 1,
                                       .image = "/x/kernel.elf", .level = "minimal"};

/* Write the core to a memfd; return its bytes (malloc'd) and length. */
static uint8_t *write_core(size_t *len)
{
    char err[256] = "";
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

/* Walk the core's notes: count NT_PRSTATUS, return the first's pr_pid. */
static unsigned check_core(const uint8_t *b, size_t len, int *first_pid, bool *has_psinfo)
{
    const Elf64_Ehdr *eh = (const void *)b;
    assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
    assert_int_equal(eh->e_type, ET_CORE);
    assert_int_equal(eh->e_machine, EM_X86_64);
    assert_int_equal(eh->e_phnum, 1 + st.nregions);
    const Elf64_Phdr *ph = (const void *)(b + eh->e_phoff);
    assert_int_equal(ph[0].p_type, PT_NOTE);
    for (unsigned i = 1; i < eh->e_phnum; i++) {
        assert_int_equal(ph[i].p_type, PT_LOAD);
        assert_true(ph[i].p_offset + ph[i].p_filesz <= len);
        assert_int_equal(ph[i].p_offset % 4096, ph[i].p_vaddr % 4096);
        assert_memory_equal(b + ph[i].p_offset, ci.ram + ph[i].p_vaddr, ph[i].p_filesz);
    }
    unsigned n = 0;
    *first_pid = -1;
    *has_psinfo = false;
    for (size_t off = ph[0].p_offset; off < ph[0].p_offset + ph[0].p_filesz;) {
        Elf64_Nhdr nhb, *nh = &nhb;
        memcpy(nh, b + off, sizeof(*nh));
        size_t d = off + sizeof(*nh) + ((nh->n_namesz + 3) & ~3u);
        if (nh->n_type == NT_PRSTATUS) {
            struct elf_prstatus p; /* notes are only 4-byte aligned */
            memcpy(&p, b + d, sizeof(p));
            if (!n++)
                *first_pid = p.pr_pid;
        }
        *has_psinfo |= nh->n_type == NT_PRPSINFO;
        off = d + ((nh->n_descsz + 3) & ~3u);
    }
    return n;
}

static bool covered(uint64_t a, uint64_t len)
{
    for (unsigned i = 0; i < st.nregions; i++)
        if (a >= st.regions[i].addr && a + len <= st.regions[i].addr + st.regions[i].len)
            return true;
    return false;
}

static void read_and_write(enum crash_level lvl, unsigned want_threads, int want_first)
{
    size_t len;
    int first;
    bool psinfo;
    crash_read(&st, &ci.mem, &ci.lay, lvl, NULL);
    uint8_t *b = write_core(&len);
    assert_int_equal(check_core(b, len, &first, &psinfo), want_threads);
    assert_int_equal(st.nthreads, want_threads);
    if (want_first >= 0)
        assert_int_equal(first, want_first);
    assert_true(psinfo);
    free(b);
}

static void test_valid(void **state)
{
    read_and_write(CRASH_LEVEL_MINIMAL, 3, 2);
    assert_int_equal(st.warnings, 0);
    assert_true(st.panicked);
    assert_string_equal(st.message, "unhandled exception #PF");
    assert_int_equal(st.threads[st.fault_index].tid, 2);
    assert_int_equal(st.threads[st.fault_index].src, CRASH_REGS_FAULT);
    assert_int_equal(st.threads[st.fault_index].regs.rip, 0x12e065);
    /* the stopped CPU's thread: registers from its NMI frame */
    assert_int_equal(st.threads[0].src, CRASH_REGS_STOPPED);
    assert_int_equal(st.threads[0].regs.rip, 0x106000);
    /* a blocked thread: saved context, and its frame-pointer chain */
    assert_int_equal(st.threads[2].src, CRASH_REGS_SAVED);
    assert_int_equal(st.threads[2].nbt, 3);
    assert_int_equal(st.threads[2].bt[2], 0x102000 + 3);
    /* used stack pages only, the data segment, the klog */
    const struct crash_thread *t = &st.threads[2];
    assert_true(covered(t->regs.rsp & ~4095ull, t->stack_hi - (t->regs.rsp & ~4095ull)));
    assert_false(covered(t->stack_lo, 8));
    assert_true(covered(CI_KLOG, sizeof(struct uk_klog_ring)));
}

static void test_full(void **state)
{
    read_and_write(CRASH_LEVEL_FULL, 3, 2);
    assert_int_equal(st.nregions, 1);
    assert_int_equal(st.regions[0].len, CI_SIZE);
}

static void test_bad_table_magic(void **state)
{
    ci_table(&ci)->magic ^= 1;
    read_and_write(CRASH_LEVEL_MINIMAL, 0, -1);
    assert_true(st.warnings >= 1);
    assert_non_null(strstr(st.warn[0], "thread table"));
    assert_true(covered(CI_DATA, 4096)); /* still the data segment */
}

static void test_bad_entry_size_and_max(void **state)
{
    ci_table(&ci)->max = 0xffffffff;
    read_and_write(CRASH_LEVEL_MINIMAL, 3, 2);
    assert_true(st.warnings >= 1);
    ci_table(&ci)->entry_size = 12;
    read_and_write(CRASH_LEVEL_MINIMAL, 0, -1);
}

static void test_stack_outside_ram(void **state)
{
    struct uk_thread *t = &ci_table(&ci)->threads[2];
    t->stack_lo = 0xfffffffffff00000ull;
    t->stack_hi = 0xffffffffffff0000ull;
    t->ctx.rsp = 0xdeadbeef00000000ull;
    t->ctx.rbp = 0xdeadbeef00000000ull;
    read_and_write(CRASH_LEVEL_MINIMAL, 3, 2);
    assert_true(st.warnings >= 1);
    assert_int_equal(st.threads[2].nbt, 1); /* just rip: rbp unreadable */
    /* absurd size inside the address space, and lo > hi */
    t->stack_lo = 0x1000;
    t->stack_hi = 0x7fffffffffff;
    ci_table(&ci)->threads[0].stack_lo = 0x90000;
    ci_table(&ci)->threads[0].stack_hi = 0x80000;
    read_and_write(CRASH_LEVEL_MINIMAL, 3, 2);
    assert_true(st.warnings >= 2);
}

static void test_frame_loop(void **state)
{
    struct uk_thread *t = &ci_table(&ci)->threads[2];
    uint64_t *f = (uint64_t *)(ci.ram + t->ctx.rbp);
    f[0] = t->ctx.rbp; /* points at itself */
    read_and_write(CRASH_LEVEL_MINIMAL, 3, 2);
    assert_true(st.threads[2].nbt <= 2);
    /* a two-frame cycle a -> b -> a */
    uint64_t a = t->ctx.rbp, b = a + 0x20;
    ((uint64_t *)(ci.ram + a))[0] = b;
    ((uint64_t *)(ci.ram + b))[0] = a;
    ((uint64_t *)(ci.ram + b))[1] = 0x1234;
    read_and_write(CRASH_LEVEL_MINIMAL, 3, 2);
    assert_true(st.threads[2].nbt <= CRASH_BT_MAX);
}

static void test_duplicates_and_bad_states(void **state)
{
    ci_thread(&ci, 3, 3, UK_THREAD_SLEEPING, 0, "dup");
    ci_thread(&ci, 4, 9, 77, 0, "badstate");
    ci_thread(&ci, 5, 10, UK_THREAD_RUNNING, 12345, "badcpu");
    struct uk_thread *t = ci_thread(&ci, 6, 11, UK_THREAD_RUNNING, 1, "\x1b[31mred");
    (void)t;
    read_and_write(CRASH_LEVEL_MINIMAL, 5, 2);
    assert_true(st.warnings >= 3);
    for (unsigned i = 0; i < st.nthreads; i++)
        for (const char *p = st.threads[i].name; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
}

static void test_panic_record_corrupt(void **state)
{
    struct uk_panic_record *pr = ci_panic(&ci);
    pr->cpu = 99;
    pr->stopped[1] = 0xffffffffffff0000ull;
    memset(pr->message, 'A', sizeof(pr->message)); /* no NUL */
    read_and_write(CRASH_LEVEL_MINIMAL, 3, 2);
    assert_true(st.warnings >= 2);
    assert_int_equal(strlen(st.message), UK_PANIC_REC_MSG);
    pr->size = 3;
    read_and_write(CRASH_LEVEL_MINIMAL, 3, -1);
    assert_false(st.panicked);
    assert_int_equal(st.fault_index, -1);
}

static void test_no_panic(void **state)
{
    ci_panic(&ci)->state = UK_PANIC_REC_NONE;
    read_and_write(CRASH_LEVEL_MINIMAL, 3, -1);
    assert_false(st.panicked);
    /* running threads without any frame: a warning each, stale context used */
    assert_int_equal(st.warnings, 2);
    struct crash_vcpus v = {.n = 2, .valid = {true, true}};
    v.regs[0].rip = 0x4242;
    crash_read(&st, &ci.mem, &ci.lay, CRASH_LEVEL_MINIMAL, &v);
    assert_int_equal(st.warnings, 0);
    assert_int_equal(st.threads[1].src, CRASH_REGS_VCPU);
    assert_int_equal(st.threads[1].regs.rip, 0x4242);
}

static unsigned nlog;
static void on_log(void *arg, uint64_t seq, uint64_t ns, unsigned level, unsigned cpu, uint32_t tid,
                   const char *text)
{
    nlog++;
    for (const char *p = text; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

static void test_klog(void **state)
{
    nlog = 0;
    assert_int_equal(crash_klog(&ci.mem, &ci.lay, 200, on_log, NULL), 2);
    for (int i = 0; i < 2000; i++)
        ci_log(&ci, "line\x1b");
    struct uk_klog_ring *r = (struct uk_klog_ring *)(ci.ram + CI_KLOG);
    r->rec[5].seq = 7; /* torn */
    assert_int_equal(crash_klog(&ci.mem, &ci.lay, 200, on_log, NULL), 200);
    r->head = ~0ull; /* absurd head: bounded, records do not match */
    assert_true(crash_klog(&ci.mem, &ci.lay, 200, on_log, NULL) <= 200);
    r->rec_size = 1;
    assert_int_equal(crash_klog(&ci.mem, &ci.lay, 200, on_log, NULL), 0);
}

static void test_many_regions(void **state)
{
    /* 100 more threads with tiny stacks 8 KiB apart */
    for (unsigned i = 0; i < 100; i++) {
        struct uk_thread *t = &ci_table(&ci)->threads[10 + i];
        memset(t, 0, sizeof(*t));
        t->state = UK_THREAD_BLOCKED;
        t->tid = 100 + i;
        t->stack_lo = 0xc0000 + i * 0x2000;
        t->stack_hi = t->stack_lo + 0x1000;
        t->ctx.rsp = t->stack_lo + 0x800;
    }
    read_and_write(CRASH_LEVEL_MINIMAL, 103, 2);
    assert_true(st.nregions <= CRASH_MAX_REGIONS);
    /* heap level over a bitmap with every other page used: > 512 pieces */
    uint64_t *pm = (uint64_t *)(ci.ram + CI_PMEM);
    pm[0] = 0x60000, pm[1] = 0x100000, pm[2] = 1792;
    memset(ci.ram + 0x60000, 0x55, 1792 / 8);
    ci.lay.pmem_bitmap = CI_PMEM, ci.lay.pmem_base = CI_PMEM + 8, ci.lay.pmem_count = CI_PMEM + 16;
    read_and_write(CRASH_LEVEL_HEAP, 103, 2);
    assert_true(st.nregions <= CRASH_MAX_REGIONS);
    assert_true(covered(0x100000, 4096) && covered(0x100000 + 1790 * 4096, 4096));
    /* a bitmap that claims more pages than RAM holds: refused */
    pm[2] = ~0ull;
    read_and_write(CRASH_LEVEL_HEAP, 103, 2);
    assert_true(st.warnings >= 1);
}

/* Fuzz seeds (tests/fuzz/corpus/core): the fuzz input is the RAM. */
static void test_seed(void **state)
{
    const char *dir = getenv("CRASH_SEED");
    char path[4096];
    if (!dir)
        return;
    snprintf(path, sizeof(path), "%s/valid", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(ci.ram, 1, CI_STACKS + 0x20000, f), CI_STACKS + 0x20000);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_table_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_entry_size_and_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stack_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frame_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_and_bad_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_panic_record_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_panic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_klog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
