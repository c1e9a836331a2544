/*
 * Fuzz target: the host trace reader on arbitrary guest memory images
 * (discovery, header/ring/metadata validation, ring draining, field
 * formatting).  Seed: a valid image written by test_trace_ring.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace_reader.h"

static int on_event(void *arg, const struct utr_event *ev)
{
    const struct utr *t = arg;
    char buf[64];
    for (unsigned f = 0; f < UK_TRACE_FIELDS; f++)
        utr_field_str(t, ev, f, buf, sizeof(buf));
    if (ev->id >= t->ntps || ev->ring >= t->nrings)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The reader expects 8-byte aligned memory, like an mmap'd RAM file. */
    uint8_t *mem = malloc(size ? size : 1);
    memcpy(mem, data, size);
    struct utr_mem m = {mem, size};
    uint64_t addr;
    char err[256];
    if (utr_find(&m, &addr, err, sizeof(err)) == 0) {
        struct utr t;
        if (utr_open(&t, &m, addr) == 0) {
            utr_drain(&t, false, on_event, &t);
            utr_drain(&t, true, on_event, &t);
            struct utr_totals tot;
            utr_totals(&t, &tot);
        }
        utr_close(&t);
    }
    free(mem);
    return 0;
}
