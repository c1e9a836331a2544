/*
 * Unit tests: the trace writers (JSON, CTF, Perfetto) on images built with
 * the real ring writer (trace_image.h):
 *  - the Perfetto encoder survives a failed buffer growth (malloc wrapped);
 *  - full thread names from the thread table in every format, checked with
 *    protoc --decode for Perfetto;
 *  - guest strings that are not UTF-8 give valid output in every format;
 *  - output is atomic: an aborted run leaves the previous file untouched
 *    and no temporary behind.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_image.h"
#include "trace_out.h"

/* Linked with -Wl,--wrap=malloc: the code under test calls this. */
static int malloc_fail;
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    return malloc_fail ? NULL : __real_malloc(n);
}

static struct trace_image img;
static struct utr t;

/* One ring on CPU 0: a thread with a long name is created and runs;
 * table: the image has the guest's thread table too. */
static void build_img(const char *tname, bool table)
{
    img_build(&img, 1, 64, UK_TRACE_OVERWRITE);
    if (table) {
        struct uk_thread_table *tt = img_add_threads(&img);
        tt->threads[0] = (struct uk_thread){.state = UK_THREAD_RUNNING, .tid = 5};
        snprintf(tt->threads[0].name, UK_THREAD_NAME, "%s", tname);
    }
    img_write(&img, 0, UK_TP_THREAD_CREATE, 5, uk_tp_str8(tname));
    img_write(&img, 0, UK_TP_SCHED_SWITCH, 1, 5);
    img_write(&img, 0, UK_TP_SPAN_BEGIN, uk_tp_str8("crunch"), 1);
    struct utr_mem m = {img.mem, img.size};
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
}

static void build(const char *tname)
{
    build_img(tname, true);
}

struct evs {
    struct utr_event ev[64];
    size_t n;
};

static int collect(void *arg, const struct utr_event *ev)
{
    struct evs *e = arg;
    if (e->n < 64)
        e->ev[e->n++] = *ev;
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

/* Write the whole image in format f to path; 0 or -1. */
static int convert(enum tout_format f, const char *path)
{
    struct tout o;
    struct evs e = {.n = 0};
    struct utr_mem m = {img.mem, img.size};
    utr_close(&t); /* from the start again */
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    assert_true(utr_drain(&t, true, collect, &e) >= 0);
    if (tout_begin(&o, f, path, &t) || tout_pass(&o, e.ev, e.n)) {
        tout_abort(&o);
        return -1;
    }
    return tout_finish(&o);
}

static char *pf_decode(const char *path)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "protoc --proto_path=%s/tracing/host --decode=ukscope.perfetto.Trace "
             "perfetto_trace.proto < %s > %s.txt",
             UKSCOPE_ROOT, path, path);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s.txt", path);
    size_t len;
    return slurp(cmd, &len);
}

/* Growth of the Perfetto buffer fails once: the next packet must still
 * work (the capacity used to be raised before malloc was checked). */
static void test_pf_grow_failure(void **state)
{
    /* The thread appears in the table only after the output began, so its
     * track descriptor (two 31-character names) is the largest packet yet. */
    build("kv-worker-with-a-very-long-name");
    struct uk_thread_table *tt = (void *)(img.mem + img.hdr->threads_addr);
    struct uk_thread saved = tt->threads[0];
    tt->threads[0] = (struct uk_thread){.state = UK_THREAD_FREE};
    struct utr_mem m = {img.mem, img.size};
    utr_close(&t);
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    struct tout o;
    assert_int_equal(tout_begin(&o, TOUT_PERFETTO, "g.pftrace", &t), 0);
    tt->threads[0] = saved;
    struct evs e = {.n = 0};
    assert_true(utr_drain(&t, true, collect, &e) >= 0);
    assert_int_equal(e.ev[0].id, UK_TP_THREAD_CREATE);
    malloc_fail = 1;
    int rc = tout_pass(&o, e.ev, 1);
    malloc_fail = 0;
    assert_int_equal(rc, -1);
    assert_int_equal(tout_pass(&o, e.ev + 1, e.n - 1), 0);
    assert_int_equal(tout_finish(&o), 0);
    char *text = pf_decode("g.pftrace");
    assert_non_null(strstr(text, "TYPE_SLICE_BEGIN"));
    free(text);
    utr_close(&t);
    free(img.mem);
}

