/*
 * `ukctl metrics [OPTIONS] RUN_DIR`: print the guest's metrics from the
 * shared metrics page in RUN_DIR/ram (see guest-agent/common/metrics_page.h),
 * without the guest's network stack, and say how fresh the page is.
 *
 * The RAM file is hostile input: each candidate page (4 KiB-aligned, starting
 * with UKM_MAGIC) is copied, then validated; the copy is retried while the
 * guest's sequence lock says a write was in progress.
 *
 * Freshness: the page records the guest uptime of its last update.  The
 * guest's clock started about when ukctl started QEMU (instance.json
 * `started_at`), so host time minus that is an estimate of the guest's uptime
 * now, and their difference the page's age.  When that estimate says the
 * page is older than --stale-after, the page's update counter is watched for
 * a moment: a guest that is alive updates it (every metrics_interval_ms); one
 * that panicked, hangs or is paused does not, and the values are marked
 * STALE (frozen).
 */
#define _GNU_SOURCE /* strptime, timegm */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/metrics_page.h"
#include "host/metrics_read.h"
#include "run.h"
#include "util.h"

int metrics_main(int argc, char **argv);

enum { SEQ_RETRIES = 100, SCAN_STEP = 4096, PROBE_STEP_US = 50000 };
/* Longest wait for the update counter to move before calling the page stale. */
#define PROBE_MAX_S 3.0

static const char usage[] =
    "Usage: ukctl metrics [OPTIONS] RUN_DIR\n"
    "Print the guest's metrics from its shared metrics page (RUN_DIR/ram), without\n"
    "the network; the page's update time and age go to stderr, with STALE when the\n"
    "guest stopped updating it (panicked, hung or paused).\n"
    "\n"
    "  -o, --openmetrics        OpenMetrics 1.0 text instead of Prometheus 0.0.4\n"
    "  -s, --stale-after SECS   age above which the page is checked for staleness\n"
    "                           (default 5)\n"
    "  -h, --help               this text\n"
    "\n"
    "Exit status: 0 values printed (fresh or stale), 1 no usable page or bad\n"
    "entries, 2 usage.\n";

struct opts {
    bool om, help;
    double stale_after;
    const char *dir;
};

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"openmetrics", no_argument, NULL, 'o'},
        {"stale-after", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char *end;
    int c;

    memset(o, 0, sizeof(*o));
    o->stale_after = 5;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+os:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o->om = true;
            break;
        case 's':
            errno = 0;
            o->stale_after = strtod(optarg, &end);
            if (errno || *end || !(o->stale_after >= 0)) {
                ukctl_err("Failed to parse --stale-after %s: want seconds >= 0; see ukctl "
                          "metrics --help", optarg);
                return -1;
            }
            break;
        case 'h':
            o->help = true;
            return 0;
        default:
            ukctl_err("Failed to parse arguments: %s is unknown or lacks its value; see ukctl "
                      "metrics --help", argv[optind - 1]);
            return -1;
        }
    }
    if (optind + 1 != argc) {
        ukctl_err("Failed to parse arguments: want one RUN_DIR; see ukctl metrics --help");
        return -1;
    }
    o->dir = argv[optind];
    return 0;
}

static uint64_t load_seq(const unsigned char *p)
{
    uint64_t s;
    memcpy(&s, p + offsetof(struct ukm_header, seq), sizeof(s));
    return s;
}

