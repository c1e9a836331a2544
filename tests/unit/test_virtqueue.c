/*
 * Split virtqueue (kernel-hooks/drivers/virtqueue.c) on the host, with the
 * test playing the device: it reads the available ring and descriptor table
 * and writes the used ring, as QEMU would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <uk/klog.h>
#include <uk/mem.h>

#include "virtio_internal.h"

/* ------------------------------------------------------------- shims --- */

static size_t pages_out;
static unsigned notify_calls, warn_calls;
static bool fail_alloc;

void *uk_page_alloc(size_t npages)
{
    void *p;

    if (fail_alloc)
        return NULL;
    p = aligned_alloc(UK_PAGE_SIZE, npages * UK_PAGE_SIZE);
    assert_non_null(p);
    memset(p, 0, npages * UK_PAGE_SIZE);
    pages_out += npages;
    return p;
}

void uk_page_free(void *p, size_t npages)
{
    pages_out -= npages;
    free(p);
}

void uk_log(enum uk_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level <= UK_LOG_WARN)
        warn_calls++;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void virtio_transport_notify(struct uk_virtio_dev *d, uint16_t index)
{
    notify_calls++;
}

/* ------------------------------------------------------------ device --- */

struct fake_dev {
    struct uk_virtq *q;
    uint16_t last_avail; /* device's next avail->ring entry */
};

struct chain {
    uint16_t head;
    unsigned n, n_out;
    uint64_t addr[16];
    uint32_t len[16];
};

/* Pop the next available chain; false if none.  Checks the chain's shape. */
static bool dev_pop(struct fake_dev *fd, struct chain *c)
{
    struct uk_virtq *q = fd->q;
    uint16_t idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
    uint16_t i;
    bool in = false;

    if (idx == fd->last_avail)
        return false;
    c->head = i = q->avail->ring[fd->last_avail & (q->size - 1)];
    fd->last_avail++;
    c->n = c->n_out = 0;
    for (;;) {
        struct uk_virtq_desc *d = &q->desc[i];

        assert_true(i < q->size);
        assert_true(c->n < 16);
        assert_false(d->flags & VIRTQ_DESC_F_INDIRECT);
        if (d->flags & VIRTQ_DESC_F_WRITE)
            in = true;
        else
            assert_false(in); /* out after in */
        if (!in)
            c->n_out++;
        c->addr[c->n] = d->addr;
        c->len[c->n] = d->len;
        c->n++;
        if (!(d->flags & VIRTQ_DESC_F_NEXT))
            break;
        i = d->next;
    }
    return true;
}

