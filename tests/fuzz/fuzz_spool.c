/*
 * Fuzz the spool's recovery: the input becomes a segment file (and its first
 * 16 bytes the `acked` file) in a fresh spool dir, which is then opened,
 * read to the end, appended to and acked.  Contract: never crashes; after open
 * every remaining record reads back with a good CRC; appends still work.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collectd/spool.h"

static char dir[64];

static void put(const char *name, const uint8_t *data, size_t size)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[SPOOL_REC_MAX];
    struct spool_info si;
    struct spool *s;
    uint64_t off = 0;
    size_t len;
    char cmd[96];

    strcpy(dir, "/tmp/fuzz_spool.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    put("0000000000000000.seg", data, size);
    if (size >= 16)
        put("acked", data, 16);
    s = spool_open(dir, 1 << 20);
    if (!s)
        abort();
    spool_info(s, &si);
    if (si.tail > size || si.disk_bytes > size)
        abort();
    while (spool_read(s, &off, buf, sizeof(buf), &len) == SPOOL_OK)
        ;
    if (spool_append(s, "x", 1, 0) != SPOOL_OK)
        abort();
    off = si.tail;
    if (spool_read(s, &off, buf, sizeof(buf), &len) != SPOOL_OK || len != 1 || buf[0] != 'x')
        abort();
    if (spool_set_acked(s, off) != 0)
        abort();
    spool_close(s);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            snprintf(cmd, sizeof(cmd), "%s/%s", dir, e->d_name);
            unlink(cmd);
        }
    }
    if (d)
        closedir(d);
    if (rmdir(dir) != 0)
        abort();
    return 0;
}
