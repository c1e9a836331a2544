/*
 * Fuzz target: the trace store's segment parser (host-collector/collectd/
 * tseg.h) on arbitrary files: a segment on disk may be damaged or planted.
 * Every record the parser lets through must be in range for the header.
 * Seeds: segments written by the store (tests/unit/test_tracestore.c with
 * TRACESTORE_SEED=DIR).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectd/tseg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The store reads segments into malloc'd (aligned) buffers. */
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct tseg s;
    char err[200];
    if (tseg_parse(buf, size, &s, err, sizeof(err)) == 0) {
        if (s.hdr.hdr_size + s.nrecs * sizeof(struct tseg_rec) > size)
            abort();
        for (unsigned i = 0; i < s.hdr.nrings; i++)
            if (s.rings[i].cpu >= s.hdr.ncpus)
                abort();
        for (size_t k = 0; k < s.nrecs; k++) {
            const struct tseg_rec *r = &s.recs[k];
            if (!tseg_rec_ok(&s, r))
                continue;
            if (r->type == TSEG_EVENT) {
                const struct uk_trace_tp_meta *tp = &s.tps[r->id];
                if (strlen(tp->name) >= sizeof(tp->name) || r->ring >= s.hdr.nrings)
                    abort();
            } else if (r->type == TSEG_THREAD) {
                char name[25];
                tseg_thread_name(r, name);
            }
        }
        (void)tseg_same_boot(&s.hdr, &s.hdr);
        tseg_free(&s);
    }
    free(buf);
    return 0;
}
