/*
 * `ukctl top`: a live table of the instances under a run-dir parent, one
 * row each, refreshed in place; `--once --json` for scripts.
 *
 * Where each column comes from (docs/host-view.md):
 *   CPU%, STEAL%  /proc/PID/task/TID/schedstat (the kernel's own run time and
 *                 run-queue wait per thread; always available, no privilege)
 *   EXITS/s       the hostview BPF programs, loaded by top itself when it
 *                 may (root or CAP_BPF+CAP_PERFMON) and the guest runs
 *                 under KVM; otherwise "-" (JSON null) and the reason
 *   LOG/s, HEAP, REQ/s  the guest's klog ring head and shared metrics page,
 *                 read from the RAM file (no guest network needed)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpf/hvuser.h"
#include "run.h"
#include "top.h"
#include "util.h"

static const char top_usage[] =
    "Usage: ukctl top [--root DIR] [--interval SECONDS] [--once] [--json] [--no-bpf]\n"
    "  A live table of the instances under DIR (default: the default run-dir parent):\n"
    "  CPU% (100 = one host CPU), STEAL% (vCPU run-queue wait per vCPU), kvm exits/s,\n"
    "  log records/s, guest heap in use, HTTP requests/s.  Ctrl-C quits.\n"
    "  --once       print one sample (two reads INTERVAL apart) and exit\n"
    "  --json       machine-readable output (with --once: one object)\n"
    "  --no-bpf     do not load the BPF programs (exits/s then shows '-')\n";

static volatile sig_atomic_t stop;
static void on_sig(int s) { stop = 1; }

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The instances of the parent dir that are running now (a new scan each
 * refresh, so instances that come and go show up). */
static size_t scan(const char *parent, struct top_inst **out, size_t n, struct hv *hv)
{
    DIR *d = opendir(parent);
    struct dirent *e;
    struct top_inst *v = *out;
    size_t m = 0;
    bool *keep = calloc(n + 1, sizeof(bool));

    while (d && keep && (e = readdir(d))) {
        char dir[8192], err[256], why[256];
        struct instance_summary s;
        if (e->d_name[0] == '.')
            continue;
        snprintf(dir, sizeof(dir), "%s/%s", parent, e->d_name);
        if (instance_read(dir, &s, err, sizeof(err)) < 0 || !instance_is_ours(&s, why, sizeof(why)))
            continue;
        size_t i;
        for (i = 0; i < n && !(v[i].pid == s.pid && !strcmp(v[i].run_dir, dir)); i++)
            ;
        if (i < n) {
            keep[i] = true;
            continue;
        }
        struct top_inst *nv = realloc(v, (n + m + 1) * sizeof(*v));
        if (!nv)
            break;
        v = nv;
        bool *nk = realloc(keep, (n + m + 2) * sizeof(bool));
        if (!nk)
            break;
        keep = nk;
        struct top_inst *t = &v[n + m];
        memset(t, 0, sizeof(*t));
        keep[n + m] = true;
        snprintf(t->name, sizeof(t->name), "%s", s.name);
        snprintf(t->run_dir, sizeof(t->run_dir), "%s", dir);
        snprintf(t->accel, sizeof(t->accel), "%s", s.accel);
        t->pid = s.pid;
        t->ram.fd = -1;
        if (hv)
            hv_track(hv, t->pid, (unsigned)(n + m));
        m++;
    }
    if (d)
        closedir(d);
    n += m;
    /* drop the ones that went away */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep && keep[i]) {
            v[w++] = v[i];
            continue;
        }
        if (hv)
            hv_untrack(hv, v[i].pid);
        top_inst_close(&v[i]);
    }
    free(keep);
    *out = v;
    return w;
}

