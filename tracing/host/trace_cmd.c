/*
 * `ukctl trace [OPTIONS] RUN_DIR` or `ukctl trace [OPTIONS] --from-core FILE` (usage below)
 *
 * Maps the guest RAM (RUN_DIR's instance.json "ram_file", shared with QEMU,
 * or a saved RAM image) read-only, finds the trace header and drains the
 * rings without ever stopping or signalling the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "trace_cmd.h"
#include "trace_fleet.h"
#include "trace_host.h"
#include "trace_core.h"
#include "trace_out.h"
#include "util.h"

#define FOLLOW_INTERVAL_MS 100

static const char usage[] =
    "Usage: ukctl trace [OPTIONS] RUN_DIR\n"
    "       ukctl trace [OPTIONS] --from-core FILE\n"
    "       ukctl trace --fleet [--last DUR] [--root DIR] [-o OUT]  (see --fleet --help)\n"
    "Read the guest's per-CPU trace rings without stopping it and convert them.\n"
    "  -f, --format FMT      perfetto (default), json (Chrome trace), ctf (a directory)\n"
    "                        or none (drain and count only)\n"
    "  -o, --output OUT      output path (default RUN_DIR/trace.perfetto-trace,\n"
    "                        trace.json or trace.ctf); written atomically\n"
    "  -c, --from-core FILE  read a saved RAM image or an ELF core (QEMU\n"
    "                        dump-guest-memory, paging off) instead of a live RUN_DIR\n"
    "  -F, --follow          keep draining every 100 ms until SIGINT/SIGTERM\n"
    "  -H, --with-host       also record the host's events of this instance's QEMU\n"
    "                        (BPF: root or CAP_BPF+CAP_PERFMON) for --duration and\n"
    "                        write one Perfetto trace on the host's CLOCK_MONOTONIC\n"
    "                        (guest started with trace_sync_ms=N; docs/host-view.md)\n"
    "  -d, --duration S      --with-host: seconds to record (default 2)\n"
    "  -h, --help            show this help\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    interrupted = 1;
}

/* RUN_DIR/instance.json "ram_file" into buf. */
static int ram_path(const char *run_dir, char *buf, size_t len)
{
    char path[4096], err[4096 + 128];
    if (util_path(path, sizeof(path), "%s/instance.json", run_dir))
        return -1;
    json_t *root = util_json_load(path, err, sizeof(err));
    const char *ram = root ? json_string_value(json_object_get(root, "ram_file")) : NULL;
    if (!ram) {
        if (root)
            snprintf(err, sizeof(err), "%s: no \"ram_file\"", path);
        ukctl_err("Failed to read the RAM file path from %s", err);
        json_decref(root);
        return -1;
    }
    snprintf(buf, len, "%s", ram);
    json_decref(root);
    return 0;
}

static const char *default_out(enum tout_format f)
{
    return f == TOUT_JSON   ? "trace.json"
           : f == TOUT_CTF  ? "trace.ctf"
           : f == TOUT_NULL ? "-"
                            : "trace.perfetto-trace";
}