static void dev_push(struct fake_dev *fd, uint16_t head, uint32_t len)
{
    struct uk_virtq_used *u = fd->q->used;
    uint16_t idx = u->idx;

    u->ring[idx & (fd->q->size - 1)].id = head;
    u->ring[idx & (fd->q->size - 1)].len = len;
    __atomic_store_n(&u->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

/* Free list: exactly num_free distinct descriptors, none owned by a chain in flight. */
static void check_free_list(struct uk_virtq *q)
{
    uint8_t *seen = calloc(q->size, 1);
    uint16_t i = q->free_head;

    assert_non_null(seen);
    for (unsigned k = 0; k < q->num_free; k++) {
        assert_true(i < q->size);
        assert_int_equal(seen[i], 0);
        assert_null(q->tokens[i]);
        seen[i] = 1;
        i = q->desc[i].next;
    }
    free(seen);
}

static struct uk_virtio_dev vdev;

static struct uk_virtq *make_q(uint16_t size)
{
    struct uk_virtq *q = NULL;

    assert_int_equal(virtq_create(&vdev, 3, size, &q), UK_OK);
    assert_non_null(q);
    return q;
}

static int setup(void **state)
{
    notify_calls = warn_calls = 0;
    return 0;
}

static int teardown(void **state)
{
    assert_int_equal(pages_out, 0);
    return 0;
}

/* ------------------------------------------------------------- tests --- */

static void test_create(void **state)
{
    static const uint16_t sizes[] = {1, 2, 16, 256, 1024, 32768};
    struct uk_virtq *q;

    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        q = make_q(sizes[s]);
        assert_ptr_equal(q->dev, &vdev);
        assert_int_equal(q->index, 3);
        assert_int_equal(q->size, sizes[s]);
        assert_int_equal(q->num_free, sizes[s]);
        assert_int_equal((uintptr_t)q->desc % VIRTQ_DESC_ALIGN, 0);
        assert_int_equal((uintptr_t)q->avail % VIRTQ_AVAIL_ALIGN, 0);
        assert_int_equal((uintptr_t)q->used % VIRTQ_USED_ALIGN, 0);
        /* Rings don't overlap: desc | avail (+used_event) | used. */
        assert_true((char *)q->avail >= (char *)(q->desc + q->size));
        assert_true((char *)q->used >= (char *)&q->avail->ring[q->size + 1]);
        assert_int_equal(q->avail->idx, 0);
        assert_int_equal(q->used->idx, 0);
        check_free_list(q);
        virtq_destroy(q);
    }
}

static void test_create_bad(void **state)
{
    struct uk_virtq *q = (void *)1;

    assert_int_equal(virtq_create(&vdev, 0, 0, &q), UK_EINVAL);
    assert_int_equal(virtq_create(&vdev, 0, 3, &q), UK_EINVAL);
    assert_int_equal(virtq_create(&vdev, 0, 48, &q), UK_EINVAL);
    assert_int_equal(virtq_create(&vdev, 0, 16, NULL), UK_EINVAL);
    fail_alloc = true;
    assert_int_equal(virtq_create(&vdev, 0, 16, &q), UK_ENOMEM);
    fail_alloc = false;
    assert_ptr_equal(q, (void *)1);
}

static void test_one_chain(void **state)
{
    struct uk_virtq *q = make_q(8);
    struct fake_dev fd = {q, 0};
    char hdr[10] = "header", body[100] = "body", reply[64], status;
    struct uk_virtq_buf bufs[] = {
        {hdr, sizeof(hdr), false},
        {body, sizeof(body), false},
        {reply, sizeof(reply), true},
        {&status, 1, true},
    };
    struct chain c;
    uint32_t len = 0;
    int token;

    assert_null(uk_virtq_get(q, &len));
    assert_int_equal(uk_virtq_add(q, bufs, 4, &token), UK_OK);
    assert_int_equal(q->num_free, 4);
    assert_int_equal(q->avail->idx, 1);

    assert_true(dev_pop(&fd, &c));
    assert_false(dev_pop(&fd, &c));
    assert_int_equal(c.n, 4);
    assert_int_equal(c.n_out, 2);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(c.addr[i], (uintptr_t)bufs[i].addr);
        assert_int_equal(c.len[i], bufs[i].len);
    }
    /* The device "writes" the in buffers, then completes. */
    memcpy((void *)(uintptr_t)c.addr[2], "pong", 5);
    *(char *)(uintptr_t)c.addr[3] = 0;
    assert_null(uk_virtq_get(q, &len));
    dev_push(&fd, c.head, 6);

    assert_ptr_equal(uk_virtq_get(q, &len), &token);
    assert_int_equal(len, 6);
    assert_string_equal(reply, "pong");
    assert_null(uk_virtq_get(q, &len));
    assert_null(uk_virtq_get(q, NULL));
    assert_int_equal(q->num_free, 8);
    assert_int_equal(q->completions, 1);
    check_free_list(q);
    virtq_destroy(q);
}

static void test_add_errors(void **state)
{
    struct uk_virtq *q = make_q(4);
    char b[4];
    struct uk_virtq_buf in_out[] = {{b, 1, true}, {b, 1, false}};
    struct uk_virtq_buf five[5] = {
        {b, 1, false}, {b, 1, false}, {b, 1, false}, {b, 1, false}, {b, 1, false}};
    struct uk_virtq_buf huge[] = {{b, 0x80000000u, false}, {b, 0x80000000u, true}};
    struct uk_virtq_buf max[] = {{b, 0x80000000u, false}, {b, 0x7fffffffu, true}};
    int t;

    assert_int_equal(uk_virtq_add(q, five, 0, &t), UK_EINVAL);
    assert_int_equal(uk_virtq_add(q, five, 1, NULL), UK_EINVAL);
    assert_int_equal(uk_virtq_add(q, NULL, 1, &t), UK_EINVAL);
    assert_int_equal(uk_virtq_add(q, five, 5, &t), UK_EINVAL); /* > size: never fits */
    assert_int_equal(uk_virtq_add(q, in_out, 2, &t), UK_EINVAL);
    assert_int_equal(uk_virtq_add(q, huge, 2, &t), UK_EINVAL);
    assert_int_equal(q->num_free, 4);
    assert_int_equal(q->avail->idx, 0);
    assert_int_equal(uk_virtq_add(q, max, 2, &t), UK_OK);
    check_free_list(q);
    virtq_destroy(q);
}

