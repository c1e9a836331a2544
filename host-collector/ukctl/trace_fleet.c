/*
 * `ukctl trace --fleet [--last DUR] [--root DIR] [-o OUT]`: one Perfetto
 * trace with a process per instance.  Without a running collector, every
 * run dir under ROOT (a directory with instance.json and ram) is drained
 * once into a temporary trace store (collectd/tracestore.h) and exported
 * from there, so the fleet view is the same code path as the collector's.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collectd/tracestore.h"
#include "run.h"
#include "trace_fleet.h"
#include "util.h"

#define MAX_INSTANCES 256

static const char usage[] =
    "Usage: ukctl trace --fleet [--last DUR] [--root DIR] [-o OUT]\n"
    "One Perfetto trace with a process per instance under ROOT.\n"
    "  --last DUR       the last DUR (e.g. 10s, 2m, 500ms) before the fleet's newest event\n"
    "                   (default: everything in the rings)\n"
    "  --root DIR       the run dirs' parent (default: ukctl's default root)\n"
    "  -o, --output OUT output file (default fleet.perfetto-trace); written atomically\n"
    "  --drain-for DUR  keep draining every 100 ms for DUR before exporting (tests, benchmarks)\n"
    "  --max-bytes N    per-instance store limit while draining (default: none)\n"
    "  --stats          print each instance's store counters (one line each)\n";

/* "10s", "2m", "500ms", "10" (seconds) -> seconds (rounded up), or -1. */
static int64_t parse_dur(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v < 0 || end == s)
        return -1;
    if (!*end || !strcmp(end, "s"))
        return v;
    if (!strcmp(end, "m"))
        return v * 60;
    if (!strcmp(end, "ms"))
        return (v + 999) / 1000;
    return -1;
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Remove the temporary store: DIR/INSTANCE/seg-* files, then the dirs. */
static void remove_store(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        char sub[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
        DIR *s = opendir(sub);
        for (struct dirent *f; s && (f = readdir(s));)
            if (f->d_name[0] != '.')
                unlinkat(dirfd(s), f->d_name, 0);
        if (s)
            closedir(s);
        rmdir(sub);
    }
    closedir(d);
    rmdir(dir);
}

int trace_fleet_main(int argc, char **argv)
{
    static const struct option opts[] = {{"fleet", no_argument, NULL, 'F'},
                                         {"last", required_argument, NULL, 'l'},
                                         {"root", required_argument, NULL, 'r'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"drain-for", required_argument, NULL, 'd'},
                                         {"max-bytes", required_argument, NULL, 'm'},
                                         {"stats", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *root = NULL, *out = "fleet.perfetto-trace";
    int64_t last = 0, drain_for = 0;
    uint64_t max_bytes = 0;
    bool stats = false;
    int c, rc = 1;
    char store_dir[] = "/tmp/ukctl-fleet-XXXXXX", rootbuf[4096];
    struct tracestore *ts = NULL;
    DIR *d = NULL;
    unsigned drained = 0, nnames = 0;
    static char names[MAX_INSTANCES][256];

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'F':
            break;
        case 'l':
            if ((last = parse_dur(optarg)) < 0) {
                ukctl_err("bad duration '%s' (e.g. 10s, 2m, 500ms)", optarg);
                return UKCTL_EXIT_USAGE;
            }
            break;
        case 'd':
            if ((drain_for = parse_dur(optarg)) < 0) {
                ukctl_err("bad duration '%s' (e.g. 10s, 2m, 500ms)", optarg);
                return UKCTL_EXIT_USAGE;
            }
            break;
        case 'm':
            max_bytes = strtoull(optarg, NULL, 0);
            break;
        case 's':
            stats = true;
            break;
        case 'r':
            root = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return UKCTL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    if (!root) {
        if (util_default_parent(rootbuf, sizeof(rootbuf)))
            return 1;
        root = rootbuf;
    }
    if (!mkdtemp(store_dir)) {
        ukctl_err("Failed to create a temporary trace store: %s", strerror(errno));
        return 1;
    }
    ts = tracestore_open(store_dir, max_bytes, 0);
    d = opendir(root);
    if (!ts || !d) {
        ukctl_err("Failed to read the run dirs under %s: %s", root, strerror(errno));
        goto cleanup;
    }
    for (struct dirent *e; (e = readdir(d));) {
        char rd[4096], ij[4200];
        struct stat st;
        if (e->d_name[0] == '.' ||
            snprintf(rd, sizeof(rd), "%s/%s", root, e->d_name) >= (int)sizeof(rd))
            continue;
        snprintf(ij, sizeof(ij), "%s/instance.json", rd);
        if (stat(ij, &st) || nnames == MAX_INSTANCES)
            continue; /* not a run dir */
        snprintf(names[nnames++], sizeof(names[0]), "%s", e->d_name);
    }
    int64_t end = mono_ms() + drain_for * 1000;
    do {
        drained = 0;
        for (unsigned i = 0; i < nnames; i++) {
            char rd[4400];
            if (snprintf(rd, sizeof(rd), "%s/%.255s", root, names[i]) >= (int)sizeof(rd))
                continue;
            if (!tracestore_drain(ts, names[i], rd, mono_ms()))
                drained++;
        }
        if (mono_ms() < end)
            nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    } while (mono_ms() < end);
    for (unsigned i = 0; stats && i < nnames; i++) {
        struct tracestore_stats st;
        tracestore_stats(ts, names[i], &st);
        printf("stats %s events_stored=%llu bytes=%llu dropped_by_limit=%llu lost_in_guest=%llu "
               "segments=%llu drain_errors=%llu drains=%llu drain_cpu_ns=%llu\n",
               names[i], (unsigned long long)st.events_stored, (unsigned long long)st.bytes,
               (unsigned long long)st.dropped_by_limit, (unsigned long long)st.lost_in_guest,
               (unsigned long long)st.segments, (unsigned long long)st.drain_errors,
               (unsigned long long)st.drains, (unsigned long long)st.drain_cpu_ns);
    }
    if (!drained) {
        ukctl_err("Failed to read any instance's trace under %s", root);
        goto cleanup;
    }
    if (tracestore_export_fleet(ts, last, out)) {
        ukctl_err("Failed to write the fleet trace %s", out);
        goto cleanup;
    }
    printf("trace: %u instance(s) -> %s\n", drained, out);
    rc = 0;
cleanup:
    if (d)
        closedir(d);
    tracestore_close(ts);
    remove_store(store_dir);
    return rc;
}
