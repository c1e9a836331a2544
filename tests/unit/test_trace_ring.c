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

/* A guest that writes as fast as the host reads: each event delivered makes
 * the callback (the "guest") write another one.  One pass must stop after
 * at most one ring's worth of slots, not follow head for ever. */
struct chaser {
    uint64_t seen, cap;
};

static int chase_event(void *arg, const struct utr_event *ev)
{
    struct chaser *c = arg;
    if (++c->seen < c->cap) /* the cap only keeps a broken reader finite */
        img_write(&img, ev->ring, 0, c->seen, 0);
    return 0;
}

static void test_pass_bounded(void **state)
{
    img_build(&img, 1, 64, UK_TRACE_OVERWRITE);
    for (int s = 0; s < 10; s++)
        img_write(&img, 0, 0, s, 0);
    struct utr t;
    struct utr_mem m = {img.mem, img.size};
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    struct chaser c = {0, 100000};
    long n = utr_drain(&t, false, chase_event, &c);
    assert_true(n > 0 && n <= 64);
    assert_true(c.seen <= 64);
    /* The next pass goes on from where this one stopped. */
    uint64_t before = t.rings[0].cursor;
    assert_true(utr_drain(&t, false, chase_event, &c) > 0);
    assert_true(t.rings[0].cursor > before);
    utr_close(&t);
    free(img.mem);
}

/* Two rings claiming CPU 0 / main: the second is ignored and counted. */
static void test_duplicate_rings(void **state)
{
    img_build(&img, 3, 16, UK_TRACE_OVERWRITE);
    img.rings[2].cpu = 0;
    img_write(&img, 0, 0, 1, 0);
    img_write(&img, 2, 0, 2, 0);
    struct utr t;
    struct utr_mem m = {img.mem, img.size};
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    assert_int_equal(t.dup_rings, 1);
    assert_true(t.rings[0].usable && t.rings[1].usable);
    assert_false(t.rings[2].usable);
    uint64_t n = 0;
    assert_int_equal(utr_drain(&t, true, count_event, &n), 1);
    utr_close(&t);
    free(img.mem);
}

/* Rings sharing one slot array: only the first is read. */
static void test_overlapping_rings(void **state)
{
    img_build(&img, 4, 16, UK_TRACE_OVERWRITE);
    for (int s = 0; s < 16; s++)
        img_write(&img, 0, 0, s, 0);
    for (unsigned i = 1; i < 4; i++) {
        img.rings[i].slots_addr = img.rings[0].slots_addr + (i == 3 ? 8 * 32 : 0);
        img.rings[i].head = 16;
    }
    struct utr t;
    struct utr_mem m = {img.mem, img.size};
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    assert_int_equal(t.overlap_rings, 3);
    uint64_t n = 0;
    assert_int_equal(utr_drain(&t, true, count_event, &n), 16);
    utr_close(&t);
    free(img.mem);
}

static void test_clean_str(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},                                   /* valid 2-byte */
        {"\xe2\x82\xac\xf0\x9f\x98\x80", "\xe2\x82\xac\xf0\x9f\x98\x80"}, /* 3, 4 bytes */
        {"a\xff\x62", "a?b"},         /* never valid ("\x62": b) */
        {"\xc3", "?"},                /* truncated */
        {"\xc0\xaf", "??"},           /* overlong */
        {"\xed\xa0\x80", "???"},      /* surrogate */
        {"\xf4\x90\x80\x80", "????"}, /* above U+10FFFF */
        {"q\"b\\s\n\x7f", "q?b?s??"}, /* breaks quoting */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%s", cases[i].in);
        utr_clean_str(buf);
        assert_string_equal(buf, cases[i].out);
    }
    char s8[9];
    utr_str8(0xffULL | 'k' << 8, s8);
    assert_string_equal(s8, "?k");
}

/* Tracepoint metadata from the guest is sanitised once, in the reader. */
static void test_tp_names_sanitised(void **state)
{
    img_build(&img, 1, 16, UK_TRACE_OVERWRITE);
    struct uk_trace_tp_meta *tp = (struct uk_trace_tp_meta *)(img.mem + IMG_TPS);
    memcpy(tp[0].name, "bad\xff\xfe\"name", 10);
    memset(tp[0].category, 0xc3, sizeof(tp[0].category)); /* and no NUL */
    struct utr t;
    struct utr_mem m = {img.mem, img.size};
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    assert_string_equal(t.tps[0].name, "bad???name");
    assert_int_equal(strspn(t.tps[0].category, "?"), UK_TRACE_CAT_MAX - 1);
    utr_close(&t);
    free(img.mem);
}

