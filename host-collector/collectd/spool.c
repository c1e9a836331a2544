/* The RELP forwarder's on-disk spool; the format and contract are in spool.h. */
#define _GNU_SOURCE
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Until the daemon's cd_log() is merged in. */
#define SPOOL_LOG(fmt, ...) fprintf(stderr, "ukcollectd: spool: " fmt "\n", ##__VA_ARGS__)

enum {
    REC_MAGIC = 0x31524b55, /* "UKR1" */
    ACK_MAGIC = 0x314b4355, /* "UCK1" */
    HDR_SIZE = 12,
    SEG_MIN = 4096,
    SEG_MAX = 4 << 20,
    MAX_SEGS = 4096,
};

struct seg {
    uint64_t start, size;
};

struct spool {
    char dir[4096];
    uint64_t max_bytes, seg_limit, acked, disk_bytes, pending_at_open, torn;
    struct seg *segs;
    size_t nsegs;
    int wfd; /* the last segment, O_APPEND */
    int rfd; /* the segment spool_read last used */
    uint64_t rfd_start;
};

static uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1));
    }
    return ~crc;
}

static uint32_t rec_crc(uint32_t len, const void *payload)
{
    return crc32c(crc32c(0, &len, 4), payload, len);
}

static void seg_path(const struct spool *s, uint64_t start, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%016" PRIx64 ".seg", s->dir, start);
}

static int cmp_seg(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Check one segment record by record; truncate at the first bad one. */
static int seg_check(struct spool *s, struct seg *g)
{
    char path[4200];
    static uint8_t buf[SPOOL_REC_MAX];
    uint32_t h[3];
    uint64_t pos = 0;
    struct stat st;
    int fd, rc = -1;

    seg_path(s, g->start, path, sizeof(path));
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        SPOOL_LOG("Failed to open %s: %s", path, strerror(errno));
        goto cleanup;
    }
    while (pos + HDR_SIZE <= (uint64_t)st.st_size) {
        if (pread(fd, h, HDR_SIZE, pos) != HDR_SIZE || h[0] != REC_MAGIC || h[1] > SPOOL_REC_MAX ||
            pos + HDR_SIZE + h[1] > (uint64_t)st.st_size ||
            pread(fd, buf, h[1], pos + HDR_SIZE) != (ssize_t)h[1] || rec_crc(h[1], buf) != h[2])
            break;
        if (g->start + pos >= s->acked)
            s->pending_at_open++;
        pos += HDR_SIZE + h[1];
    }
    if (pos != (uint64_t)st.st_size) {
        SPOOL_LOG("%s: bad or torn record at byte %" PRIu64 " of %lld, truncated (kill -9 or "
                  "crash while writing)",
                  path, pos, (long long)st.st_size);
        s->torn++;
        if (ftruncate(fd, pos) < 0 || fsync(fd) < 0) {
            SPOOL_LOG("Failed to truncate %s: %s", path, strerror(errno));
            goto cleanup;
        }
    }
    g->size = pos;
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    return rc;
}

static int load_acked(struct spool *s)
{
    char path[4200];
    uint64_t a[2];
    int fd;

    snprintf(path, sizeof(path), "%s/acked", s->dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (read(fd, a, sizeof(a)) == sizeof(a) && (uint32_t)(a[1] >> 32) == ACK_MAGIC &&
        (uint32_t)a[1] == crc32c(0, &a[0], 8))
        s->acked = a[0];
    else
        SPOOL_LOG("%s is damaged; resending everything spooled (duplicates, no loss)", path);
    close(fd);
    return 0;
}

static int open_segs(struct spool *s)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    unsigned long long start;
    char tail[8];

    if (!d)
        return -1;
    s->segs = calloc(MAX_SEGS, sizeof(*s->segs));
    if (!s->segs) {
        closedir(d);
        return -1;
    }
    while ((e = readdir(d)) != NULL && s->nsegs < MAX_SEGS) {
        if (strlen(e->d_name) == 20 && sscanf(e->d_name, "%16llx%5s", &start, tail) == 2 &&
            strcmp(tail, ".seg") == 0)
            s->segs[s->nsegs++] = (struct seg){start, 0};
    }
    closedir(d);
    qsort(s->segs, s->nsegs, sizeof(*s->segs), cmp_seg);
    for (size_t i = 0; i < s->nsegs; i++) {
        if (seg_check(s, &s->segs[i]) < 0)
            return -1;
        s->disk_bytes += s->segs[i].size;
    }
    return 0;
}

