/*
 * ukcollectd's log store (host-collector/collectd/logstore.c): positions
 * survive a restart; records appended after the last pos.json (the daemon
 * died between the two steps) are replayed, not lost nor doubled; a
 * partial last line is cut; a garbage line is skipped; rotation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "logstore.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_logstore.XXXXXX");
    assert_non_null(mkdtemp(dir));
    strcat(dir, "/s");
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    *strrchr(dir, '/') = 0;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void add_klog(struct logstore *s, const char *boot, unsigned seq)
{
    json_t *r = json_pack("{s:s,s:s,s:s,s:i,s:s}", "instance", "x", "boot_id", boot, "source",
                          "klog", "seq", seq, "text", "hello");
    assert_int_equal(logstore_add(s, r), 0);
    json_decref(r);
}

static void append_raw(const char *name, const char *text)
{
    char path[400];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "a");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_reopen_keeps_position(void **state)
{
    struct logstore s;
    (void)state;
    assert_int_equal(logstore_open(&s, dir, 1 << 20), 0);
    for (unsigned i = 0; i < 10; i++)
        add_klog(&s, "b1", i);
    assert_int_equal(logstore_commit(&s), 0);
    logstore_close(&s);
    assert_int_equal(logstore_open(&s, dir, 1 << 20), 0);
    assert_string_equal(s.pos.boot_id, "b1");
    assert_int_equal(s.pos.klog_next, 10);
    assert_int_equal(s.pos.klog_records, 10);
    assert_int_equal(s.recovered, 0);
    struct stat st;
    char path[400];
    snprintf(path, sizeof(path), "%s/pos.json", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    logstore_close(&s);
}

/* The daemon died after the store's fsync, before pos.json moved. */
static void test_replay_after_stale_pos(void **state)
{
    struct logstore s;
    char path[400], old[400], cmd[900];
    (void)state;
    assert_int_equal(logstore_open(&s, dir, 1 << 20), 0);
    for (unsigned i = 0; i < 5; i++)
        add_klog(&s, "b1", i);
    assert_int_equal(logstore_commit(&s), 0);
    snprintf(path, sizeof(path), "%s/pos.json", dir);
    snprintf(old, sizeof(old), "%s/pos.old", dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, old);
    assert_int_equal(system(cmd), 0);
    for (unsigned i = 5; i < 12; i++)
        add_klog(&s, "b1", i);
    json_t *lost = json_pack("{s:s,s:s,s:i,s:i}", "boot_id", "b1", "source", "klog", "lost", 3,
                             "from_seq", 12);
    assert_int_equal(logstore_add(&s, lost), 0);
    json_decref(lost);
    assert_int_equal(logstore_commit(&s), 0);
    logstore_close(&s);
    assert_int_equal(rename(old, path), 0); /* pos.json as it was before the last batch */
    assert_int_equal(logstore_open(&s, dir, 1 << 20), 0);
    assert_int_equal(s.recovered, 8);
    assert_int_equal(s.pos.klog_next, 15);
    assert_int_equal(s.pos.klog_records, 12);
    assert_int_equal(s.pos.klog_lost, 3);
    logstore_close(&s);
}

static void test_partial_and_garbage_lines(void **state)
{
    struct logstore s;
    (void)state;
    assert_int_equal(logstore_open(&s, dir, 1 << 20), 0);
    add_klog(&s, "b1", 0);
    assert_int_equal(logstore_commit(&s), 0);
    uint64_t good = s.size;
    logstore_close(&s);
    append_raw("log.jsonl", "not json at all\n{\"boot_id\":\"b1\",\"source\":\"klog\",\"seq\":1}\n");
    append_raw("log.jsonl", "{\"boot_id\":\"b1\",\"source\":\"klog\",\"se");
    assert_int_equal(logstore_open(&s, dir, 1 << 20), 0);
    assert_int_equal(s.pos.klog_next, 2); /* garbage skipped, seq 1 replayed, tail cut */
    assert_true(s.size > good);
    char path[400];
    struct stat st;
    snprintf(path, sizeof(path), "%s/log.jsonl", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, s.size);
    /* the cut file ends with a newline: the next batch starts a fresh line */
    add_klog(&s, "b1", 2);
    assert_int_equal(logstore_commit(&s), 0);
    logstore_close(&s);
    assert_int_equal(logstore_open(&s, dir, 1 << 20), 0);
    assert_int_equal(s.pos.klog_next, 3);
    logstore_close(&s);
}

static void test_new_boot_resets(void **state)
{
    struct logstore s;
    (void)state;
    assert_int_equal(logstore_open(&s, dir, 1 << 20), 0);
    add_klog(&s, "b1", 0);
    add_klog(&s, "b1", 1);
    add_klog(&s, "b2", 0);
    assert_string_equal(s.pos.boot_id, "b2");
    assert_int_equal(s.pos.klog_next, 1);
    assert_int_equal(s.pos.klog_records, 1);
    assert_int_equal(logstore_commit(&s), 0);
    logstore_close(&s);
}

static void test_rotation(void **state)
{
    struct logstore s;
    char path[400];
    (void)state;
    assert_int_equal(logstore_open(&s, dir, 200), 0);
    for (unsigned i = 0; i < 10; i++)
        add_klog(&s, "b1", i);
    assert_int_equal(logstore_commit(&s), 0);
    assert_int_equal(s.size, 0);
    snprintf(path, sizeof(path), "%s/log.jsonl.1", dir);
    assert_int_equal(access(path, F_OK), 0);
    add_klog(&s, "b1", 10);
    assert_int_equal(logstore_commit(&s), 0);
    logstore_close(&s);
    assert_int_equal(logstore_open(&s, dir, 200), 0);
    assert_int_equal(s.pos.klog_next, 11);
    logstore_close(&s);
}

/* The hot path (logstore_add_klog with a line formatted by hand, as the
 * daemon does): same position as logstore_add, and the lines replay at open
 * (pos.json removed) to the same position; escaping round-trips. */
static void test_add_klog_line(void **state)
{
    struct logstore s;
    char line[4096], *p;
    static const char text[] = "q\"uote b\\ack \x01\x1f\x7f end";
    char path[400];
    (void)state;
    assert_int_equal(logstore_open(&s, dir, 1 << 20), 0);
    add_klog(&s, "b1", 0); /* the boot's first record through the json_t path */
    for (unsigned i = 1; i < 5; i++) {
        p = line + sprintf(line, "{\"instance\":\"x\",\"boot_id\":\"b1\",\"source\":\"klog\","
                                 "\"seq\":%u,\"text\":\"", i);
        p = logstore_json_str(p, text, sizeof(text) - 1);
        p += sprintf(p, "\"}");
        assert_int_equal(logstore_add_klog(&s, line, (size_t)(p - line), i), 0);
    }
    assert_int_equal(s.pos.klog_next, 5);
    assert_int_equal(s.pos.klog_records, 5);
    assert_int_equal(logstore_commit(&s), 0);
    logstore_close(&s);
    snprintf(path, sizeof(path), "%s/pos.json", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(logstore_open(&s, dir, 1 << 20), 0);
    assert_int_equal(s.recovered, 5);
    assert_int_equal(s.pos.klog_next, 5);
    assert_int_equal(s.pos.klog_records, 5);
    logstore_close(&s);
    json_t *r = json_loads(line, 0, NULL);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "text")), text);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reopen_keeps_position, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_after_stale_pos, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_and_garbage_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_boot_resets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_klog_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
