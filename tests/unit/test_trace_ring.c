/*
 * Unit tests: the guest ring writer and the host reader, natively.
 *  - a multi-threaded stress: one writer thread per ring, each interrupted
 *    by signals whose handler writes to the same ring (nesting, like an IRQ
 *    in the guest), and one concurrent reader: no corrupted record is ever
 *    returned and read + lost == written exactly;
 *  - discard mode accounting; hostile images (lying headers, sizes, stray
 *    magics, head going backwards, garbage records).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>

#include "trace_image.h"
#include "trace_reader.h"

#define NWRITERS   4
#define PER_WRITER 300000
#define KEY        0x5bd1e9955bd1e995ULL

static struct trace_image img;
static volatile int stop_signals;
static __thread int my_ring = -1;
static __thread uint64_t nested_seq;
static uint64_t written[NWRITERS][2]; /* [ring][0 = thread, 1 = nested] attempts */

static void on_signal(int sig)
{
    if (my_ring < 0)
        return;
    for (int k = 0; k < 4; k++) {
        uint64_t s = nested_seq++;
        img_write(&img, (unsigned)my_ring, 1, s, s ^ KEY ^ ((uint64_t)my_ring << 56));
        written[my_ring][1]++;
    }
}

static void *writer(void *arg)
{
    int ring = (int)(intptr_t)arg;
    my_ring = ring;
    for (uint64_t s = 0; s < PER_WRITER; s++) {
        img_write(&img, (unsigned)ring, 0, s, s ^ KEY ^ ((uint64_t)ring << 56));
        written[ring][0]++;
    }
    my_ring = -1;
    return NULL;
}

struct check {
    uint64_t last_seq[NWRITERS][2];
    bool seen[NWRITERS][2];
    uint64_t last_tsc[NWRITERS];
    uint64_t bad;
};

static int check_event(void *arg, const struct utr_event *ev)
{
    struct check *c = arg;
    unsigned src = ev->id;
    if (ev->ring >= NWRITERS || src > 1 ||
        ev->arg[1] != (ev->arg[0] ^ KEY ^ ((uint64_t)ev->ring << 56)) ||
        (c->seen[ev->ring][src] && ev->arg[0] <= c->last_seq[ev->ring][src]) ||
        ev->tsc < c->last_tsc[ev->ring]) {
        c->bad++;
        return 0;
    }
    c->seen[ev->ring][src] = true;
    c->last_seq[ev->ring][src] = ev->arg[0];
    c->last_tsc[ev->ring] = ev->tsc;
    return 0;
}

static void *interrupter(void *arg)
{
    pthread_t *w = arg;
    while (!stop_signals) {
        for (int i = 0; i < NWRITERS; i++)
            pthread_kill(w[i], SIGUSR1);
        usleep(5);
    }
    return NULL;
}

static void test_stress_overwrite(void **state)
{
    img_build(&img, NWRITERS, 1024, UK_TRACE_OVERWRITE);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR1, &sa, NULL);
    memset(written, 0, sizeof(written));

    struct utr t;
    struct utr_mem m = {img.mem, img.size};
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);

    pthread_t w[NWRITERS], intr;
    for (int i = 0; i < NWRITERS; i++)
        pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
    stop_signals = 0;
    pthread_create(&intr, NULL, interrupter, w);
    struct check c = {0};
    unsigned passes = 0;
    for (int i = 0; i < NWRITERS;) {
        assert_true(utr_drain(&t, false, check_event, &c) >= 0);
        passes++;
        if (pthread_tryjoin_np(w[i], NULL) == 0)
            i++;
    }
    stop_signals = 1;
    pthread_join(intr, NULL);
    assert_true(utr_drain(&t, true, check_event, &c) >= 0);

    struct utr_totals tot;
    utr_totals(&t, &tot);
    uint64_t all = 0, nested = 0;
    for (int i = 0; i < NWRITERS; i++) {
        all += written[i][0] + written[i][1];
        nested += written[i][1];
    }
    printf("# stress: %llu written (%llu nested), %llu read, %llu overwritten, %llu torn, "
           "%u reader passes\n",
           (unsigned long long)all, (unsigned long long)nested, (unsigned long long)tot.read,
           (unsigned long long)tot.overwritten, (unsigned long long)tot.torn, passes);
    assert_int_equal(c.bad, 0);
    assert_int_equal(tot.torn, 0);
    assert_int_equal(tot.read + tot.overwritten + tot.discarded, all);
    assert_true(tot.read > 0);
    assert_true(nested > 0);
    utr_close(&t);
    free(img.mem);
}

