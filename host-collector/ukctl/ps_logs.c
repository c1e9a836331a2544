/*
 * `ukctl ps` and `ukctl logs`: the fleet from the collector (ukcollectd's
 * API at $UKCOLLECTD_ADDR, default 127.0.0.1:9560) when one answers, else
 * straight from the run dirs (instance.json, the RAM file's klog ring).
 * See docs/collector.md.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/klog_ring.h"
#include "instance.h"
#include "lib/cdclient.h"
#include "lib/inst_meta.h"
#include "lib/ramview.h"
#include "run.h"
#include "util.h"

int ps_main(int argc, char **argv);
int logs_main(int argc, char **argv);

static const char ps_usage[] =
    "Usage: ukctl ps [--json] [--root DIR]\n"
    "List the fleet: from the collector (ukcollectd at $UKCOLLECTD_ADDR, default\n"
    "127.0.0.1:9560) when it answers, else from the run dirs under DIR (default: the\n"
    "parent `ukctl run` uses).\n";

static const char logs_usage[] =
    "Usage: ukctl logs [-f] [--since SEQ] [--json] [--source klog|console|all] NAME|RUN_DIR\n"
    "Print an instance's log: from the collector's store when ukcollectd answers\n"
    "(NAME), else from the run dir's RAM (klog ring; -f polls every second), or its\n"
    "console.log with --source console or when RAM holds no valid ring.\n";

static void print_row(json_t *i)
{
    char ports[128] = "";
    size_t k;
    json_t *p;
    const char *build = json_string_value(json_object_get(i, "build_id")) ?: "";

    json_array_foreach(json_object_get(i, "ports"), k, p) {
        size_t n = strlen(ports);
        snprintf(ports + n, sizeof(ports) - n, "%s%lld->%lld", n ? "," : "",
                 (long long)json_integer_value(json_object_get(p, "host")),
                 (long long)json_integer_value(json_object_get(p, "guest")));
    }
    printf("%-20s %-10s %-5s %3lld %6lld %8lld %8lld  %-12.12s %s\n",
           json_string_value(json_object_get(i, "name")) ?: "?",
           json_string_value(json_object_get(i, "state")) ?: "?",
           json_string_value(json_object_get(i, "accel")) ?: "",
           (long long)json_integer_value(json_object_get(i, "smp")),
           (long long)json_integer_value(json_object_get(i, "mem_mib")),
           (long long)json_integer_value(json_object_get(i, "uptime_s")),
           (long long)json_integer_value(json_object_get(i, "restarts")), build, ports);
}

/* The instances of the run dirs under parent, in the API's shape. */
static json_t *from_run_dirs(const char *parent)
{
    json_t *a = json_array();
    DIR *d = opendir(parent);
    struct dirent *e;

    while (d && (e = readdir(d))) {
        char dir[8192], err[512], why[256];
        struct instance_summary s;
        struct inst_meta m;
        if (e->d_name[0] == '.')
            continue;
        snprintf(dir, sizeof(dir), "%s/%s", parent, e->d_name);
        if (instance_read(dir, &s, err, sizeof(err)) < 0 ||
            inst_meta_read(dir, &m, err, sizeof(err)) < 0)
            continue;
        bool alive = instance_is_ours(&s, why, sizeof(why));
        json_t *ports = json_array();
        for (unsigned i = 0; i < m.nports; i++)
            json_array_append_new(ports, json_pack("{s:i,s:i}", "host", m.ports[i].host,
                                                   "guest", m.ports[i].guest));
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:s,s:o,s:s}", "name",
                                           m.name, "state", alive ? "running" : "exited",
                                           "accel", m.accel, "smp", m.smp, "mem_mib", m.mem_mib,
                                           "uptime_s", 0, "restarts", 0, "build_id", "",
                                           "ports", ports, "run_dir", dir));
    }
    if (d)
        closedir(d);
    return a;
}