/* The thread table's full name, not the record's 8 characters. */
static void test_full_thread_names(void **state)
{
    build("kv-worker-long");
    size_t len;
    assert_int_equal(convert(TOUT_JSON, "n.json"), 0);
    char *s = slurp("n.json", &len);
    assert_non_null(strstr(s, "\"kv-worker-long (5)\""));
    assert_null(strstr(s, "\"kv-worke (5)\""));
    free(s);
    assert_int_equal(convert(TOUT_PERFETTO, "n.pftrace"), 0);
    s = pf_decode("n.pftrace");
    assert_non_null(strstr(s, "thread_name: \"kv-worker-long 5\""));
    assert_non_null(strstr(s, "string_value: \"kv-worker-long\""));
    free(s);
    assert_int_equal(convert(TOUT_CTF, "n.ctf"), 0);
    s = slurp("n.ctf/stream_cpu0_main", &len);
    assert_non_null(memmem(s, len, "kv-worker-long", 15));
    free(s);
    utr_close(&t);
    free(img.mem);
}

static bool valid_utf8_file(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "iconv -f UTF-8 -t UTF-8 %s > /dev/null 2>&1", path);
    return system(cmd) == 0;
}

/* Names that are not UTF-8 (thread table, tracepoint metadata, STR8). */
static void test_invalid_utf8(void **state)
{
    build("bad\xff\xfe-name");
    memcpy(((struct uk_trace_tp_meta *)(img.mem + IMG_TPS))[UK_TP_SCHED_SWITCH].name, "sw\xc3\x28",
           5);
    utr_close(&t);
    struct utr_mem m = {img.mem, img.size};
    assert_int_equal(utr_open(&t, &m, IMG_HDR), 0);
    assert_int_equal(convert(TOUT_JSON, "u.json"), 0);
    assert_true(valid_utf8_file("u.json"));
    size_t len;
    char *s = slurp("u.json", &len);
    assert_non_null(strstr(s, "bad?"
                              "?-name"));
    assert_non_null(strstr(s, "\"sw?(\""));
    assert_non_null(strstr(s, "\"displayTimeUnit\""));
    free(s);
    assert_int_equal(convert(TOUT_PERFETTO, "u.pftrace"), 0);
    s = pf_decode("u.pftrace");
    assert_non_null(strstr(s, "bad?"
                              "?-name"));
    free(s);
    assert_int_equal(convert(TOUT_CTF, "u.ctf"), 0);
    assert_true(valid_utf8_file("u.ctf/metadata"));
    utr_close(&t);
    free(img.mem);
}

static bool no_temporaries(void)
{
    DIR *d = opendir(".");
    bool ok = true;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp-"))
            ok = false;
    closedir(d);
    return ok;
}

/* A run that fails after writing leaves the old output as it was. */
static void test_atomic_output(void **state)
{
    build("w");
    struct evs e = {.n = 0};
    assert_true(utr_drain(&t, true, collect, &e) >= 0);
    FILE *f = fopen("a.json", "w");
    fputs("previous", f);
    fclose(f);
    for (int fmt = TOUT_PERFETTO; fmt <= TOUT_CTF; fmt++) {
        const char *path = fmt == TOUT_CTF ? "a.ctf" : "a.json";
        struct tout o;
        assert_int_equal(tout_begin(&o, fmt, path, &t), 0);
        assert_int_equal(tout_pass(&o, e.ev, e.n), 0);
        tout_abort(&o);
        assert_true(no_temporaries());
    }
    size_t len;
    char *s = slurp("a.json", &len);
    assert_string_equal(s, "previous");
    free(s);
    struct stat st;
    assert_int_equal(stat("a.ctf", &st), -1);
    /* A CTF trace replaces an older one; any other directory is refused. */
    assert_int_equal(convert(TOUT_CTF, "a.ctf"), 0);
    utr_close(&t);
    free(img.mem);
    build("w");
    assert_int_equal(convert(TOUT_CTF, "a.ctf"), 0);
    assert_int_equal(stat("a.ctf/metadata", &st), 0);
    mkdir("home", 0755);
    fclose(fopen("home/precious", "w"));
    utr_close(&t);
    free(img.mem);
    build("w");
    assert_int_equal(convert(TOUT_CTF, "home"), -1);
    assert_int_equal(stat("home/precious", &st), 0);
    assert_true(no_temporaries());
    utr_close(&t);
    free(img.mem);
}

int main(void)
{
    /* The cases write files by relative name: do it in a fresh directory,
     * never in the caller's (the runner's is the source tree). */
    char dir[] = "/tmp/ukscope-test_trace_out.XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        perror("Failed to make a scratch directory");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pf_grow_failure),
        cmocka_unit_test(test_full_thread_names),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_atomic_output),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[sizeof(dir) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: %s left behind\n", dir);
    return rc;
}