static void test_full(void **state)
{
    enum { N = 16 };
    struct uk_virtq *q = make_q(N);
    struct fake_dev fd = {q, 0};
    char b[N];
    struct uk_virtq_buf one = {b, 1, true}, two[] = {{b, 1, false}, {b, 1, true}};
    struct chain c;
    uint32_t len;

    for (unsigned i = 0; i < N - 1; i++)
        assert_int_equal(uk_virtq_add(q, &one, 1, &b[i]), UK_OK);
    assert_int_equal(q->num_free, 1);
    assert_int_equal(uk_virtq_add(q, two, 2, &b[0]), UK_EAGAIN);
    assert_int_equal(uk_virtq_add(q, &one, 1, &b[N - 1]), UK_OK);
    assert_int_equal(q->num_free, 0);
    assert_int_equal(uk_virtq_add(q, &one, 1, &b[0]), UK_EAGAIN);
    assert_int_equal(q->avail->idx, N);
    check_free_list(q);

    /* Complete one: exactly one slot frees up. */
    assert_true(dev_pop(&fd, &c));
    dev_push(&fd, c.head, 1);
    assert_ptr_equal(uk_virtq_get(q, &len), &b[0]);
    assert_int_equal(q->num_free, 1);
    assert_int_equal(uk_virtq_add(q, two, 2, &b[0]), UK_EAGAIN);
    assert_int_equal(uk_virtq_add(q, &one, 1, &b[0]), UK_OK);

    /* Drain everything out of order (reverse), all tokens come back once. */
    struct chain all[N];
    unsigned n = 0;
    while (dev_pop(&fd, &all[n]))
        n++;
    assert_int_equal(n, N);
    for (unsigned i = N; i-- > 0;)
        dev_push(&fd, all[i].head, i);
    unsigned seen[N] = {0};
    void *t;
    while ((t = uk_virtq_get(q, &len)))
        seen[(char *)t - b]++;
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(q->num_free, N);
    check_free_list(q);
    virtq_destroy(q);
}

/* Many operations: 16-bit indices wrap several times; random chain lengths
 * and completion order; every token comes back once with its length. */
