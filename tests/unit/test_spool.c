/* Unit tests of the RELP forwarder's on-disk spool (collectd/spool.c): round
 * trips, torn tails and garbage after a crash, the acked offset, segment
 * rotation and deletion, and the size bound. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collectd/spool.h"

static char dir[64];
static char buf[SPOOL_REC_MAX];

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_spool.XXXXXX");
    assert_non_null(mkdtemp(dir));
    strcat(dir, "/s"); /* spool_open creates it */
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(dir) - 2), dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(struct spool *s, int i, size_t len)
{
    memset(buf, 'a' + i % 26, len);
    snprintf(buf, len, "%d", i);
    assert_int_equal(spool_append(s, buf, len, 1), SPOOL_OK);
}

/* Reads every record from off; returns how many, checks they are first..first+n-1. */
static int read_all(struct spool *s, uint64_t off, int first)
{
    size_t len;
    int n = 0;
    while (spool_read(s, &off, buf, sizeof(buf), &len) == SPOOL_OK) {
        buf[len - 1] = 0;
        assert_int_equal(atoi(buf), first + n);
        n++;
    }
    return n;
}

static int nsegs(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".seg") != NULL;
    closedir(d);
    return n;
}

static char *seg0(void)
{
    static char p[128];
    snprintf(p, sizeof(p), "%s/0000000000000000.seg", dir);
    return p;
}

static void test_roundtrip_and_reopen(void **state)
{
    struct spool *s = spool_open(dir, 1 << 20);
    struct spool_info si;
    struct stat st;
    for (int i = 0; i < 10; i++)
        put(s, i, 100);
    assert_int_equal(read_all(s, 0, 0), 10);
    spool_close(s);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(seg0(), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    s = spool_open(dir, 1 << 20);
    spool_info(s, &si);
    assert_int_equal(si.pending_at_open, 10);
    assert_int_equal(si.torn, 0);
    assert_int_equal(si.tail, 10 * 112);
    assert_int_equal(read_all(s, 0, 0), 10);
    spool_close(s);
}

static void test_torn_tail_truncated(void **state)
{
    struct spool *s = spool_open(dir, 1 << 20);
    struct spool_info si;
    for (int i = 0; i < 3; i++)
        put(s, i, 100);
    spool_close(s);
    assert_int_equal(truncate(seg0(), 3 * 112 - 5), 0); /* kill -9 inside a write */
    s = spool_open(dir, 1 << 20);
    spool_info(s, &si);
    assert_int_equal(si.torn, 1);
    assert_int_equal(si.tail, 2 * 112);
    assert_int_equal(read_all(s, 0, 0), 2);
    put(s, 2, 100); /* appends after the cut, not after the garbage */
    assert_int_equal(read_all(s, 0, 0), 3);
    spool_close(s);
}

static void test_garbage_detected_by_crc(void **state)
{
    struct spool *s = spool_open(dir, 1 << 20);
    struct spool_info si;
    int fd;
    for (int i = 0; i < 3; i++)
        put(s, i, 100);
    spool_close(s);
    fd = open(seg0(), O_WRONLY);
    assert_int_equal(pwrite(fd, "X", 1, 112 + 50), 1); /* a payload byte of record 1 */
    close(fd);
    s = spool_open(dir, 1 << 20);
    spool_info(s, &si);
    assert_int_equal(si.torn, 1);
    assert_int_equal(read_all(s, 0, 0), 1);
    spool_close(s);
}

static void test_damage_after_open_skipped(void **state)
{
    struct spool *s = spool_open(dir, 1 << 20);
    struct spool_info si;
    int fd;
    for (int i = 0; i < 3; i++)
        put(s, i, 100);
    fd = open(seg0(), O_WRONLY);
    assert_int_equal(pwrite(fd, "X", 1, 112 + 50), 1);
    close(fd);
    assert_int_equal(read_all(s, 0, 0), 1); /* the rest of the segment is skipped */
    spool_info(s, &si);
    assert_int_equal(si.torn, 1);
    put(s, 3, 100); /* appended after the skipped rest: read normally */
    assert_int_equal(read_all(s, 3 * 112, 3), 1);
    spool_close(s);
}

static void test_acked_rotation_deletion(void **state)
{
    struct spool *s = spool_open(dir, 16384); /* 4 KiB segments */
    struct spool_info si;
    uint64_t off = 0;
    size_t len;
    for (int i = 0; i < 12; i++)
        put(s, i, 988); /* 1000 bytes a record: 4 per segment */
    assert_int_equal(nsegs(), 3);
    for (int i = 0; i < 5; i++)
        assert_int_equal(spool_read(s, &off, buf, sizeof(buf), &len), SPOOL_OK);
    assert_int_equal(spool_set_acked(s, off), 0);
    assert_int_equal(nsegs(), 2); /* the first segment is all acked */
    spool_info(s, &si);
    assert_int_equal(si.disk_bytes, 8000);
    assert_int_equal(spool_set_acked(s, 10), 0); /* backwards: ignored */
    spool_close(s);
    s = spool_open(dir, 16384);
    spool_info(s, &si);
    assert_int_equal(si.acked, off);
    assert_int_equal(si.pending_at_open, 7);
    assert_int_equal(read_all(s, si.acked, 5), 7);
    assert_int_equal(spool_set_acked(s, si.tail), 0);
    spool_info(s, &si);
    assert_int_equal(si.disk_bytes, 0);
    assert_int_equal(nsegs(), 1); /* a fresh, empty one */
    spool_close(s);
}

static void test_full_then_drains(void **state)
{
    struct spool *s = spool_open(dir, 8192);
    struct spool_info si;
    int i, ok = 0;
    memset(buf, 'x', 500);
    for (i = 0; i < 40; i++)
        ok += spool_append(s, buf, 500, 0) == SPOOL_OK;
    assert_int_equal(ok, 8192 / 512);
    assert_int_equal(spool_append(s, buf, 500, 0), SPOOL_FULL);
    assert_int_equal(spool_sync(s), 0);
    spool_info(s, &si);
    assert_true(si.disk_bytes <= 8192);
    assert_int_equal(spool_set_acked(s, si.tail), 0);
    assert_int_equal(spool_append(s, buf, 500, 1), SPOOL_OK);
    assert_int_equal(spool_append(s, buf, SPOOL_REC_MAX + 1, 1), SPOOL_ERR);
    spool_close(s);
}

static void test_damaged_acked_resends_all(void **state)
{
    struct spool *s = spool_open(dir, 1 << 20);
    struct spool_info si;
    char p[128];
    int fd;
    for (int i = 0; i < 4; i++)
        put(s, i, 100);
    assert_int_equal(spool_set_acked(s, 224), 0);
    spool_close(s);
    snprintf(p, sizeof(p), "%s/acked", dir);
    fd = open(p, O_WRONLY);
    assert_int_equal(pwrite(fd, "\x01", 1, 0), 1);
    close(fd);
    s = spool_open(dir, 1 << 20);
    spool_info(s, &si);
    assert_int_equal(si.acked, 0); /* duplicates rather than loss */
    assert_int_equal(si.pending_at_open, 4);
    spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_detected_by_crc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_after_open_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acked_rotation_deletion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_then_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_acked_resends_all, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