static void test_discard(void **state)
{
    img_build(&img, 2, 64, UK_TRACE_DISCARD);
    for (uint64_t s = 0; s < 100; s++)
        img_write(&img, 0, 0, s, s ^ KEY);
    img_write(&img, 1, 0, 7, 7 ^ KEY ^ (1ULL << 56));
    struct utr t;
    struct utr_mem m = {img.mem, img.size};
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    struct check c = {0};
    assert_int_equal(utr_drain(&t, true, check_event, &c), 65);
    struct utr_totals tot;
    utr_totals(&t, &tot);
    assert_int_equal(c.bad, 0);
    assert_int_equal(tot.discarded, 36);
    assert_int_equal(tot.overwritten, 0);
    assert_int_equal(utr_ring_lost(&t, 0), 36);
    /* A second pass returns nothing new. */
    assert_int_equal(utr_drain(&t, true, check_event, &c), 0);
    utr_close(&t);
    free(img.mem);
}

static int count_event(void *arg, const struct utr_event *ev)
{
    (*(uint64_t *)arg)++;
    return 0;
}

static void test_find(void **state)
{
    img_build(&img, 1, 16, UK_TRACE_OVERWRITE);
    struct utr_mem m = {img.mem, img.size};
    uint64_t addr = 0;
    char err[256];
    assert_int_equal(utr_find(&m, &addr, err, sizeof(err)), 0);
    assert_int_equal(addr, IMG_HDR);
    /* A stray copy of the header on an earlier page does not point at itself. */
    memcpy(img.mem, img.hdr, sizeof(*img.hdr));
    assert_int_equal(utr_find(&m, &addr, err, sizeof(err)), 0);
    assert_int_equal(addr, IMG_HDR);
    img.hdr->magic[1] = 0;
    assert_int_equal(utr_find(&m, &addr, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no trace header"));
    free(img.mem);
}

/* Each mutation must give a clean error, never a crash. */
static void test_lying_headers(void **state)
{
    struct utr t;
    for (int k = 0; k < 9; k++) {
        img_build(&img, 2, 16, UK_TRACE_OVERWRITE);
        struct utr_mem m = {img.mem, img.size};
        struct uk_trace_header *h = img.hdr;
        switch (k) {
        case 0:
            h->version = 99;
            break;
        case 1:
            h->self = 0x5000;
            break;
        case 2:
            h->nrings = 100000;
            break;
        case 3:
            h->tsc_hz = 0;
            break;
        case 4:
            h->tp_addr = ~0ULL - 10;
            break;
        case 5:
            h->rings_addr = img.size - 8;
            break;
        case 6:
            h->ntps = 0xffffffff;
            break;
        case 7:
            img.rings[0].nslots = 1u << 31;
            img.rings[1].slots_addr = img.size;
            break;
        case 8:
            m.size = IMG_HDR + 10;
            break;
        }
        assert_int_equal(utr_open(&t, &m, IMG_HDR), -1);
        assert_true(strlen(t.err) > 0);
        utr_close(&t);
        free(img.mem);
    }
}

static void test_garbage_records(void **state)
{
    img_build(&img, 2, 16, UK_TRACE_OVERWRITE);
    for (int s = 0; s < 10; s++)
        img_write(&img, 0, 0, s, s ^ KEY);
    /* Ring 1: a head claiming 2^40 reservations over garbage slots. */
    memset(img_slots(&img, 1), 0xa5, 16 * sizeof(struct uk_trace_rec));
    img.rings[1].head = 1ULL << 40;
    struct uk_trace_rec *s = img_slots(&img, 0);
    s[3].id = 0xffff; /* committed but an unknown tracepoint */
    struct utr t;
    struct utr_mem m = {img.mem, img.size};
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    uint64_t n = 0;
    assert_true(utr_drain(&t, true, count_event, &n) >= 0);
    assert_int_equal(n, 9);
    assert_int_equal(t.rings[0].torn, 1);
    assert_int_equal(t.rings[1].torn, 16);
    assert_int_equal(t.rings[1].overwritten, (1ULL << 40) - 16);
    /* head going backwards is survived, not looped on */
    img.rings[0].head = 2;
    assert_true(utr_drain(&t, true, count_event, &n) >= 0);
    utr_close(&t);
    free(img.mem);
}

/* Writes a seed image for the fuzzer when TRACE_SEED is set. */
static void test_seed(void **state)
{
    const char *out = getenv("TRACE_SEED");
    if (!out)
        return;
    img_build(&img, 2, 16, UK_TRACE_OVERWRITE);
    for (int s = 0; s < 20; s++)
        img_write(&img, s & 1, UK_TP_SCHED_SWITCH, s, s + 1);
    FILE *f = fopen(out, "wb");
    assert_non_null(f);
    fwrite(img.mem, 1, img.size, f);
    fclose(f);
    free(img.mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discard),          cmocka_unit_test(test_find),
        cmocka_unit_test(test_lying_headers),    cmocka_unit_test(test_garbage_records),
        cmocka_unit_test(test_stress_overwrite), cmocka_unit_test(test_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
