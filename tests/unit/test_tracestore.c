/*
 * Unit tests: the collector's trace store (host-collector/collectd/
 * tracestore.h) on synthetic RAM files built with the real ring writer
 * (trace_image.h): each event stored once across drains, guest losses
 * counted, segment rotation, the size and age limits (oldest dropped,
 * every dropped event counted), export in every format (Perfetto checked
 * with protoc --decode, JSON with jansson), the time window, the fleet
 * trace (a process per instance), a RAM file truncated under the reader
 * (a counted error), and damaged segments on disk.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collectd/tracestore.h"
#include "collectd/tseg.h"
#include "trace_image.h"

static struct trace_image img;
static char root[64], run[128], store[128];

/* Write the image to RUN/ram (the reader maps it shared: rewrites show). */
static void sync_ram(void)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/ram", run);
    int fd = open(p, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, img.mem, img.size, 0), (ssize_t)img.size);
    close(fd);
}

static int setup(void **state)
{
    snprintf(root, sizeof(root), "/tmp/ts-unit-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(run, sizeof(run), "%s/run", root);
    snprintf(store, sizeof(store), "%s/store", root);
    mkdir(run, 0700);
    return 0;
}

static int teardown(void **state)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
    free(img.mem);
    img.mem = NULL;
    return 0;
}

static void write_n(unsigned ring, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        img_write(&img, ring, UK_TP_SCHED_SWITCH, i, i + 1);
}

static unsigned count_segments(const char *inst)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", store, inst);
    DIR *d = opendir(p);
    unsigned n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += !strncmp(e->d_name, "seg-", 4);
    if (d)
        closedir(d);
    return n;
}

/* Events in a JSON export (instants of the sched_switch tracepoint). */
static size_t json_events(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    assert_non_null(j);
    json_t *evs = json_is_array(j) ? j : json_object_get(j, "traceEvents");
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(evs, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        n += name && !strcmp(name, "sched_switch");
    }
    json_decref(j);
    return n;
}

static char *pf_decode(const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "protoc --proto_path=%s/tracing/host --decode=ukscope.perfetto.Trace "
             "perfetto_trace.proto < %s > %s.txt",
             UKSCOPE_ROOT, path, path);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s.txt", path);
    FILE *f = fopen(cmd, "r");
    assert_non_null(f);
    static char buf[1 << 22];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static unsigned count_str(const char *s, const char *what)
{
    unsigned n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* Drains are incremental: every event once; losses counted; all formats. */
static void test_append_once_and_export(void **state)
{
    struct tracestore_stats st;
    img_build(&img, 2, 256, UK_TRACE_OVERWRITE);
    write_n(0, 100);
    write_n(1, 20);
    sync_ram();
    struct tracestore *ts = tracestore_open(store, 0, 0);
    assert_non_null(ts);
    assert_int_equal(tracestore_drain(ts, "a", run, 0), 0);
    assert_int_equal(tracestore_drain(ts, "a", run, 10), 0); /* nothing new */
    tracestore_stats(ts, "a", &st);
    assert_int_equal(st.events_stored, 120);
    write_n(0, 30);
    sync_ram();
    assert_int_equal(tracestore_drain(ts, "a", run, 20), 0);
    tracestore_stats(ts, "a", &st);
    assert_int_equal(st.events_stored, 150);
    assert_int_equal(st.lost_in_guest, 0);
    assert_int_equal(st.drains, 3);
    assert_int_equal(st.drain_errors, 0);
    assert_int_equal(st.segments, 1);

    char out[256];
    snprintf(out, sizeof(out), "%s/a.json", root);
    assert_int_equal(tracestore_export(ts, "a", 0, "json", out), 0);
    assert_int_equal(json_events(out), 150);
    snprintf(out, sizeof(out), "%s/a.pftrace", root);
    assert_int_equal(tracestore_export(ts, "a", 0, "perfetto", out), 0);
    char *txt = pf_decode(out);
    assert_int_equal(count_str(txt, "name: \"sched_switch\""), 150);
    snprintf(out, sizeof(out), "%s/a.ctf", root);
    assert_int_equal(tracestore_export(ts, "a", 0, "ctf", out), 0);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "babeltrace2 %s/a.ctf > %s/bt.txt", root, root);
    assert_int_equal(system(cmd), 0); /* a real CTF reader accepts it */
    snprintf(cmd, sizeof(cmd), "test $(grep -c sched_switch %s/bt.txt) = 150", root);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tracestore_export(ts, "a", 0, "xml", out), -1);
    assert_int_equal(tracestore_export(ts, "nobody", 0, "json", out), -1);

    /* The guest overwrites 300 records of a 256-slot ring before the next
     * drain: 44 lost, 256 stored. */
    write_n(1, 300);
    sync_ram();
    assert_int_equal(tracestore_drain(ts, "a", run, 30), 0);
    tracestore_stats(ts, "a", &st);
    assert_int_equal(st.lost_in_guest, 44);
    assert_int_equal(st.events_stored, 150 + 256);
    tracestore_close(ts);

    /* A restarted collector adopts what is on disk. */
    ts = tracestore_open(store, 0, 0);
    assert_int_equal(tracestore_drain(ts, "a", run, 0), 0);
    tracestore_stats(ts, "a", &st);
    assert_int_equal(st.events_stored, 150 + 256);
    snprintf(out, sizeof(out), "%s/a2.json", root);
    assert_int_equal(tracestore_export(ts, "a", 0, "json", out), 0);
    assert_int_equal(json_events(out), 150 + 256);
    tracestore_close(ts);
}

