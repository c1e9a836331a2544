/*
 * Test fixture: a fake guest memory image laid out like the guest tracer
 * does (header page, ring table, metadata, slot arrays), written with the
 * real ring writer (tracing/include/uk_trace_ring.h).
 */
#ifndef TRACE_IMAGE_H
#define TRACE_IMAGE_H

#include <stdlib.h>
#include <string.h>

#include <uk/thread_abi.h>

#include "uk_trace_ring.h"

#define IMG_HDR   0x1000
#define IMG_RINGS 0x2000
#define IMG_TPS   0x3000
#define IMG_SLOTS 0x4000

struct trace_image {
    uint8_t *mem;
    uint64_t size;
    struct uk_trace_header *hdr;
    struct uk_trace_ring *rings;
    unsigned nrings;
};

static inline struct uk_trace_rec *img_slots(struct trace_image *im, unsigned ring)
{
    return (struct uk_trace_rec *)(im->mem + im->rings[ring].slots_addr);
}

/* nrings rings (ring i on CPU i) of nslots each, in `mode`. */
static inline void img_build(struct trace_image *im, unsigned nrings, uint32_t nslots,
                             uint32_t mode)
{
    static const struct uk_trace_tp_meta tps[UK_TP_COUNT] = {
#define IMG_TP_(id, nm, cat, f0, t0, f1, t1)                                                       \
    [UK_TP_##id] = {nm, cat, {{f0, UK_TPF_##t0}, {f1, UK_TPF_##t1}}},
        UK_TRACEPOINTS(IMG_TP_)
#undef IMG_TP_
    };
    im->nrings = nrings;
    im->size = IMG_SLOTS + (uint64_t)nrings * nslots * sizeof(struct uk_trace_rec);
    im->mem = aligned_alloc(4096, (im->size + 4095) & ~4095ULL);
    memset(im->mem, 0, im->size);
    im->hdr = (struct uk_trace_header *)(im->mem + IMG_HDR);
    im->rings = (struct uk_trace_ring *)(im->mem + IMG_RINGS);
    memcpy(im->mem + IMG_TPS, tps, sizeof(tps));
    for (unsigned i = 0; i < nrings; i++)
        im->rings[i] = (struct uk_trace_ring){
            .slots_addr = IMG_SLOTS + (uint64_t)i * nslots * sizeof(struct uk_trace_rec),
            .nslots = nslots,
            .mode = mode,
            .cpu = i,
            .kind = UK_TRACE_RING_MAIN};
    struct uk_trace_header *h = im->hdr;
    h->magic[0] = UK_TRACE_MAGIC0;
    h->magic[1] = UK_TRACE_MAGIC1;
    h->version = UK_TRACE_VERSION;
    h->header_size = sizeof(*h);
    h->self = IMG_HDR;
    h->tsc_hz = 1000000000ULL; /* 1 tick == 1 ns keeps expectations readable */
    h->ncpus = nrings;
    h->nrings = nrings;
    h->rings_addr = IMG_RINGS;
    h->ntps = UK_TP_COUNT;
    h->tp_meta_size = sizeof(struct uk_trace_tp_meta);
    h->tp_addr = IMG_TPS;
    h->rec_size = sizeof(struct uk_trace_rec);
    h->main_mode = mode;
}

static inline int img_write(struct trace_image *im, unsigned ring, unsigned id, uint64_t a,
                            uint64_t b)
{
    struct uk_trace_ring *r = &im->rings[ring];
    if (uk_trace_ring_write(r, img_slots(im, ring), 0, id, a, b))
        return 1;
    uk_trace_ring_count_lost(r);
    return 0;
}

/*
 * Append a guest thread table (<uk/thread_abi.h>) to the image and point the
 * header at it; returns it so the test can fill threads in.
 */
static inline struct uk_thread_table *img_add_threads(struct trace_image *im)
{
    uint64_t at = (im->size + 4095) & ~4095ULL;
    uint64_t size = at + sizeof(struct uk_thread_table);
    uint8_t *mem = aligned_alloc(4096, (size + 4095) & ~4095ULL);
    memset(mem, 0, size);
    memcpy(mem, im->mem, im->size);
    free(im->mem);
    im->mem = mem;
    im->size = size;
    im->hdr = (struct uk_trace_header *)(mem + IMG_HDR);
    im->rings = (struct uk_trace_ring *)(mem + IMG_RINGS);
    im->hdr->threads_addr = at;
    struct uk_thread_table *tt = (struct uk_thread_table *)(mem + at);
    tt->magic = UK_THREAD_TABLE_MAGIC;
    tt->version = UK_THREAD_TABLE_VERSION;
    tt->max = UK_THREAD_MAX;
    tt->entry_size = sizeof(struct uk_thread);
    tt->ncpus = im->nrings;
    return tt;
}

#endif
