/*
 * `ukctl metrics [--openmetrics] RUN_DIR`: print the guest's metrics from the
 * shared metrics page in RUN_DIR/ram (see guest-agent/common/metrics_page.h),
 * without the guest's network stack.
 *
 * The RAM file is hostile input: each candidate page (4 KiB-aligned, starting
 * with UKM_MAGIC) is copied, then validated; the copy is retried while the
 * guest's sequence lock says a write was in progress.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/metrics_page.h"
#include "run.h"
#include "util.h"

int metrics_main(int argc, char **argv);

enum { SEQ_RETRIES = 100, SCAN_STEP = 4096 };

static uint64_t load_seq(const unsigned char *p)
{
    uint64_t s;
    memcpy(&s, p + offsetof(struct ukm_header, seq), sizeof(s));
    return s;
}

/* Copy a consistent snapshot of the page at map+off into buf; -1 if none. */
static int snapshot(const unsigned char *map, size_t size, size_t off, unsigned char *buf,
                    size_t *len, const char **why)
{
    size_t n = size - off < UKM_PAGE_BYTES ? size - off : UKM_PAGE_BYTES;
    for (int i = 0; i < SEQ_RETRIES; i++) {
        uint64_t s1 = __atomic_load_n((const uint64_t *)(const void *)(map + off + offsetof(struct ukm_header, seq)), __ATOMIC_ACQUIRE);
        memcpy(buf, map + off, n);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint64_t s2 = load_seq(map + off);
        if (s1 == s2 && !(s1 & 1) && load_seq(buf) == s1) {
            *len = n;
            return 0;
        }
        usleep(1000);
    }
    *why = "the guest kept writing (sequence lock never stable)";
    return -1;
}

int metrics_main(int argc, char **argv)
{
    bool om = false;
    const char *dir = NULL;
    int fd = -1, rc = 1;
    unsigned char *map = MAP_FAILED, *buf = NULL;
    size_t size = 0;
    char path[4096];
    struct ukm_out out = {0};
    const char *why = "no metrics page found";

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--openmetrics"))
            om = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("Usage: ukctl metrics [--openmetrics] RUN_DIR");
            return 0;
        } else if (argv[i][0] == '-' || dir) {
            ukctl_err("usage: ukctl metrics [--openmetrics] RUN_DIR");
            return UKCTL_EXIT_USAGE;
        } else
            dir = argv[i];
    }
    if (!dir) {
        ukctl_err("usage: ukctl metrics [--openmetrics] RUN_DIR");
        return UKCTL_EXIT_USAGE;
    }
    snprintf(path, sizeof(path), "%s/ram", dir);
    fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        ukctl_err("Failed to open %s: %s", path, strerror(errno));
        goto cleanup;
    }
    size = (size_t)st.st_size;
    if (size < sizeof(struct ukm_header)) {
        ukctl_err("Failed to read metrics: %s is too small", path);
        goto cleanup;
    }
    map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    buf = malloc(UKM_PAGE_BYTES);
    out.cap = 4 << 20;
    out.p = malloc(out.cap);
    if (map == MAP_FAILED || !buf || !out.p) {
        ukctl_err("Failed to map %s: %s", path, strerror(errno));
        goto cleanup;
    }
    for (size_t off = 0; off + sizeof(struct ukm_header) <= size; off += SCAN_STEP) {
        if (memcmp(map + off, UKM_MAGIC, UKM_MAGIC_LEN) != 0)
            continue;
        size_t len;
        unsigned count;
        const char *w;
        if (snapshot(map, size, off, buf, &len, &w) < 0 || ukm_validate(buf, len, &count, &w) < 0) {
            why = w;
            continue;
        }
        unsigned bad = ukm_render((const struct ukm_entry *)(buf + sizeof(struct ukm_header)),
                                  count, om, &out);
        if (out.overflow) {
            ukctl_err("Failed to render metrics: output too large");
            goto cleanup;
        }
        fwrite(out.p, 1, out.len, stdout);
        if (bad)
            ukctl_err("Failed to decode %u metrics entries: invalid, skipped", bad);
        rc = bad ? 1 : 0;
        goto cleanup;
    }
    ukctl_err("Failed to read metrics from %s: %s", path, why);
cleanup:
    if (map != MAP_FAILED)
        munmap(map, size);
    if (fd >= 0)
        close(fd);
    free(buf);
    free(out.p);
    return rc;
}