/* A small size limit: segments rotate, the oldest go, every event counted. */
static void test_size_limit_drops_counted(void **state)
{
    struct tracestore_stats st;
    img_build(&img, 1, 1024, UK_TRACE_OVERWRITE);
    sync_ram();
    struct tracestore *ts = tracestore_open(store, 64 << 10, 0); /* 16 KiB segments */
    assert_non_null(ts);
    for (int i = 0; i < 40; i++) {
        write_n(0, 200);
        sync_ram();
        assert_int_equal(tracestore_drain(ts, "big", run, i), 0);
        tracestore_stats(ts, "big", &st);
        assert_true(st.bytes <= (64 << 10) + 200 * 40 + 4096);
    }
    tracestore_stats(ts, "big", &st);
    assert_int_equal(st.events_stored, 8000);
    assert_true(st.dropped_by_limit > 0);
    assert_true(st.segments > 1);
    assert_int_equal(st.segments, count_segments("big"));
    char out[256];
    snprintf(out, sizeof(out), "%s/big.json", root);
    assert_int_equal(tracestore_export(ts, "big", 0, "json", out), 0);
    /* stored = still on disk + dropped, exactly */
    assert_int_equal(json_events(out) + st.dropped_by_limit, st.events_stored);
    tracestore_close(ts);
}

/* Age limit: a segment not written for max_age_s goes, its events counted. */
static void test_age_limit(void **state)
{
    struct tracestore_stats st;
    img_build(&img, 1, 256, UK_TRACE_OVERWRITE);
    write_n(0, 10);
    sync_ram();
    struct tracestore *ts = tracestore_open(store, 0, 5);
    assert_int_equal(tracestore_drain(ts, "old", run, 1000), 0);
    assert_int_equal(tracestore_drain(ts, "old", run, 4000), 0);
    tracestore_stats(ts, "old", &st);
    assert_int_equal(st.dropped_by_limit, 0);
    assert_int_equal(tracestore_drain(ts, "old", run, 7000), 0);
    tracestore_stats(ts, "old", &st);
    assert_int_equal(st.dropped_by_limit, 10);
    assert_int_equal(st.segments, 0);
    write_n(0, 3);
    sync_ram();
    assert_int_equal(tracestore_drain(ts, "old", run, 8000), 0);
    tracestore_stats(ts, "old", &st);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.events_stored, 13);
    tracestore_close(ts);
}

