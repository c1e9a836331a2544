/*
 * `ukctl crash ls|show|gdb|rm|capture`: the crash dir's bundles grouped by
 * signature (docs/postmortem.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "util.h"

#include "crash_bundle.h"

static const char usage[] =
    "Usage: ukctl crash [--crash-dir DIR] COMMAND\n"
    "  ls [--json]              signature groups: count, first/last seen, instances, reason\n"
    "  show ID|SIGNATURE        report.txt of a bundle (a signature: its newest bundle)\n"
    "  gdb ID|SIGNATURE [--batch-file F]  gdb on the bundle's kernel image + core\n"
    "  rm ID|SIGNATURE|--all    remove bundles (a signature: its bundles and its group)\n"
    "  capture [--level L] [--once] RUN_DIR  write a bundle of a running or stopped instance\n"
    "                          now (--once: unless this boot's was claimed already)\n"
    "The crash dir: --crash-dir, else $UKSCOPE_CRASH_DIR, $XDG_STATE_HOME/ukscope/crashes,\n"
    "~/.local/state/ukscope/crashes.\n";

/* Bundles whose id or signature is (or, for 6+ characters, starts with) key. */
static json_t *match(json_t *bundles, const char *key)
{
    json_t *out = json_array(), *b;
    size_t i, kl = strlen(key);
    json_array_foreach(bundles, i, b) {
        const char *id = json_string_value(json_object_get(b, "id"));
        const char *sig = json_string_value(json_object_get(b, "signature"));
        if (!strcmp(id, key) || (sig && (!strcmp(sig, key) || (kl >= 6 && !strncmp(sig, key, kl)))))
            json_array_append(out, b);
    }
    return out;
}

