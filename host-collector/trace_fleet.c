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

static const char usage[] =
    "Usage: ukctl trace --fleet [--last DUR] [--root DIR] [-o OUT]\n"
    "One Perfetto trace with a process per instance under ROOT.\n"
    "  --last DUR       the last DUR (e.g. 10s, 2m, 500ms) before the fleet's newest event\n"
    "                   (default: everything in the rings)\n"
    "  --root DIR       the run dirs' parent (default: ukctl's default root)\n"
    "  -o, --output OUT output file (default fleet.perfetto-trace); written atomically\n";

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
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *root = NULL, *out = "fleet.perfetto-trace";
    int64_t last = 0;
    int c, rc = 1;
    char store_dir[] = "/tmp/ukctl-fleet-XXXXXX", rootbuf[4096];
    struct tracestore *ts = NULL;
    DIR *d = NULL;
    unsigned drained = 0;

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
    ts = tracestore_open(store_dir, 0, 0);
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
        if (stat(ij, &st))
            continue; /* not a run dir */
        if (tracestore_drain(ts, e->d_name, rd, mono_ms()))
            fprintf(stderr, "ukctl: warning: skipped %s (no trace read)\n", e->d_name);
        else
            drained++;
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
