/* Trace store segment parser (see tseg.h): on-disk input, validated. */
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <uk/thread_abi.h>

#include "tseg.h"

size_t tseg_hdr_size(uint32_t nrings, uint32_t ntps, uint32_t nthreads)
{
    return sizeof(struct tseg_hdr) + (size_t)nrings * sizeof(struct tseg_ring) +
           (size_t)ntps * sizeof(struct uk_trace_tp_meta) +
           (size_t)nthreads * sizeof(struct tseg_thread);
}

static const char *check_hdr(const struct tseg_hdr *h, size_t len)
{
    if (memcmp(h->magic, TSEG_MAGIC, sizeof(h->magic)))
        return "bad magic";
    if (h->version != TSEG_VERSION)
        return "unsupported version";
    if (h->rec_size != sizeof(struct tseg_rec))
        return "record size does not match this reader";
    if (h->nrings == 0 || h->nrings > UK_TRACE_MAX_RINGS || h->ncpus == 0 || h->ncpus > h->nrings)
        return "implausible ring/CPU count";
    if (h->ntps == 0 || h->ntps > UK_TRACE_MAX_TPS)
        return "implausible tracepoint count";
    if (h->nthreads > UK_THREAD_MAX)
        return "implausible thread count";
    if (h->tsc_hz < 1000000ULL || h->tsc_hz > 100000000000ULL)
        return "implausible TSC frequency";
    if (h->build_id_len > sizeof(h->build_id))
        return "bad build-id length";
    if (h->hdr_size != tseg_hdr_size(h->nrings, h->ntps, h->nthreads))
        return "header size does not match its tables";
    if (h->hdr_size > len)
        return "truncated header";
    return NULL;
}

int tseg_parse(const uint8_t *buf, size_t len, struct tseg *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    if (len < sizeof(s->hdr))
        return utr_fail(err, errlen, "segment shorter than its header");
    memcpy(&s->hdr, buf, sizeof(s->hdr));
    const char *why = check_hdr(&s->hdr, len);
    if (why)
        return utr_fail(err, errlen, "segment header: %s", why);
    struct tseg_hdr *h = &s->hdr;
    h->instance[sizeof(h->instance) - 1] = 0;
    utr_clean_str(h->instance);
    s->rings = calloc(h->nrings, sizeof(*s->rings));
    s->tps = calloc(h->ntps, sizeof(*s->tps));
    s->threads = calloc(h->nthreads ? h->nthreads : 1, sizeof(*s->threads));
    if (!s->rings || !s->tps || !s->threads) {
        tseg_free(s);
        return utr_fail(err, errlen, "out of memory");
    }
    const uint8_t *p = buf + sizeof(*h);
    memcpy(s->rings, p, h->nrings * sizeof(*s->rings));
    p += h->nrings * sizeof(*s->rings);
    memcpy(s->tps, p, h->ntps * sizeof(*s->tps));
    p += h->ntps * sizeof(*s->tps);
    memcpy(s->threads, p, h->nthreads * sizeof(*s->threads));
    for (unsigned i = 0; i < h->nrings; i++)
        if (s->rings[i].cpu >= h->ncpus || s->rings[i].kind > UK_TRACE_RING_MAIN) {
            tseg_free(s);
            return utr_fail(err, errlen, "segment ring %u: bad CPU or kind", i);
        }
    /* Same treatment as the reader gives guest metadata. */
    for (unsigned i = 0; i < h->ntps; i++)
        utr_clean_tp_meta(&s->tps[i], i);
    for (unsigned i = 0; i < h->nthreads; i++) {
        s->threads[i].name[sizeof(s->threads[i].name) - 1] = 0;
        utr_clean_str(s->threads[i].name);
    }
    /* Records are used in place: alignment of the caller's buffer plus
     * hdr_size (a multiple of 8) keeps them aligned. */
    s->recs = (const struct tseg_rec *)(buf + h->hdr_size);
    s->nrecs = (len - h->hdr_size) / sizeof(struct tseg_rec);
    return 0;
}

bool tseg_rec_ok(const struct tseg *s, const struct tseg_rec *r)
{
    switch (r->type) {
    case TSEG_EVENT:
        return r->ring < s->hdr.nrings && r->id < s->hdr.ntps;
    case TSEG_LOST:
        return r->ring < s->hdr.nrings;
    case TSEG_THREAD:
        return r->seq != 0;
    case TSEG_ANCHOR:
        return true;
    }
    return false;
}

void tseg_thread_name(const struct tseg_rec *r, char out[25])
{
    memcpy(out, (const uint8_t *)r + offsetof(struct tseg_rec, tsc), 24);
    out[24] = 0;
    utr_clean_str(out);
}

bool tseg_same_boot(const struct tseg_hdr *a, const struct tseg_hdr *b)
{
    return a->tsc_hz == b->tsc_hz && a->tsc_base == b->tsc_base &&
           a->build_id_len == b->build_id_len && !memcmp(a->build_id, b->build_id, 20) &&
           a->nrings == b->nrings && a->ntps == b->ntps && a->ncpus == b->ncpus;
}

void tseg_free(struct tseg *s)
{
    free(s->rings);
    free(s->tps);
    free(s->threads);
    s->rings = NULL;
    s->tps = NULL;
    s->threads = NULL;
}