int ps_main(int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
                                       {"root", required_argument, NULL, 'r'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    bool json = false;
    const char *root = NULL;
    char parent[4096], *body = NULL;
    int c, status;
    size_t len;
    json_t *list = NULL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "jh", lo, NULL)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'r')
            root = optarg;
        else if (c == 'h') {
            fputs(ps_usage, stdout);
            return 0;
        } else {
            fputs(ps_usage, stderr);
            return UKCTL_EXIT_USAGE;
        }
    }
    if (!root && cdc_request(cdc_addr(), "GET", "/api/v1/instances", NULL, NULL, 3000, &status,
                             &body, &len) == 0 && status == 200) {
        json_t *o = json_loadb(body, len, 0, NULL);
        list = json_incref(json_object_get(o, "instances"));
        json_decref(o);
    }
    free(body);
    if (!json_is_array(list)) {
        json_decref(list);
        if (root)
            snprintf(parent, sizeof(parent), "%s", root);
        else if (util_default_parent(parent, sizeof(parent)) < 0) {
            ukctl_err("Failed to find the run dirs: give --root");
            return 1;
        }
        list = from_run_dirs(parent);
    }
    if (json) {
        json_dumpf(list, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        size_t i;
        json_t *x;
        printf("%-20s %-10s %-5s %3s %6s %8s %8s  %-12s %s\n", "NAME", "STATE", "ACCEL", "CPU",
               "MEM", "UPTIME", "RESTARTS", "BUILD", "PORTS");
        json_array_foreach(list, i, x)
            print_row(x);
    }
    json_decref(list);
    return 0;
}

struct logs_opts {
    bool follow, json;
    unsigned long long since;
    const char *source, *target;
};

static void print_rec(const struct logs_opts *o, json_t *r)
{
    static const char *const sev[8] = {"emerg", "alert", "crit", "err",
                                       "warn",  "notice", "info", "debug"};
    if (o->json) {
        json_dumpf(r, stdout, JSON_COMPACT);
        putchar('\n');
    } else if (json_object_get(r, "lost")) {
        printf("-- %lld records lost (overwritten in the ring before they were read) from seq "
               "%lld --\n", (long long)json_integer_value(json_object_get(r, "lost")),
               (long long)json_integer_value(json_object_get(r, "from_seq")));
    } else {
        json_int_t s = json_integer_value(json_object_get(r, "severity"));
        const char *th = json_string_value(json_object_get(r, "thread"));
        printf("[%6lld] %-6s %s%s%s\n", (long long)json_integer_value(json_object_get(r, "seq")),
               sev[s & 7], th && *th ? th : "", th && *th ? ": " : "",
               json_string_value(json_object_get(r, "text")) ?: "");
    }
    fflush(stdout);
}

static int on_sse(void *arg, const char *data)
{
    json_t *r = json_loads(data, 0, NULL);
    if (r)
        print_rec(arg, r);
    json_decref(r);
    return 0;
}

static int from_collector(const struct logs_opts *o)
{
    char path[512], *body = NULL;
    int status;
    size_t len;

    if (o->follow) {
        snprintf(path, sizeof(path), "/api/v1/instances/%s/logs?follow=1&since=%llu&source=%s",
                 o->target, o->since, o->source);
        return cdc_sse(cdc_addr(), path, on_sse, (void *)o);
    }
    snprintf(path, sizeof(path), "/api/v1/instances/%s/logs?since=%llu&source=%s&limit=100000",
             o->target, o->since, o->source);
    if (cdc_request(cdc_addr(), "GET", path, NULL, NULL, 10000, &status, &body, &len) < 0)
        return -1;
    if (status != 200) {
        ukctl_err("Failed to get the logs of %s: collector says %d: %s", o->target, status, body);
        free(body);
        return 1;
    }
    json_t *r = json_loadb(body, len, 0, NULL), *x;
    size_t i;
    json_array_foreach(json_object_get(r, "records"), i, x)
        print_rec(o, x);
    json_decref(r);
    free(body);
    return 0;
}

