/*
 * Replay of the boot's log records for `ukctl telemetry` (see
 * telemetry_print.h): the guest drops envelopes while nobody reads its
 * telemetry port, but its kernel log ring still holds the records, so the
 * reader prints them from the shared RAM file when it connects.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog_ring.h"
#include "telemetry_print.h"

static int print_one(void *arg, const struct klog_record *rec)
{
    telem_stream_replay(arg, rec);
    return 0;
}

int telem_replay(const char *ram_path, struct telem_stream *s, char *err, size_t errlen)
{
    struct klog_reader r;
    struct klog_mem m;
    struct stat st;
    uint64_t addr, head, oldest;
    void *map = MAP_FAILED;
    int fd, rc = -1;

    fd = open(ram_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "Failed to open %s: %s", ram_path,
                 fd < 0 ? strerror(errno) : "not a regular file");
        goto cleanup;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        snprintf(err, errlen, "Failed to map %s: %s", ram_path, strerror(errno));
        goto cleanup;
    }
    m.base = map;
    m.size = (uint64_t)st.st_size;
    if (klog_find(&m, &addr, err, errlen) < 0 || klog_open(&r, &m, addr, err, errlen) < 0)
        goto cleanup;
    /* Up to the head as it is now: later records come through the stream. */
    head = klog_head(&r);
    oldest = r.next;
    klog_read(&r, head, false, print_one, s);
    s->replay_until = r.next;
    if (oldest)
        snprintf(err, errlen, "the first %" PRIu64 " log records were overwritten in the ring",
                 oldest);
    else
        err[0] = 0;
    rc = 0;
cleanup:
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    if (fd >= 0)
        close(fd);
    return rc;
}
