/* Host reader of the guest's kernel log ring; see klog_ring.h. */
#include "klog_ring.h"

#include <stdio.h>
#include <string.h>

/* Layout facts the reader relies on (a change must fail the build here). */
_Static_assert(offsetof(struct uk_klog_ring, magic) == 0, "klog ABI");
_Static_assert(offsetof(struct uk_klog_ring, head) == 24, "klog ABI");
_Static_assert(offsetof(struct uk_klog_ring, rec) == 40, "klog ABI");
_Static_assert(offsetof(struct uk_klog_rec, seq) == 0, "klog ABI");
_Static_assert(offsetof(struct uk_klog_rec, text) == 24, "klog ABI");

static bool in_image(const struct klog_mem *m, uint64_t addr, uint64_t len)
{
    return addr <= m->size && len <= m->size - addr;
}

static uint64_t load64(const uint8_t *p)
{
    return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

/* Copy the header at addr and check it; the records must fit the image. */
static int check_header(const struct klog_mem *m, uint64_t addr, char *err, size_t errlen)
{
    struct uk_klog_ring h;
    const size_t hdr = offsetof(struct uk_klog_ring, rec);

    if (addr & 7 || !in_image(m, addr, sizeof(struct uk_klog_ring))) {
        snprintf(err, errlen, "ring at 0x%llx is outside the %llu-byte image",
                 (unsigned long long)addr, (unsigned long long)m->size);
        return -1;
    }
    memcpy(&h, m->base + addr, hdr);
    if (h.magic != UK_KLOG_MAGIC || h.version != UK_KLOG_VERSION || h.slots != UK_KLOG_SLOTS ||
        h.rec_size != sizeof(struct uk_klog_rec) || h.pad || h.reserved) {
        snprintf(err, errlen,
                 "bad ring header at 0x%llx (version %u, %u slots of %u bytes)",
                 (unsigned long long)addr, h.version, h.slots, h.rec_size);
        return -1;
    }
    return 0;
}

int klog_find(const struct klog_mem *m, uint64_t *addr, char *err, size_t errlen)
{
    const uint64_t magic = UK_KLOG_MAGIC;
    char last[160] = "";

    for (uint64_t off = 0; in_image(m, off, sizeof(struct uk_klog_ring)); off += 8) {
        if (memcmp(m->base + off, &magic, sizeof(magic)))
            continue;
        if (check_header(m, off, last, sizeof(last)) == 0) {
            *addr = off;
            return 0;
        }
    }
    snprintf(err, errlen, "no kernel log ring in %llu bytes of guest memory%s%s",
             (unsigned long long)m->size, last[0] ? "; last candidate: " : "", last);
    return -1;
}

uint64_t klog_head(const struct klog_reader *r)
{
    return load64(r->mem.base + r->addr + offsetof(struct uk_klog_ring, head));
}

int klog_open(struct klog_reader *r, const struct klog_mem *m, uint64_t addr, char *err,
              size_t errlen)
{
    uint64_t head;

    memset(r, 0, sizeof(*r));
    if (check_header(m, addr, err, errlen) < 0)
        return -1;
    r->mem = *m;
    r->addr = addr;
    head = klog_head(r);
    r->next = head > UK_KLOG_SLOTS ? head - UK_KLOG_SLOTS : 0;
    return 0;
}

/* Copy record seq: true when its commit word said seq + 1 before and after. */
static bool copy_rec(const struct klog_reader *r, uint64_t seq, struct uk_klog_rec *out,
                     uint64_t *word)
{
    const uint8_t *slot = r->mem.base + r->addr + offsetof(struct uk_klog_ring, rec) +
                          (seq % UK_KLOG_SLOTS) * sizeof(struct uk_klog_rec);

    *word = load64(slot);
    if (*word != seq + 1)
        return false;
    memcpy(out, slot, sizeof(*out));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    *word = load64(slot);
    return *word == seq + 1 && out->seq == seq + 1;
}

static void clean(struct klog_record *dst, const struct uk_klog_rec *src, uint64_t seq)
{
    size_t n = src->len <= UK_KLOG_TEXT ? src->len : UK_KLOG_TEXT;

    dst->seq = seq;
    dst->time_ns = src->time_ns;
    dst->level = src->level;
    dst->cpu = src->cpu;
    dst->tid = src->tid;
    for (size_t i = 0; i < n; i++)
        dst->text[i] = (src->text[i] >= 0x20 && src->text[i] < 0x7f) ? src->text[i] : '?';
    dst->text[n] = 0;
    dst->len = n;
}

long klog_read(struct klog_reader *r, uint64_t until, bool final, klog_record_fn fn, void *arg)
{
    struct uk_klog_rec raw;
    struct klog_record rec;
    long got = 0;

    for (unsigned i = 0; i < UK_KLOG_SLOTS; i++) {
        uint64_t head = klog_head(r), oldest = head > UK_KLOG_SLOTS ? head - UK_KLOG_SLOTS : 0;
        uint64_t end = head < until ? head : until, word;

        if (r->next < oldest) {
            r->overwritten += oldest - r->next;
            r->next = oldest;
        }
        if (r->next >= end)
            break;
        if (!copy_rec(r, r->next, &raw, &word)) {
            /* A newer record in the slot: ours was overwritten meanwhile. */
            if (word > r->next + 1)
                r->overwritten++;
            else if (final)
                r->unreadable++;
            else
                break; /* being written: deliver it next time */
            r->next++;
            continue;
        }
        clean(&rec, &raw, r->next);
        r->next++;
        got++;
        if (fn(arg, &rec))
            break;
    }
    return got;
}