static void print_table(struct top_inst *v, size_t n, bool live, const char *exits_why)
{
    if (live)
        fputs("\033[H\033[2J", stdout);
    printf("%-20s %8s %-5s %3s %7s %7s %7s %7s %9s %8s %10s %8s\n", "NAME", "PID", "ACCEL",
           "CPU", "CPU%", "VCPU%", "IO%", "STEAL%", "EXITS/s", "LOG/s", "HEAP", "REQ/s");
    for (size_t i = 0; i < n; i++) {
        const struct top_row *r = &v[i].row;
        char ex[16], lg[16], hp[16], rq[16];
        if (r->exits_ok)
            snprintf(ex, sizeof(ex), "%.0f", r->exits_per_s);
        else
            snprintf(ex, sizeof(ex), "-");
        snprintf(lg, sizeof(lg), r->log_ok ? "%.1f" : "-", r->log_per_s);
        if (r->heap_ok && r->heap_bytes >= 1048576)
            snprintf(hp, sizeof(hp), "%.1fM", r->heap_bytes / 1048576.0);
        else if (r->heap_ok)
            snprintf(hp, sizeof(hp), "%.1fK", r->heap_bytes / 1024.0);
        else
            snprintf(hp, sizeof(hp), "-");
        snprintf(rq, sizeof(rq), r->req_ok ? "%.1f" : "-", r->req_per_s);
        printf("%-20.20s %8d %-5.5s %3u %7.1f %7.1f %7.1f %7.1f %9s %8s %10s %8s\n", v[i].name,
               (int)v[i].pid, v[i].accel, r->nvcpu, r->cpu_pct, r->vcpu_cpu_pct, r->io_cpu_pct,
               r->steal_pct, ex, lg, hp, rq);
    }
    if (exits_why)
        printf("exits/s: %s\n", exits_why);
    fflush(stdout);
}

int top_main(int argc, char **argv)
{
    static const struct option lo[] = {{"root", required_argument, NULL, 'r'},
                                       {"interval", required_argument, NULL, 'i'},
                                       {"once", no_argument, NULL, '1'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"no-bpf", no_argument, NULL, 'B'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    char parent[4096] = "", err[256] = "", *end;
    bool once = false, json = false, bpf = true;
    double interval = 1.0;
    struct top_inst *v = NULL;
    struct hv *hv = NULL;
    size_t n = 0;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "r:i:1jBh", lo, NULL)) != -1) {
        switch (c) {
        case 'r': snprintf(parent, sizeof(parent), "%s", optarg); break;
        case 'i':
            interval = strtod(optarg, &end);
            if (*end || !(interval >= 0.1 && interval <= 3600)) {
                ukctl_err("Failed to parse --interval %s: want seconds in [0.1, 3600]", optarg);
                return UKCTL_EXIT_USAGE;
            }
            break;
        case '1': once = true; break;
        case 'j': json = true; break;
        case 'B': bpf = false; break;
        case 'h': fputs(top_usage, stdout); return 0;
        default: fputs(top_usage, stderr); return UKCTL_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(top_usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    if (!parent[0] && util_default_parent(parent, sizeof(parent)) < 0) {
        ukctl_err("Failed to find the run dirs: give --root");
        return 1;
    }
    if (ramview_init_signals() < 0) {
        ukctl_err("Failed to set up the RAM reader: %s", strerror(errno));
        return 1;
    }
    if (!bpf)
        snprintf(err, sizeof(err), "BPF not loaded (--no-bpf)");
    else if (hv_open(&hv, 0, err, sizeof(err)) < 0)
        hv = NULL;
    else if (!hv_has_kvm(hv))
        snprintf(err, sizeof(err), "no kvm trace events on this host");
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);

    n = scan(parent, &v, n, hv);
    top_sample_all(v, n, hv, mono_ns());
    while (!stop) {
        struct timespec ts = {(time_t)interval, (long)((interval - (time_t)interval) * 1e9)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop)
            ;
        if (stop)
            break;
        top_sample_all(v, n, hv, mono_ns());
        if (json && once) {
            json_t *o = top_json(v, n, hv ? NULL : err, interval);
            json_dumpf(o, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(o);
        } else if (json) {
            json_t *o = top_json(v, n, hv ? NULL : err, interval);
            json_dumpf(o, stdout, JSON_COMPACT);
            putchar('\n');
            fflush(stdout);
            json_decref(o);
        } else {
            print_table(v, n, !once, hv && hv_has_kvm(hv) ? NULL : err);
        }
        if (once)
            break;
        n = scan(parent, &v, n, hv);
        top_sample_all(v, n, hv, mono_ns()); /* new ones get their first read */
    }
    rc = 0;
    for (size_t i = 0; i < n; i++)
        top_inst_close(&v[i]);
    free(v);
    hv_close(hv);
    return rc;
}