static int cmd_ls(const char *dir, int argc, char **argv)
{
    bool as_json = argc > 1 && !strcmp(argv[1], "--json");
    json_t *ix = crash_store_index(dir), *bundles = crash_store_bundles(dir), *g;
    const char *sig;
    if (as_json) {
        json_object_set(ix, "bundles", bundles);
        json_dumpf(ix, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
        putchar('\n');
    } else {
        printf("%-29s %5s %5s %-20s %-20s %-10s %s\n", "SIGNATURE", "COUNT", "KEPT", "FIRST SEEN",
               "LAST SEEN", "REASON", "TOP FRAME / MESSAGE");
        json_object_foreach(json_object_get(ix, "groups"), sig, g) {
            json_t *m = match(bundles, sig);
            printf("%-29s %5lld %5zu %-20s %-20s %-10s %s: %s\n", sig,
                   json_integer_value(json_object_get(g, "count")), json_array_size(m),
                   json_string_value(json_object_get(g, "first_seen")),
                   json_string_value(json_object_get(g, "last_seen")),
                   json_string_value(json_object_get(g, "reason")),
                   json_string_value(json_object_get(g, "top_frame")) ?: "?",
                   json_string_value(json_object_get(g, "message")) ?: "");
            printf("%-29s instances %lld, newest %s\n", "",
                   json_integer_value(json_object_get(g, "instance_count")),
                   json_string_value(json_object_get(g, "last_id")));
            json_decref(m);
        }
    }
    json_decref(ix);
    json_decref(bundles);
    return 0;
}

/* The newest bundle matching key; NULL (and a message) if none. */
static json_t *pick(const char *dir, const char *key)
{
    json_t *bundles = crash_store_bundles(dir), *m = match(bundles, key), *b = NULL;
    if (json_array_size(m))
        b = json_incref(json_array_get(m, json_array_size(m) - 1));
    else
        ukctl_err("Failed to find bundle '%s' in %s", key, dir);
    json_decref(m);
    json_decref(bundles);
    return b;
}

static int cmd_show(const char *dir, int argc, char **argv)
{
    char p[4096];
    if (argc != 2) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    json_t *b = pick(dir, argv[1]);
    if (!b)
        return 1;
    util_path(p, sizeof(p), "%s/report.txt", json_string_value(json_object_get(b, "path")));
    json_decref(b);
    FILE *f = fopen(p, "re");
    if (!f) {
        ukctl_err("Failed to open %s: %s", p, strerror(errno));
        return 1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
}

static int cmd_gdb(const char *dir, int argc, char **argv)
{
    char core[4096], rp[4096], gdb[4096], helper[4096];
    const char *batch = NULL;
    if (argc == 4 && !strcmp(argv[2], "--batch-file"))
        batch = argv[3];
    else if (argc != 2) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    json_t *b = pick(dir, argv[1]);
    if (!b)
        return 1;
    const char *bp = json_string_value(json_object_get(b, "path"));
    util_path(core, sizeof(core), "%s/core", bp);
    util_path(rp, sizeof(rp), "%s/report.json", bp);
    json_decref(b);
    json_t *r = json_load_file(rp, 0, NULL);
    static char image[4096];
    snprintf(image, sizeof(image), "%s", json_string_value(json_object_get(r, "image")) ?: "");
    json_decref(r);
    if (!image[0] || util_find_program("gdb", gdb, sizeof(gdb)) < 0) {
        ukctl_err("Failed to run gdb: %s", image[0] ? "gdb not in PATH" : "no image in the report");
        return 1;
    }
    crash_gdb_helper(helper, sizeof(helper));
    char *args[16];
    int n = 0;
    args[n++] = "gdb";
    args[n++] = "-q";
    if (batch)
        args[n++] = "-batch";
    args[n++] = "-ex";
    args[n++] = "set pagination off";
    if (helper[0]) {
        args[n++] = "-x";
        args[n++] = helper;
    }
    args[n++] = image;
    args[n++] = core;
    if (batch) {
        args[n++] = "-x";
        args[n++] = (char *)batch;
    }
    args[n] = NULL;
    fflush(NULL);
    execv(gdb, args);
    ukctl_err("Failed to run %s: %s", gdb, strerror(errno));
    return 1;
}

static int cmd_rm(const char *dir, int argc, char **argv)
{
    int lock, rc = 0;
    if (argc != 2) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    bool all = !strcmp(argv[1], "--all");
    json_t *bundles = crash_store_bundles(dir), *m = all ? json_incref(bundles)
                                                         : match(bundles, argv[1]), *b;
    size_t i;
    if ((lock = crash_store_lock(dir)) < 0) {
        ukctl_err("Failed to lock %s: %s", dir, strerror(errno));
        rc = 1;
        goto cleanup;
    }
    if (!json_array_size(m) && !all) {
        ukctl_err("Failed to find bundle '%s' in %s", argv[1], dir);
        rc = 1;
    }
    json_array_foreach(m, i, b) {
        const char *id = json_string_value(json_object_get(b, "id"));
        if (crash_store_remove(dir, id) < 0) {
            ukctl_err("Failed to remove %s: %s", id, strerror(errno));
            rc = 1;
        } else
            printf("removed %s\n", id);
    }
    /* Forgetting a group is explicit: `rm SIGNATURE` or `rm --all`. */
    json_t *ix = crash_store_index(dir);
    json_t *groups = json_object_get(ix, "groups");
    if (all)
        json_object_clear(groups);
    else
        json_object_del(groups, argv[1]);
    char p[4096];
    if (util_path(p, sizeof(p), "%s/index.json", dir) == 0)
        json_dump_file(ix, p, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(ix);
cleanup:
    if (lock >= 0)
        close(lock);
    json_decref(m);
    json_decref(bundles);
    return rc;
}

static int cmd_capture(const char *dir, int argc, char **argv)
{
    char err[512], path[4096];
    int level = crash_bundle_level(), i = 1, claimed;
    bool once = false;
    for (; i < argc - 1; i++) {
        if (!strcmp(argv[i], "--level") && i + 1 < argc - 1)
            level = crash_level_parse(argv[++i]);
        else if (!strcmp(argv[i], "--once"))
            once = true;
        else
            break;
    }
    if (i != argc - 1 || level < 0) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    /* --once: the panic of this boot gets one bundle, whoever writes it. */
    if (once && (claimed = crash_claim(argv[argc - 1], err, sizeof(err))) <= 0) {
        if (claimed < 0) {
            ukctl_err("%s", err);
            return 1;
        }
        printf("claimed: another process writes this boot's bundle\n");
        return 0;
    }
    if (crash_bundle_write(argv[argc - 1], dir, (enum crash_level)level, true, path, sizeof(path),
                           err, sizeof(err)) < 0) {
        ukctl_err("%s", err);
        return 1;
    }
    return 0;
}

int crash_main(int argc, char **argv)
{
    static const struct option opts[] = {{"crash-dir", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    char dir[4096];
    const char *cdir = NULL;
    int c;

    optind = 1;
    /* "+": options of the subcommands (ls --json...) stay theirs */
    while ((c = getopt_long(argc, argv, "+d:h", opts, NULL)) != -1) {
        if (c == 'd')
            cdir = optarg;
        else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return UKCTL_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    if (cdir)
        snprintf(dir, sizeof(dir), "%s", cdir);
    else if (crash_default_dir(dir, sizeof(dir)) < 0) {
        ukctl_err("Failed to find the crash dir: set UKSCOPE_CRASH_DIR or HOME");
        return 1;
    }
    const char *cmd = argv[optind];
    argc -= optind;
    argv += optind;
    if (!strcmp(cmd, "ls"))
        return cmd_ls(dir, argc, argv);
    if (!strcmp(cmd, "show"))
        return cmd_show(dir, argc, argv);
    if (!strcmp(cmd, "gdb"))
        return cmd_gdb(dir, argc, argv);
    if (!strcmp(cmd, "rm"))
        return cmd_rm(dir, argc, argv);
    if (!strcmp(cmd, "capture"))
        return cmd_capture(dir, argc, argv);
    ukctl_err("unknown crash command '%s' (see ukctl crash --help)", cmd);
    return UKCTL_EXIT_USAGE;
}
