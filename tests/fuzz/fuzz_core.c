/*
 * Fuzz target: the crash reader and core writer (host-collector/crash/) on
 * arbitrary guest RAM.  The input is the RAM image, with the kernel's
 * structures at the addresses of tests/unit/crash_image.h (thread table,
 * panic record, klog, page-allocator variables); every level is read and a
 * core written to /dev/null.  Seed: a consistent image from test_core.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash_image.h"

static struct crash_state st;

static void on_log(void *arg, uint64_t seq, uint64_t ns, unsigned level, unsigned cpu,
                   uint32_t tid, const char *text)
{
    (void)arg, (void)seq, (void)ns, (void)level, (void)cpu, (void)tid;
    if (strlen(text) > UK_KLOG_TEXT)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int null_fd = -1;
    uint8_t *ram = malloc(size ? size : 1); /* aligned like an mmap'd file */
    memcpy(ram, data, size);
    struct crash_mem m = {ram, size};
    struct crash_layout lay = {.thread_table = CI_TABLE, .panic_record = CI_PANIC,
                               .klog = CI_KLOG, .pmem_bitmap = CI_PMEM,
                               .pmem_base = CI_PMEM + 8, .pmem_count = CI_PMEM + 16,
                               .trace_header = 0x40000, .metrics_page = 0x48000, .nwseg = 1};
    lay.wseg[0].addr = CI_DATA;
    lay.wseg[0].len = CI_DATA_LEN;
    struct crash_meta meta = {.name = "fuzz", .image = "kernel.elf"};
    char err[256];

    if (null_fd < 0)
        null_fd = open("/dev/null", O_WRONLY);
    for (int lvl = CRASH_LEVEL_MINIMAL; lvl <= CRASH_LEVEL_FULL; lvl++) {
        crash_read(&st, &m, &lay, (enum crash_level)lvl, NULL);
        if (st.nthreads > UK_THREAD_MAX || st.nregions > CRASH_MAX_REGIONS)
            abort();
        for (unsigned i = 0; i < st.nregions; i++)
            if (st.regions[i].addr + st.regions[i].len > size)
                abort();
        if (crash_core_write(null_fd, &st, &m, &lay, &meta, err, sizeof(err)) < 0)
            abort();
    }
    crash_klog(&m, &lay, 200, on_log, NULL);
    free(ram);
    return 0;
}