/* See metrics_read.h. */
int metrics_snapshot(const unsigned char *map, size_t size, size_t off, unsigned char *buf,
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

/* Seconds since instance.json's started_at, or -1 when unknown. */
static double since_start(const char *dir, bool *interval_zero)
{
    char path[4096];
    json_t *root, *v;
    struct tm tm = {0};
    double r = -1;

    *interval_zero = false;
    if (util_path(path, sizeof(path), "%s/instance.json", dir) < 0 ||
        !(root = json_load_file(path, 0, NULL)))
        return -1;
    v = json_object_get(root, "started_at");
    if (json_is_string(v) && strptime(json_string_value(v), "%Y-%m-%dT%H:%M:%SZ", &tm))
        r = difftime(time(NULL), timegm(&tm));
    v = json_object_get(root, "cmdline");
    if (json_is_string(v))
        *interval_zero = strstr(json_string_value(v), "metrics_interval_ms=0") != NULL;
    json_decref(root);
    return r;
}

static uint64_t load_updates(const unsigned char *page)
{
    return __atomic_load_n((const uint64_t *)(const void *)(page + offsetof(struct ukm_header,
                                                                             updates)),
                           __ATOMIC_ACQUIRE);
}

/* Report the page's update time and age on stderr; true when stale. */
static bool freshness(const struct opts *o, const unsigned char *live, const struct ukm_header *h)
{
    bool scrapes_only;
    double up = h->updated_ns / 1e9, age = -1, since = since_start(o->dir, &scrapes_only);
    uint64_t n0 = h->updates;

    if (since >= 0)
        age = since - up > 0 ? since - up : 0;
    if (scrapes_only) {
        fprintf(stderr, "ukctl: metrics page updated at guest uptime %.3f s (update %llu); the "
                "guest updates it only when scraped (metrics_interval_ms=0)\n", up,
                (unsigned long long)n0);
        return false;
    }
    if (age >= 0 && age <= o->stale_after) {
        fprintf(stderr, "ukctl: metrics page updated at guest uptime %.3f s (update %llu), "
                "about %.1f s ago\n", up, (unsigned long long)n0, age);
        return false;
    }
    /* Old by the clock estimate (or no estimate): is the guest still updating it? */
    for (double waited = 0; waited < PROBE_MAX_S; waited += PROBE_STEP_US / 1e6) {
        if (load_updates(live) != n0) {
            fprintf(stderr, "ukctl: metrics page updated at guest uptime %.3f s (update %llu); "
                    "the guest is updating it (update %llu now)\n", up, (unsigned long long)n0,
                    (unsigned long long)load_updates(live));
            return false;
        }
        usleep(PROBE_STEP_US);
    }
    if (age >= 0)
        fprintf(stderr, "ukctl: STALE: metrics page last updated at guest uptime %.3f s "
                "(update %llu), about %.1f s ago, and not in %.0f s of watching: the guest "
                "stopped updating it (panicked, paused, hung, or its updater is starved); "
                "the values are frozen\n", up, (unsigned long long)n0, age, PROBE_MAX_S);
    else
        fprintf(stderr, "ukctl: STALE: metrics page last updated at guest uptime %.3f s "
                "(update %llu), and not in %.0f s: the values are frozen\n", up,
                (unsigned long long)n0, PROBE_MAX_S);
    return true;
}

int metrics_main(int argc, char **argv)
{
    struct opts o;
    int fd = -1, rc = 1;
    unsigned char *map = MAP_FAILED, *buf = NULL;
    size_t size = 0;
    char path[4096];
    struct ukm_out out = {0};
    const char *why = "no metrics page found";
    struct stat st;

    if (parse(argc, argv, &o) < 0)
        return UKCTL_EXIT_USAGE;
    if (o.help) {
        fputs(usage, stdout);
        return 0;
    }
    if (util_path(path, sizeof(path), "%s/ram", o.dir) < 0) {
        ukctl_err("Failed to open the RAM file of %s: path too long", o.dir);
        return 1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
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
        struct ukm_header h;
        if (metrics_snapshot(map, size, off, buf, &len, &w) < 0 || ukm_validate(buf, len, &count, &w) < 0) {
            why = w;
            continue;
        }
        unsigned bad = ukm_render((const struct ukm_entry *)(buf + sizeof(struct ukm_header)),
                                  count, o.om, &out);
        if (out.overflow) {
            ukctl_err("Failed to render metrics: output too large");
            goto cleanup;
        }
        fwrite(out.p, 1, out.len, stdout);
        fflush(stdout);
        memcpy(&h, buf, sizeof(h));
        freshness(&o, map + off, &h);
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