int trace_main(int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"from-core", required_argument, NULL, 'c'},
                                         {"follow", no_argument, NULL, 'F'},
                                         {"with-host", no_argument, NULL, 'H'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    enum tout_format fmt = TOUT_PERFETTO;
    const char *out = NULL, *core = NULL, *run_dir = NULL;
    bool follow = false, with_host = false;
    double duration = 2.0;
    int c, rc = 1, fd = -1;
    void *map = MAP_FAILED;
    size_t map_len = 0;
    struct utr t = {0};
    struct tout o = {0};
    struct utr_evbuf b = {0};
    struct utr_core core_img = {0};
    bool opened = false, begun = false;
    char ram[4096], outbuf[4096];

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--fleet"))
            return trace_fleet_main(argc, argv); /* host-collector/ukctl/trace_fleet.c */
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:c:FHd:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!strcmp(optarg, "json"))
                fmt = TOUT_JSON;
            else if (!strcmp(optarg, "ctf"))
                fmt = TOUT_CTF;
            else if (!strcmp(optarg, "perfetto"))
                fmt = TOUT_PERFETTO;
            else if (!strcmp(optarg, "none"))
                fmt = TOUT_NULL;
            else {
                ukctl_err("unknown trace format '%s' (perfetto, json, ctf, none)", optarg);
                return UKCTL_EXIT_USAGE;
            }
            break;
        case 'o':
            out = optarg;
            break;
        case 'c':
            core = optarg;
            break;
        case 'F':
            follow = true;
            break;
        case 'H':
            with_host = true;
            break;
        case 'd': {
            char *end;
            duration = strtod(optarg, &end);
            if (*end || !(duration > 0 && duration <= 3600)) {
                ukctl_err("bad --duration '%s' (seconds, 0 < S <= 3600)", optarg);
                return UKCTL_EXIT_USAGE;
            }
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return UKCTL_EXIT_USAGE;
        }
    }
    if (optind < argc)
        run_dir = argv[optind++];
    if (optind < argc || (!run_dir && !core) || (core && follow) ||
        (with_host && (core || follow || fmt != TOUT_PERFETTO))) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    if (core)
        snprintf(ram, sizeof(ram), "%s", core);
    else if (ram_path(run_dir, ram, sizeof(ram)))
        goto cleanup;
    if (!out) {
        if (run_dir)
            snprintf(outbuf, sizeof(outbuf), "%s/%s", run_dir, default_out(fmt));
        else
            snprintf(outbuf, sizeof(outbuf), "%s", default_out(fmt));
        out = outbuf;
    }

    struct stat st;
    fd = open(ram, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st)) {
        ukctl_err("Failed to open guest memory %s: %s", ram, strerror(errno));
        goto cleanup;
    }
    if (st.st_size <= 0) {
        ukctl_err("Failed to map guest memory %s: empty file", ram);
        goto cleanup;
    }
    map_len = (size_t)st.st_size;
    map = mmap(NULL, map_len, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        ukctl_err("Failed to map guest memory %s: %s", ram, strerror(errno));
        goto cleanup;
    }
    char err[256];
    struct utr_mem m = {map, map_len};
    if (core && utr_core_is_elf(m.base, m.size)) {
        if (utr_core_open(&core_img, m.base, m.size, fd, UTR_CORE_MAX_SPAN, &m, err, sizeof(err))) {
            ukctl_err("Failed to read core file %s: %s", core, err);
            goto cleanup;
        }
        munmap(map, map_len); /* the image holds its own mappings of the file */
        map = MAP_FAILED;
    }
    uint64_t addr;
    if (utr_find(&m, &addr, err, sizeof(err))) {
        ukctl_err("Failed to find the trace header: %s", err);
        goto cleanup;
    }
    opened = true;
    if (utr_open(&t, &m, addr)) {
        ukctl_err("Failed to read the trace header: %s", t.err);
        goto cleanup;
    }
    if (t.dup_rings)
        fprintf(stderr,
                "ukctl: warning: ignored %u ring(s) claiming the CPU and kind of an earlier "
                "ring\n",
                t.dup_rings);
    if (t.overlap_rings)
        fprintf(stderr,
                "ukctl: warning: ignored %u ring(s) whose slots overlap an earlier ring's\n",
                t.overlap_rings);
    /* Always: a signal ends the capture cleanly.  --follow: the drain loop
     * stops and the output is committed; otherwise the conversion stops
     * between two events and the temporary output is removed. */
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (with_host) { /* host-collector/ukctl/trace_host.c */
        rc = trace_with_host(run_dir, &t, duration, out, &interrupted);
        goto cleanup;
    }
    if (tout_begin(&o, fmt, out, &t)) {
        ukctl_err("Failed to start %s: %s", out, o.err);
        goto cleanup;
    }
    begun = true;

    if (!follow)
        o.stop = &interrupted;
    do {
        b.n = 0;
        /* none: nothing to convert, so no copy into the pass buffer */
        if (utr_drain(&t, core != NULL, fmt == TOUT_NULL ? NULL : utr_evbuf_add, &b) < 0) {
            ukctl_err("Failed to drain the trace rings: %s", t.err);
            goto cleanup;
        }
        if (tout_pass(&o, b.ev, b.n)) {
            ukctl_err("Failed to write %s: %s", out, o.err);
            goto cleanup;
        }
        if (follow && !interrupted)
            nanosleep(&(struct timespec){0, FOLLOW_INTERVAL_MS * 1000000L}, NULL);
    } while (follow && !interrupted);
    begun = false;
    if (tout_finish(&o)) {
        ukctl_err("Failed to write %s: %s", out, o.err);
        goto cleanup;
    }
    struct utr_totals tot;
    utr_totals(&t, &tot);
    printf("trace: %llu events from %u CPUs (%u rings), lost %llu (overwritten %llu, torn %llu, "
           "discarded %llu) -> %s\n",
           (unsigned long long)tot.read, t.hdr.ncpus, t.nrings,
           (unsigned long long)(tot.overwritten + tot.torn + tot.discarded),
           (unsigned long long)tot.overwritten, (unsigned long long)tot.torn,
           (unsigned long long)tot.discarded, out);
    rc = 0;

cleanup:
    if (begun)
        tout_abort(&o);
    if (opened)
        utr_close(&t);
    utr_core_close(&core_img);
    free(b.ev);
    if (map != MAP_FAILED)
        munmap(map, map_len);
    if (fd >= 0)
        close(fd);
    return rc;
}
