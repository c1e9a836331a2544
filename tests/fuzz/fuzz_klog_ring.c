/*
 * Fuzz the host kernel-log-ring reader (guest-agent/host/klog_ring.c) with
 * hostile guest memory.  The input is laid over an image holding one ring
 * (the ring is ~136 KiB, more than a fuzz input): byte 0 picks the ring's
 * offset, the next 40 bytes are its header (magic and layout fields are
 * made right half of the time so the reader gets past them), the rest fills
 * the records from a slot chosen by the input.  Also klog_find on the raw
 * input.  Contract: no crash, no read outside the image, at most
 * UK_KLOG_SLOTS records per read, only printable NUL-terminated text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "klog_ring.h"

static int check(void *arg, const struct klog_record *rec)
{
    long *n = arg;

    if (rec->len > UK_KLOG_TEXT || rec->text[rec->len] || strlen(rec->text) != rec->len)
        abort();
    for (size_t i = 0; i < rec->len; i++)
        if (rec->text[i] < 0x20 || rec->text[i] > 0x7e)
            abort();
    return ++*n > 5000; /* never reached: a read is bounded */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const size_t ring = sizeof(struct uk_klog_ring), hdr = offsetof(struct uk_klog_ring, rec);
    struct klog_mem raw = {data, size}, m;
    struct klog_reader r;
    uint64_t addr;
    uint8_t *img;
    size_t off, img_size;
    char err[256];
    long n = 0;

    if (klog_find(&raw, &addr, err, sizeof(err)) == 0 && klog_open(&r, &raw, addr, err, sizeof(err)) == 0)
        klog_read(&r, UINT64_MAX, true, check, &n);
    if (size < 1 + hdr + 2)
        return 0;
    off = (size_t)(data[0] & 0x3f) * 8 + (data[0] & 0x40 ? 4 : 0); /* sometimes misaligned */
    img_size = off + ring + (data[0] & 0x80 ? 0 : 64);               /* sometimes cut short */
    img_size -= data[0] & 0x80 ? (data[1] % 64) : 0;
    img = calloc(1, img_size);
    if (!img)
        return 0;
    memcpy(img + off, data + 1, hdr);
    if (data[1] & 1) {
        struct uk_klog_ring *h = (struct uk_klog_ring *)(void *)(img + off);
        if (!(off & 7)) {
            h->magic = UK_KLOG_MAGIC;
            h->version = UK_KLOG_VERSION;
            h->slots = UK_KLOG_SLOTS;
            h->rec_size = sizeof(struct uk_klog_rec);
            h->pad = h->reserved = 0;
        }
    }
    {
        size_t slot = data[1 + hdr] * 4u % UK_KLOG_SLOTS, rest = size - 1 - hdr - 1;
        size_t at = off + hdr + slot * sizeof(struct uk_klog_rec);
        if (at < img_size)
            memcpy(img + at, data + 2 + hdr, rest < img_size - at ? rest : img_size - at);
    }
    m.base = img;
    m.size = img_size;
    if (klog_find(&m, &addr, err, sizeof(err)) == 0) {
        if (klog_open(&r, &m, addr, err, sizeof(err)) < 0)
            abort(); /* found means it validates */
        for (int pass = 0; pass < 3; pass++) {
            long got = klog_read(&r, pass == 1 ? r.next + 3 : UINT64_MAX, pass == 2, check, &n);
            if (got < 0 || got > UK_KLOG_SLOTS)
                abort();
        }
    }
    free(img);
    return 0;
}