/* Full thread names from the guest's thread table; a bad table is ignored. */
static void test_thread_names(void **state)
{
    img_build(&img, 1, 16, UK_TRACE_OVERWRITE);
    struct uk_thread_table *tt = img_add_threads(&img);
    tt->threads[3] = (struct uk_thread){.state = UK_THREAD_BLOCKED, .tid = 7, .cpu = -1};
    snprintf(tt->threads[3].name, UK_THREAD_NAME, "kv-worker-with-a-long-name");
    tt->threads[4] = (struct uk_thread){.state = UK_THREAD_RUNNING, .tid = 8};
    memset(tt->threads[4].name, 0xff, UK_THREAD_NAME); /* no NUL, not UTF-8 */
    struct utr t;
    struct utr_mem m = {img.mem, img.size};
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    assert_string_equal(utr_thread_name(&t, 7), "kv-worker-with-a-long-name");
    assert_int_equal(strlen(utr_thread_name(&t, 8)), UK_THREAD_NAME - 1);
    assert_null(utr_thread_name(&t, 9));
    /* The thread exits and its slot is freed: the name stays known. */
    tt->threads[3].state = UK_THREAD_FREE;
    utr_drain(&t, true, NULL, NULL);
    assert_string_equal(utr_thread_name(&t, 7), "kv-worker-with-a-long-name");
    utr_close(&t);
    tt->entry_size = 12; /* a layout this reader does not know */
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    assert_null(utr_thread_name(&t, 7));
    utr_close(&t);
    img.hdr->threads_addr = img.size - 8; /* table outside the image */
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    assert_null(utr_thread_name(&t, 7));
    utr_close(&t);
    free(img.mem);
}

/* Writes fuzzer seeds when TRACE_SEED (the reader's) or TRACE_SEED_WRITERS
 * (tests/fuzz/corpus/trace_out: every event kind, a thread table) is set. */
static void seed_writers(const char *out)
{
    img_build(&img, 2, 16, UK_TRACE_OVERWRITE);
    struct uk_thread_table *tt = img_add_threads(&img);
    tt->threads[0] = (struct uk_thread){.state = UK_THREAD_RUNNING, .tid = 2, .cpu = 0};
    snprintf(tt->threads[0].name, UK_THREAD_NAME, "kv-worker0");
    tt->threads[1] = (struct uk_thread){.state = UK_THREAD_BLOCKED, .tid = 3, .cpu = -1};
    snprintf(tt->threads[1].name, UK_THREAD_NAME, "telemetry");
    img_write(&img, 0, UK_TP_THREAD_CREATE, 2, uk_tp_str8("kv-worker0"));
    img_write(&img, 0, UK_TP_THREAD_CREATE, 3, uk_tp_str8("telemetry"));
    img_write(&img, 0, UK_TP_THREAD_WAKE, 3, (uint64_t)-1);
    img_write(&img, 0, UK_TP_SCHED_SWITCH, 1, 2);
    img_write(&img, 0, UK_TP_SPAN_BEGIN, uk_tp_str8("crunch"), 1);
    img_write(&img, 0, UK_TP_COUNTER, uk_tp_str8("primes"), 42);
    img_write(&img, 0, UK_TP_SPAN_END, uk_tp_str8("crunch"), 1);
    img_write(&img, 1, UK_TP_IRQ_ENTRY, 33, 0xffff0000);
    img_write(&img, 1, UK_TP_KLOG, 7, 3);
    img_write(&img, 1, UK_TP_THREAD_EXIT, 2, 0);
    FILE *f = fopen(out, "wb");
    assert_non_null(f);
    fwrite(img.mem, 1, img.size, f);
    fclose(f);
    free(img.mem);
}

static void test_seed(void **state)
{
    if (getenv("TRACE_SEED_WRITERS"))
        seed_writers(getenv("TRACE_SEED_WRITERS"));
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
        cmocka_unit_test(test_stress_overwrite), cmocka_unit_test(test_pass_bounded),
        cmocka_unit_test(test_duplicate_rings),  cmocka_unit_test(test_overlapping_rings),
        cmocka_unit_test(test_clean_str),        cmocka_unit_test(test_tp_names_sanitised),
        cmocka_unit_test(test_thread_names),     cmocka_unit_test(test_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