static void test_wrap(void **state)
{
    enum { N = 64, OPS = 300000 };
    struct uk_virtq *q = make_q(N);
    struct fake_dev fd = {q, 0};
    struct rec {
        unsigned id;
        unsigned in_flight;
        unsigned n; /* buffers in the chain */
    } recs[N];
    struct chain pending[N];
    unsigned npending = 0, next_id = 0, done = 0, in_flight = 0;
    char data[4 * N];
    uint32_t seed = 12345;

    memset(recs, 0, sizeof(recs));
    for (unsigned op = 0; done < OPS; op++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 16;

        if (r % 3 != 0) {
            /* Driver adds a chain of 1..3 buffers. */
            unsigned n = 1 + r % 3, slot = next_id % N;
            struct uk_virtq_buf b[3];
            if (recs[slot].in_flight) {
                r = 0; /* slot busy: let the device work instead */
            } else {
                for (unsigned i = 0; i < n; i++) {
                    b[i].addr = &data[slot * 4 + i];
                    b[i].len = (uint32_t)(slot * 4 + i + 1);
                    b[i].device_writes = i == n - 1;
                }
                uk_result res = uk_virtq_add(q, b, n, &recs[slot]);
                if (res == UK_OK) {
                    recs[slot].id = next_id++;
                    recs[slot].in_flight = 1;
                    recs[slot].n = n;
                    in_flight++;
                    uk_virtq_kick(q);
                } else {
                    assert_int_equal(res, UK_EAGAIN);
                    assert_true(q->num_free < n);
                }
            }
        }
        if (r % 3 == 0) {
            /* Device pops what is available, completes a random pending one. */
            while (npending < N && dev_pop(&fd, &pending[npending]))
                npending++;
            if (npending) {
                unsigned k = (seed >> 8) % npending;
                struct chain *c = &pending[k];
                /* "Bytes written": the length of the last (in) buffer. */
                dev_push(&fd, c->head, c->len[c->n - 1]);
                pending[k] = pending[--npending];
            }
            /* Driver consumes completions. */
            uint32_t len;
            struct rec *t;
            while ((t = uk_virtq_get(q, &len))) {
                unsigned slot = (unsigned)(t - recs);
                assert_true(slot < N);
                assert_int_equal(t->in_flight, 1);
                assert_int_equal(len, slot * 4 + t->n);
                t->in_flight = 0;
                in_flight--;
                done++;
            }
        }
        assert_true(q->num_free <= N);
        assert_true(op < 10 * OPS);
    }
    assert_true(q->completions > 65536 * 4);
    assert_int_equal(q->completions, done);
    assert_int_equal(q->errors, 0);
    /* Drain the rest. */
    while (npending < N && dev_pop(&fd, &pending[npending]))
        npending++;
    while (npending) {
        npending--;
        dev_push(&fd, pending[npending].head, 0);
    }
    while (uk_virtq_get(q, NULL))
        in_flight--;
    assert_int_equal(in_flight, 0);
    assert_int_equal(q->num_free, N);
    assert_int_equal(q->avail_idx, q->avail->idx);
    assert_int_equal(q->last_used, q->used->idx);
    check_free_list(q);
    virtq_destroy(q);
}

static void test_kick(void **state)
{
    struct uk_virtq *q = make_q(8);
    char b;
    struct uk_virtq_buf one = {&b, 1, false};

    uk_virtq_kick(q); /* nothing added */
    assert_int_equal(notify_calls, 0);
    assert_int_equal(uk_virtq_add(q, &one, 1, &b), UK_OK);
    assert_int_equal(uk_virtq_add(q, &one, 1, &b), UK_OK);
    uk_virtq_kick(q);
    assert_int_equal(notify_calls, 1);
    uk_virtq_kick(q); /* nothing new */
    assert_int_equal(notify_calls, 1);
    q->used->flags = VIRTQ_USED_F_NO_NOTIFY;
    assert_int_equal(uk_virtq_add(q, &one, 1, &b), UK_OK);
    uk_virtq_kick(q);
    assert_int_equal(notify_calls, 1);
    q->used->flags = 0;
    assert_int_equal(uk_virtq_add(q, &one, 1, &b), UK_OK);
    uk_virtq_kick(q);
    assert_int_equal(notify_calls, 2);
    assert_int_equal(q->notifies, 2);
    virtq_destroy(q);
}

/* A misbehaving device must not corrupt the free list. */
static void test_bad_device(void **state)
{
    struct uk_virtq *q = make_q(8);
    struct fake_dev fd = {q, 0};
    char b;
    struct uk_virtq_buf one = {&b, 1, false};
    struct chain c;
    uint32_t len;

    assert_int_equal(uk_virtq_add(q, &one, 1, &b), UK_OK);
    assert_true(dev_pop(&fd, &c));
    dev_push(&fd, 99, 0);     /* id out of range */
    dev_push(&fd, 5, 0);      /* id not in flight */
    dev_push(&fd, c.head, 1); /* the real one */
    dev_push(&fd, c.head, 1); /* twice */
    assert_ptr_equal(uk_virtq_get(q, &len), &b);
    assert_null(uk_virtq_get(q, &len));
    assert_int_equal(q->errors, 3);
    assert_int_equal(warn_calls, 3);
    assert_int_equal(q->num_free, 8);
    check_free_list(q);

    /* used->idx jumping far ahead: refused, nothing freed. */
    assert_int_equal(uk_virtq_add(q, &one, 1, &b), UK_OK);
    q->used->idx = (uint16_t)(q->last_used + 100);
    assert_null(uk_virtq_get(q, &len));
    assert_null(uk_virtq_get(q, &len));
    assert_int_equal(q->errors, 5);
    assert_int_equal(q->num_free, 7);
    virtq_destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_device, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