static int on_klog(void *arg, const struct klog_record *k)
{
    json_t *r = json_pack("{s:s,s:I,s:I,s:i,s:i,s:i,s:s,s:s}", "source", "klog", "seq",
                          (json_int_t)k->seq, "guest_ns", (json_int_t)k->time_ns, "severity",
                          k->level & 7, "cpu", k->cpu, "tid", k->tid, "thread", "", "text",
                          k->text);
    print_rec(arg, r);
    json_decref(r);
    return 0;
}

/* No collector, --source console (or no klog ring): RUN/console.log as is. */
static int console_file(const char *dir, bool follow)
{
    char path[4200], buf[65536];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/console.log", dir);
    if (!(f = fopen(path, "re"))) {
        ukctl_err("Failed to open %s: %s", path, strerror(errno));
        return 1;
    }
    for (;;) {
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            fwrite(buf, 1, n, stdout);
        fflush(stdout);
        if (!follow)
            break;
        clearerr(f);
        sleep(1);
    }
    fclose(f);
    return 0;
}

/* No collector: the run dir's klog ring, polled every second with -f. */
static int from_run_dir(const struct logs_opts *o)
{
    char dir[4096], path[4200], err[256];
    struct ramview v;
    struct klog_reader r;
    uint64_t addr;
    volatile uint64_t lost = 0;

    if (strchr(o->target, '/'))
        snprintf(dir, sizeof(dir), "%s", o->target);
    else if (util_default_parent(dir, sizeof(dir)) < 0 ||
             util_path(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%s", o->target) < 0)
        return 1;
    if (!strcmp(o->source, "console"))
        return console_file(dir, o->follow);
    snprintf(path, sizeof(path), "%s/ram", dir);
    if (ramview_init_signals() < 0 || ramview_open(&v, path) < 0) {
        ukctl_err("Failed to open %s: %s (and no collector answers at %s)", path,
                  strerror(errno), cdc_addr());
        return 1;
    }
    struct klog_mem m = {v.base, v.size};
    if (!RAMVIEW_GUARD()) {
        ukctl_err("Failed to read %s: the file shrank under the reader", path);
        return 1;
    }
    if (klog_find(&m, &addr, err, sizeof(err)) < 0 || klog_open(&r, &m, addr, err, sizeof(err)) < 0) {
        ramview_unguard();
        ukctl_err("Failed to read the kernel log in %s: %s; showing console.log", path, err);
        ramview_close(&v);
        return console_file(dir, o->follow);
    }
    r.next = o->since;
    for (;;) {
        while (klog_read(&r, UINT64_MAX, !o->follow, on_klog, (void *)o) > 0)
            ;
        if (r.overwritten != lost) {
            fprintf(stderr, "ukctl: %llu records overwritten in the ring before they were read\n",
                    (unsigned long long)(r.overwritten - lost));
            lost = r.overwritten;
        }
        if (!o->follow)
            break;
        sleep(1);
    }
    ramview_unguard();
    ramview_close(&v);
    return 0;
}

int logs_main(int argc, char **argv)
{
    static const struct option lo[] = {{"follow", no_argument, NULL, 'f'},
                                       {"since", required_argument, NULL, 's'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"source", required_argument, NULL, 'S'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    struct logs_opts o = {.source = "klog"};
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "fs:jh", lo, NULL)) != -1) {
        switch (c) {
        case 'f': o.follow = true; break;
        case 's': o.since = strtoull(optarg, NULL, 10); break;
        case 'j': o.json = true; break;
        case 'S': o.source = optarg; break;
        case 'h': fputs(logs_usage, stdout); return 0;
        default: fputs(logs_usage, stderr); return UKCTL_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fputs(logs_usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    o.target = argv[optind];
    if (!strchr(o.target, '/') && inst_name_ok(o.target)) {
        rc = from_collector(&o);
        if (rc >= 0)
            return rc;
    }
    return from_run_dir(&o);
}
