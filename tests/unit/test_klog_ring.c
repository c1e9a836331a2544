/*
 * Host klog ring reader (guest-agent/host/klog_ring.c) on hand-built guest
 * images: finding the ring, reading committed records in order, wrapped
 * and overwritten records, a record being written, hostile headers and
 * text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "klog_ring.h"

#define RING_AT 4104 /* 8-aligned, not page-aligned */

struct img {
    uint8_t *p;
    size_t size;
    struct uk_klog_ring *ring;
};

static void make(struct img *m)
{
    m->size = RING_AT + sizeof(struct uk_klog_ring) + 100;
    m->p = calloc(1, m->size);
    assert_non_null(m->p);
    m->ring = (struct uk_klog_ring *)(void *)(m->p + RING_AT);
    m->ring->magic = UK_KLOG_MAGIC;
    m->ring->version = UK_KLOG_VERSION;
    m->ring->slots = UK_KLOG_SLOTS;
    m->ring->rec_size = sizeof(struct uk_klog_rec);
}

static void logrec(struct img *m, uint64_t seq, const char *text)
{
    struct uk_klog_rec *r = &m->ring->rec[seq % UK_KLOG_SLOTS];

    memset(r, 0, sizeof(*r));
    r->seq = seq + 1;
    r->time_ns = seq * 10;
    r->level = UK_LOG_INFO;
    r->len = (uint16_t)strlen(text);
    memcpy(r->text, text, r->len);
    if (seq + 1 > m->ring->head)
        m->ring->head = seq + 1;
}

struct got {
    unsigned n;
    uint64_t seq[8];
    char text[8][UK_KLOG_TEXT + 1];
};

static int collect(void *arg, const struct klog_record *rec)
{
    struct got *g = arg;

    if (g->n < 8) {
        g->seq[g->n] = rec->seq;
        strcpy(g->text[g->n], rec->text);
    }
    g->n++;
    return 0;
}

static void open_img(struct img *m, struct klog_reader *r)
{
    struct klog_mem mem = {m->p, m->size};
    uint64_t addr;
    char err[256];

    assert_int_equal(klog_find(&mem, &addr, err, sizeof(err)), 0);
    assert_int_equal(addr, RING_AT);
    assert_int_equal(klog_open(r, &mem, addr, err, sizeof(err)), 0);
}

static void test_read_in_order(void **state)
{
    struct img m;
    struct klog_reader r;
    struct got g = {0};

    make(&m);
    logrec(&m, 0, "ukscope: booting");
    logrec(&m, 1, "bell\a and \x1b[31mred");
    open_img(&m, &r);
    assert_int_equal(klog_read(&r, UINT64_MAX, false, collect, &g), 2);
    assert_int_equal(g.seq[0], 0);
    assert_string_equal(g.text[0], "ukscope: booting");
    assert_string_equal(g.text[1], "bell? and ?[31mred");
    assert_int_equal(klog_read(&r, UINT64_MAX, false, collect, &g), 0);
    logrec(&m, 2, "more");
    assert_int_equal(klog_read(&r, UINT64_MAX, false, collect, &g), 1);
    assert_int_equal(g.seq[2], 2);
    free(m.p);
}

static void test_until_and_in_progress(void **state)
{
    struct img m;
    struct klog_reader r;
    struct got g = {0};

    make(&m);
    for (uint64_t s = 0; s < 5; s++)
        logrec(&m, s, "x");
    m.ring->rec[3].seq = 0; /* being written */
    open_img(&m, &r);
    assert_int_equal(klog_read(&r, 2, false, collect, &g), 2);
    assert_int_equal(klog_read(&r, UINT64_MAX, false, collect, &g), 1); /* stops at 3 */
    assert_int_equal(r.next, 3);
    assert_int_equal(klog_read(&r, UINT64_MAX, false, collect, &g), 0);
    assert_int_equal(klog_read(&r, UINT64_MAX, true, collect, &g), 1); /* final: skip 3 */
    assert_int_equal(r.unreadable, 1);
    assert_int_equal(g.seq[3], 4);
    free(m.p);
}

static void test_wrapped_and_overwritten(void **state)
{
    struct img m;
    struct klog_reader r;
    struct got g = {0};

    make(&m);
    logrec(&m, 0, "first");
    open_img(&m, &r);
    /* the guest logs 2000 records before the reader looks again */
    for (uint64_t s = 1; s <= 2000; s++)
        logrec(&m, s, "later");
    assert_int_equal(klog_read(&r, UINT64_MAX, false, collect, &g), UK_KLOG_SLOTS);
    assert_int_equal(r.overwritten, 2001 - UK_KLOG_SLOTS);
    assert_int_equal(g.seq[0], 2001 - UK_KLOG_SLOTS);
    /* a slot holding a newer record than expected counts as overwritten */
    free(m.p);
    make(&m);
    logrec(&m, 0, "a");
    logrec(&m, 1, "b");
    open_img(&m, &r);
    m.ring->rec[0].seq = 1 + UK_KLOG_SLOTS + 1;
    memset(&g, 0, sizeof(g));
    assert_int_equal(klog_read(&r, UINT64_MAX, false, collect, &g), 1);
    assert_int_equal(r.overwritten, 1);
    free(m.p);
}

static void test_hostile_header_and_text(void **state)
{
    struct img m;
    struct klog_reader r;
    struct klog_mem mem;
    struct got g = {0};
    uint64_t addr;
    char err[256];

    make(&m);
    mem = (struct klog_mem){m.p, m.size};
    m.ring->slots = 4096;
    assert_int_equal(klog_find(&mem, &addr, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "last candidate"));
    m.ring->slots = UK_KLOG_SLOTS;
    m.ring->reserved = 1;
    assert_int_equal(klog_find(&mem, &addr, err, sizeof(err)), -1);
    m.ring->reserved = 0;
    /* cut short: the records would run past the image */
    mem.size = RING_AT + sizeof(struct uk_klog_ring) - 1;
    assert_int_equal(klog_find(&mem, &addr, err, sizeof(err)), -1);
    assert_int_equal(klog_open(&r, &mem, RING_AT, err, sizeof(err)), -1);
    assert_int_equal(klog_open(&r, &mem, RING_AT + 1, err, sizeof(err)), -1);
    /* a length beyond the text field, and a head far in the future */
    logrec(&m, 0, "y");
    m.ring->rec[0].len = 60000;
    memset(m.ring->rec[0].text, 'z', UK_KLOG_TEXT);
    open_img(&m, &r);
    m.ring->head = UINT64_MAX;
    assert_true(klog_read(&r, UINT64_MAX, true, collect, &g) <= UK_KLOG_SLOTS);
    m.ring->head = 1;
    r.next = 0;
    g.n = 0;
    assert_int_equal(klog_read(&r, UINT64_MAX, true, collect, &g), 1);
    assert_int_equal(strlen(g.text[0]), UK_KLOG_TEXT);
    free(m.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_in_order),
        cmocka_unit_test(test_until_and_in_progress),
        cmocka_unit_test(test_wrapped_and_overwritten),
        cmocka_unit_test(test_hostile_header_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
