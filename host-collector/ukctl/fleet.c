/*
 * `ukctl fleet up --count N [--name-prefix P] [--mem M] [--smp S]
 * [--cmdline C] [--restart POLICY] IMAGE` and `ukctl fleet down [--prefix P]`:
 * start / stop-and-remove N instances through the collector's API (POST
 * /api/v1/instances, POST .../NAME/stop?remove=1) with its bearer token.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cdclient.h"
#include "run.h"
#include "util.h"

int fleet_main(int argc, char **argv);

static const char usage[] =
    "Usage: ukctl fleet up --count N [--name-prefix P] [--mem MiB] [--smp N]\n"
    "                      [--cmdline S] [--accel A] [--restart no|on-failure|always] IMAGE\n"
    "       ukctl fleet down [--name-prefix P]\n"
    "Start N instances P-1..P-N (P defaults to the image's basename) under the\n"
    "collector's root, or stop and remove the collector's managed instances (those\n"
    "named P-*, or all).  Needs ukcollectd ($UKCOLLECTD_ADDR) and its token\n"
    "(--token-file, $UKCOLLECTD_TOKEN_FILE, else ~/.local/state/ukcollectd/token).\n"
    "The guests get trace_sync_ms=1000 unless S sets it: the clock sync points that\n"
    "put a crash bundle's guest trace on the host's timeline (docs/host-view.md).\n";

/* S with trace_sync_ms=1000 added unless a word of S sets it; -1 if too long. */
static int with_sync(const char *s, char *out, size_t len)
{
    for (const char *p = strstr(s, "trace_sync_ms="); p; p = strstr(p + 1, "trace_sync_ms="))
        if (p == s || p[-1] == ' ')
            return snprintf(out, len, "%s", s) < (int)len ? 0 : -1;
    return snprintf(out, len, "%s%strace_sync_ms=1000", s, *s ? " " : "") < (int)len ? 0 : -1;
}

static int post(const char *path, const char *token, const char *body, const char *what)
{
    char *reply = NULL;
    size_t len;
    int status;

    if (cdc_request(cdc_addr(), "POST", path, token, body, 30000, &status, &reply, &len) < 0) {
        ukctl_err("Failed to reach the collector at %s (is ukcollectd running?)", cdc_addr());
        return -1;
    }
    if (status / 100 != 2) {
        ukctl_err("Failed to %s: collector says %d: %s", what, status, reply);
        free(reply);
        return -1;
    }
    free(reply);
    return 0;
}

int fleet_main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"count", required_argument, NULL, 'n'},   {"name-prefix", required_argument, NULL, 'p'},
        {"mem", required_argument, NULL, 'm'},     {"smp", required_argument, NULL, 's'},
        {"cmdline", required_argument, NULL, 'c'}, {"accel", required_argument, NULL, 'a'},
        {"restart", required_argument, NULL, 'r'}, {"token-file", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    unsigned count = 0, mem = 128, smp = 1;
    const char *prefix = NULL, *cmdline = "", *accel = "auto", *restart = "no", *tfile = NULL;
    char token[256], tpath[4096], image[PATH_MAX];
    int c, rc = 0;

    if (argc < 2 || (strcmp(argv[1], "up") && strcmp(argv[1], "down"))) {
        fputs(usage, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : UKCTL_EXIT_USAGE;
    }
    bool up = !strcmp(argv[1], "up");
    optind = 2;
    while ((c = getopt_long(argc, argv, "n:p:h", lo, NULL)) != -1) {
        switch (c) {
        case 'n': count = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'p': prefix = optarg; break;
        case 'm': mem = (unsigned)strtoul(optarg, NULL, 10); break;
        case 's': smp = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'c': cmdline = optarg; break;
        case 'a': accel = optarg; break;
        case 'r': restart = optarg; break;
        case 't': tfile = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return UKCTL_EXIT_USAGE;
        }
    }
    if (!tfile)
        tfile = getenv("UKCOLLECTD_TOKEN_FILE");
    if (!tfile && cdc_default_token_path(tpath, sizeof(tpath)) == 0)
        tfile = tpath;
    if (!tfile || cdc_read_token(tfile, token, sizeof(token)) < 0) {
        ukctl_err("Failed to read the collector's token from %s", tfile ? tfile : "(none)");
        return 1;
    }
    if (up) {
        if (!count || count > 1000 || optind + 1 != argc) {
            fputs(usage, stderr);
            return UKCTL_EXIT_USAGE;
        }
        if (!realpath(argv[optind], image)) {
            ukctl_err("Failed to find the image %s", argv[optind]);
            return 1;
        }
        if (!prefix) {
            prefix = strrchr(image, '/') + 1;
        }
        char pfx[64], cl[1024];
        if (with_sync(cmdline, cl, sizeof(cl)) < 0) {
            ukctl_err("Failed to start the fleet: --cmdline is too long");
            return 2;
        }
        snprintf(pfx, sizeof(pfx), "%s", prefix);
        char *dot = strchr(pfx, '.');
        if (dot)
            *dot = 0;
        for (unsigned i = 1; i <= count; i++) {
            char name[80];
            snprintf(name, sizeof(name), "%s-%u", pfx, i);
            json_t *b = json_pack("{s:s,s:s,s:i,s:i,s:s,s:s,s:s}", "name", name, "image", image,
                                  "mem_mib", mem, "smp", smp, "cmdline", cl, "accel", accel,
                                  "restart", restart);
            char *body = json_dumps(b, JSON_COMPACT);
            json_decref(b);
            if (post("/api/v1/instances", token, body, "start an instance") < 0)
                rc = 1;
            else
                printf("%s\n", name);
            free(body);
        }
        return rc;
    }
    /* down: every managed instance (named PREFIX-* if given) */
    char *reply = NULL;
    size_t len, i;
    int status;
    json_t *o, *x;
    if (cdc_request(cdc_addr(), "GET", "/api/v1/instances", NULL, NULL, 5000, &status, &reply,
                    &len) < 0 || status != 200) {
        ukctl_err("Failed to reach the collector at %s (is ukcollectd running?)", cdc_addr());
        free(reply);
        return 1;
    }
    o = json_loadb(reply, len, 0, NULL);
    free(reply);
    json_array_foreach(json_object_get(o, "instances"), i, x) {
        const char *name = json_string_value(json_object_get(x, "name"));
        char path[256];
        if (!name || !json_is_true(json_object_get(x, "managed")))
            continue;
        if (prefix && (strncmp(name, prefix, strlen(prefix)) || name[strlen(prefix)] != '-'))
            continue;
        snprintf(path, sizeof(path), "/api/v1/instances/%s/stop?remove=1", name);
        if (post(path, token, NULL, "stop an instance") < 0)
            rc = 1;
        else
            printf("%s\n", name);
    }
    json_decref(o);
    return rc;
}
