/*
 * Fuzz target: `ukctl trace --from-core` on a hostile ELF core: program
 * header and PT_LOAD validation, assembling the segments into one image
 * (copy path, as for an unaligned segment), then the trace reader on it.
 * Seeds: tests/fuzz/corpus/trace_core/ (the reader's seed image as a core
 * split into several segments, like QEMU's microvm dumps).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace_core.h"

#define MAX_SPAN (64ULL << 20) /* keeps the scan of holes quick */

static int on_event(void *arg, const struct utr_event *ev)
{
    const struct utr *t = arg;
    if (ev->id >= t->ntps || ev->ring >= t->nrings)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(size ? size : 1);
    memcpy(file, data, size);
    struct utr_core c;
    struct utr_mem m;
    char err[256];
    if (utr_core_is_elf(file, size) &&
        utr_core_open(&c, file, size, -1, MAX_SPAN, &m, err, sizeof(err)) == 0) {
        uint64_t addr;
        if (utr_find(&m, &addr, err, sizeof(err)) == 0) {
            struct utr t;
            if (utr_open(&t, &m, addr) == 0)
                utr_drain(&t, true, on_event, &t);
            utr_close(&t);
        }
        utr_core_close(&c);
    }
    free(file);
    return 0;
}