/* Start a new last segment at the current tail. */
static int new_seg(struct spool *s)
{
    char path[4200];
    uint64_t start = 0;
    int fd;

    if (s->nsegs)
        start = s->segs[s->nsegs - 1].start + s->segs[s->nsegs - 1].size;
    if (s->nsegs == MAX_SEGS)
        return -1;
    seg_path(s, start, path, sizeof(path));
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        SPOOL_LOG("Failed to create %s: %s", path, strerror(errno));
        return -1;
    }
    if (s->wfd >= 0)
        close(s->wfd);
    s->wfd = fd;
    if (!s->nsegs || s->segs[s->nsegs - 1].start != start)
        s->segs[s->nsegs++] = (struct seg){start, 0};
    return 0;
}

struct spool *spool_open(const char *dir, uint64_t max_bytes)
{
    struct spool *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->wfd = s->rfd = -1;
    s->max_bytes = max_bytes;
    s->seg_limit = max_bytes / 4 < SEG_MIN   ? SEG_MIN
                   : max_bytes / 4 > SEG_MAX ? SEG_MAX
                                             : max_bytes / 4;
    if (strlen(dir) >= sizeof(s->dir) - 32 || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
        SPOOL_LOG("Failed to create the spool dir %s: %s", dir, strerror(errno));
        goto fail;
    }
    strcpy(s->dir, dir);
    if (load_acked(s) < 0 || open_segs(s) < 0) {
        SPOOL_LOG("Failed to open the spool in %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (new_seg(s) < 0)
        goto fail;
    return s;
fail:
    spool_close(s);
    return NULL;
}

int spool_sync(struct spool *s)
{
    if (fdatasync(s->wfd) < 0) {
        SPOOL_LOG("Failed to sync the spool: %s", strerror(errno));
        return -1;
    }
    return 0;
}

enum spool_result spool_append(struct spool *s, const void *data, size_t len, int sync)
{
    static uint8_t buf[HDR_SIZE + SPOOL_REC_MAX];
    struct seg *last = &s->segs[s->nsegs - 1];
    uint32_t h[3] = {REC_MAGIC, (uint32_t)len, 0};
    size_t n = HDR_SIZE + len;
    ssize_t w;

    if (len > SPOOL_REC_MAX)
        return SPOOL_ERR;
    if (s->disk_bytes + n > s->max_bytes)
        return SPOOL_FULL;
    if (last->size && last->size + n > s->seg_limit) {
        if (spool_sync(s) < 0 || new_seg(s) < 0)
            return SPOOL_ERR;
        last = &s->segs[s->nsegs - 1];
    }
    h[2] = rec_crc(h[1], data);
    memcpy(buf, h, HDR_SIZE);
    memcpy(buf + HDR_SIZE, data, len);
    w = write(s->wfd, buf, n);
    if (w != (ssize_t)n || (sync && fdatasync(s->wfd) < 0)) {
        int err = w < 0 ? errno : w != (ssize_t)n ? ENOSPC : errno;
        /* Undo a partial record so the segment stays a clean sequence. */
        if (ftruncate(s->wfd, last->size) < 0)
            SPOOL_LOG("Failed to cut a partial record: %s", strerror(errno));
        if (err == ENOSPC || err == EDQUOT)
            return SPOOL_NOSPACE;
        SPOOL_LOG("Failed to write the spool: %s", strerror(err));
        return SPOOL_ERR;
    }
    last->size += n;
    s->disk_bytes += n;
    return SPOOL_OK;
}

enum spool_result spool_read(struct spool *s, uint64_t *off, void *buf, size_t cap, size_t *len)
{
    char path[4200];
    uint32_t h[3];
    size_t i;

    for (i = 0; i < s->nsegs; i++) {
        struct seg *g = &s->segs[i];
        if (*off < g->start)
            *off = g->start; /* a gap left by a truncated segment */
        if (*off < g->start + g->size)
            break;
    }
    if (i == s->nsegs)
        return SPOOL_END;
    if (s->rfd < 0 || s->rfd_start != s->segs[i].start) {
        if (s->rfd >= 0)
            close(s->rfd);
        seg_path(s, s->segs[i].start, path, sizeof(path));
        s->rfd = open(path, O_RDONLY | O_CLOEXEC);
        s->rfd_start = s->segs[i].start;
        if (s->rfd < 0) {
            SPOOL_LOG("Failed to open %s: %s", path, strerror(errno));
            return SPOOL_ERR;
        }
    }
    uint64_t pos = *off - s->segs[i].start;
    if (pread(s->rfd, h, HDR_SIZE, pos) != HDR_SIZE || h[0] != REC_MAGIC || h[1] > cap ||
        pread(s->rfd, buf, h[1], pos + HDR_SIZE) != (ssize_t)h[1] || rec_crc(h[1], buf) != h[2]) {
        /* Damaged after it was checked (disk error, someone else's write):
         * skip the rest of that segment, counted, rather than stall forever. */
        SPOOL_LOG("Failed to read the spool record at offset %" PRIu64 " (bad record); "
                  "skipping the rest of its segment, %" PRIu64 " bytes, counted in torn",
                  *off, s->segs[i].size - pos);
        s->torn++;
        *off = s->segs[i].start + s->segs[i].size;
        return spool_read(s, off, buf, cap, len);
    }
    *len = h[1];
    *off += HDR_SIZE + h[1];
    return SPOOL_OK;
}

int spool_set_acked(struct spool *s, uint64_t off)
{
    char path[4200], tmp[4200];
    uint64_t a[2];
    size_t drop = 0;
    int fd, rc;

    if (off <= s->acked)
        return 0;
    a[0] = off;
    a[1] = (uint64_t)ACK_MAGIC << 32 | crc32c(0, &a[0], 8);
    snprintf(path, sizeof(path), "%s/acked", s->dir);
    snprintf(tmp, sizeof(tmp), "%s/acked.tmp", s->dir);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    /* No fdatasync: the file survives a kill -9 from the page cache, and after
     * a power loss an old or empty one only means duplicates, never loss. */
    rc = write(fd, a, sizeof(a)) == sizeof(a) ? 0 : -1;
    close(fd);
    if (rc < 0 || rename(tmp, path) < 0)
        goto fail;
    s->acked = off;
    /* All acked: start a fresh segment so the old one can go too. */
    if (off >= s->segs[s->nsegs - 1].start + s->segs[s->nsegs - 1].size &&
        s->segs[s->nsegs - 1].size > 0 && new_seg(s) < 0)
        return -1;
    /* Every segment but the last that ends at or below the acked offset. */
    while (drop + 1 < s->nsegs && s->segs[drop].start + s->segs[drop].size <= off) {
        seg_path(s, s->segs[drop].start, path, sizeof(path));
        if (s->rfd >= 0 && s->rfd_start == s->segs[drop].start) {
            close(s->rfd);
            s->rfd = -1;
        }
        if (unlink(path) < 0)
            SPOOL_LOG("Failed to delete %s: %s", path, strerror(errno));
        s->disk_bytes -= s->segs[drop].size;
        drop++;
    }
    memmove(s->segs, s->segs + drop, (s->nsegs - drop) * sizeof(*s->segs));
    s->nsegs -= drop;
    return 0;
fail:
    SPOOL_LOG("Failed to persist the acked offset in %s: %s", path, strerror(errno));
    return -1;
}

void spool_info(const struct spool *s, struct spool_info *info)
{
    const struct seg *last = &s->segs[s->nsegs - 1];
    info->acked = s->acked;
    info->tail = last->start + last->size;
    info->disk_bytes = s->disk_bytes;
    info->pending_at_open = s->pending_at_open;
    info->torn = s->torn;
}

void spool_close(struct spool *s)
{
    if (!s)
        return;
    if (s->wfd >= 0)
        close(s->wfd);
    if (s->rfd >= 0)
        close(s->rfd);
    free(s->segs);
    free(s);
}