/* --last: guest time of the newest event is the reference. */
static void test_time_window(void **state)
{
    img_build(&img, 1, 256, UK_TRACE_OVERWRITE);
    uint64_t base = uk_trace_rdtsc();
    /* tsc_hz is 1e9 in the image: a base 20e9 ticks lower is 20 s later */
    for (int i = 0; i < 5; i++)
        uk_trace_ring_write(&img.rings[0], img_slots(&img, 0), base, UK_TP_SCHED_SWITCH, 1, 2);
    for (int i = 0; i < 7; i++)
        uk_trace_ring_write(&img.rings[0], img_slots(&img, 0), base - 20000000000ULL,
                            UK_TP_SCHED_SWITCH, 1, 2);
    sync_ram();
    struct tracestore *ts = tracestore_open(store, 0, 0);
    assert_int_equal(tracestore_drain(ts, "w", run, 0), 0);
    char out[256];
    snprintf(out, sizeof(out), "%s/w.json", root);
    assert_int_equal(tracestore_export(ts, "w", 10, "json", out), 0);
    assert_int_equal(json_events(out), 7);
    assert_int_equal(tracestore_export(ts, "w", 0, "json", out), 0);
    assert_int_equal(json_events(out), 12);
    tracestore_close(ts);
}

/* Two instances in one fleet trace: a process each, named after it. */
static void test_fleet(void **state)
{
    img_build(&img, 2, 256, UK_TRACE_OVERWRITE);
    write_n(0, 10);
    write_n(1, 5);
    sync_ram();
    struct tracestore *ts = tracestore_open(store, 0, 0);
    assert_int_equal(tracestore_drain(ts, "alpha", run, 0), 0);
    write_n(0, 3);
    sync_ram();
    tracestore_forget(ts, "alpha");
    assert_int_equal(tracestore_drain(ts, "beta", run, 0), 0); /* same RAM: all 18 */
    char out[256];
    snprintf(out, sizeof(out), "%s/fleet.pftrace", root);
    assert_int_equal(tracestore_export_fleet(ts, 0, out), 0);
    char *txt = pf_decode(out);
    assert_int_equal(count_str(txt, "process_name: \"alpha\""), 1);
    assert_int_equal(count_str(txt, "process_name: \"beta\""), 1);
    assert_int_equal(count_str(txt, "pid: 1\n"), 1);
    assert_int_equal(count_str(txt, "pid: 2\n"), 1);
    assert_int_equal(count_str(txt, "name: \"sched_switch\""), 15 + 18);
    assert_int_equal(tracestore_drain(ts, "../x", run, 0), -1); /* names are path parts */
    char link[256];
    snprintf(link, sizeof(link), "%s/evil", store);
    assert_int_equal(symlink(root, link), 0); /* planted: not followed */
    assert_int_equal(tracestore_drain(ts, "evil", run, 0), -1);
    tracestore_close(ts);
}

/* RAM file truncated under the reader / garbage: counted errors, no crash. */
static void test_truncated_ram(void **state)
{
    struct tracestore_stats st;
    char p[256];
    img_build(&img, 1, 256, UK_TRACE_OVERWRITE);
    write_n(0, 10);
    sync_ram();
    struct tracestore *ts = tracestore_open(store, 0, 0);
    assert_int_equal(tracestore_drain(ts, "t", run, 0), 0);
    snprintf(p, sizeof(p), "%s/ram", run);
    assert_int_equal(truncate(p, 4096), 0);
    assert_int_equal(tracestore_drain(ts, "t", run, 1), -1);
    assert_int_equal(tracestore_drain(ts, "t", run, 2), -1); /* no header in 4 KiB */
    memset(img.mem, 0x5a, img.size);                         /* garbage everywhere */
    sync_ram();
    assert_int_equal(tracestore_drain(ts, "t", run, 3), -1);
    tracestore_stats(ts, "t", &st);
    assert_int_equal(st.drain_errors, 3);
    assert_int_equal(st.events_stored, 10);
    tracestore_close(ts);
}

static volatile int racing;

static void *truncator(void *arg)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/ram", run);
    /* mostly whole (passes open and run), briefly short (some pass is
     * caught by the size check, some inside its reads: SIGBUS) */
    while (racing) {
        usleep(700);
        if (truncate(p, 4096))
            break;
        usleep(100);
        sync_ram(); /* whole again, with the trace header */
    }
    return NULL;
}

/* The RAM file truncated and regrown while passes run: the fstat check or
 * the SIGBUS guard turns each into a counted error; never a crash. */
static void test_truncation_race(void **state)
{
    struct tracestore_stats st;
    img_build(&img, 4, 4096, UK_TRACE_OVERWRITE);
    for (unsigned r = 0; r < 4; r++)
        write_n(r, 4096);
    sync_ram();
    struct tracestore *ts = tracestore_open(store, 0, 0);
    pthread_t th;
    racing = 1;
    assert_int_equal(pthread_create(&th, NULL, truncator, NULL), 0);
    unsigned ok = 0;
    for (int i = 0; i < 300; i++) {
        ok += tracestore_drain(ts, "race", run, i) == 0;
        usleep(200);
    }
    racing = 0;
    pthread_join(th, NULL);
    tracestore_stats(ts, "race", &st);
    assert_int_equal(st.drains, 300);
    assert_int_equal(st.drain_errors + ok, 300);
    assert_true(st.drain_errors > 0 && ok > 0);
    tracestore_close(ts);
}

/* Damaged segments: refused by the parser, skipped by export. */
static void test_damaged_segment(void **state)
{
    img_build(&img, 1, 256, UK_TRACE_OVERWRITE);
    write_n(0, 10);
    sync_ram();
    struct tracestore *ts = tracestore_open(store, 0, 0);
    assert_int_equal(tracestore_drain(ts, "d", run, 0), 0);
    tracestore_close(ts);
    char p[256];
    snprintf(p, sizeof(p), "%s/d/seg-%016u.uts", store, 0);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    static uint8_t buf[1 << 16];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    struct tseg s;
    char err[200];
    assert_int_equal(tseg_parse(buf, len, &s, err, sizeof(err)), 0);
    assert_int_equal(s.nrecs, 10 + 1);            /* + the time anchor */
    const char *seed = getenv("TRACESTORE_SEED"); /* fuzz corpus seeds */
    if (seed) {
        char sp[512];
        snprintf(sp, sizeof(sp), "%s/segment.uts", seed);
        FILE *sf = fopen(sp, "wb");
        assert_non_null(sf);
        fwrite(buf, 1, len, sf);
        fclose(sf);
    }
    tseg_free(&s);
    assert_int_equal(tseg_parse(buf, 100, &s, err, sizeof(err)), -1);
    assert_int_equal(tseg_parse(buf, ((struct tseg_hdr *)buf)->hdr_size - 1, &s, err, sizeof(err)),
                     -1);
    struct tseg_hdr *h = (struct tseg_hdr *)buf;
    h->nrings = 1000;
    assert_int_equal(tseg_parse(buf, len, &s, err, sizeof(err)), -1);
    h->nrings = 1;
    h->hdr_size += 8;
    assert_int_equal(tseg_parse(buf, len, &s, err, sizeof(err)), -1);
    h->hdr_size -= 8;
    /* a record with a tracepoint id out of range is skipped */
    struct tseg_rec *r = (struct tseg_rec *)(buf + h->hdr_size);
    while (r->type != TSEG_EVENT)
        r++;
    r->id = 60000;
    f = fopen(p, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    ts = tracestore_open(store, 0, 0);
    assert_int_equal(tracestore_drain(ts, "d", run, 0), 0);
    snprintf(p, sizeof(p), "%s/d.json", root);
    assert_int_equal(tracestore_export(ts, "d", 0, "json", p), 0);
    assert_int_equal(json_events(p), 9);
    tracestore_close(ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_once_and_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_limit_drops_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_age_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fleet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_race, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
