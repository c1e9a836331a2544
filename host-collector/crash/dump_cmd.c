/*
 * `ukctl dump [--level minimal|heap|full] [-o FILE] RUN_DIR`: an ELF core of
 * the instance (docs/postmortem.md), and the `ukctl gdb` fallback built on it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "util.h"

#include "crash_dump.h"

static const char usage[] =
    "Usage: ukctl dump [--level minimal|heap|full] [-o FILE] RUN_DIR\n"
    "  --level L   minimal (default): writable data, used stacks, log, trace rings, metrics page;\n"
    "              heap: + every allocated page; full: all RAM\n"
    "  -o FILE     output (default RUN_DIR/core)\n";

int dump_main(int argc, char **argv)
{
    static const struct option opts[] = {{"level", required_argument, NULL, 'l'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ret = 1, c, level = CRASH_LEVEL_MINIMAL;
    const char *out = NULL;
    char outbuf[4096], err[512];
    struct crash_src src = {.fd = -1, .qmp.fd = -1};
    struct crash_state *st = NULL;
    long size = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "l:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            level = crash_level_parse(optarg);
            if (level < 0) {
                ukctl_err("unknown level '%s' (minimal, heap, full)", optarg);
                return UKCTL_EXIT_USAGE;
            }
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
    if (optind != argc - 1) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    const char *run_dir = argv[optind];
    if (!out) {
        if (util_path(outbuf, sizeof(outbuf), "%s/core", run_dir) < 0) {
            ukctl_err("Failed to name the core: path too long");
            return 1;
        }
        out = outbuf;
    }
    st = malloc(sizeof(*st));
    if (!st) {
        ukctl_err("Failed to allocate: out of memory");
        goto cleanup;
    }
    if (crash_src_open(&src, run_dir, err, sizeof(err)) < 0 ||
        crash_dump(&src, (enum crash_level)level, out, st, &size, err, sizeof(err)) < 0) {
        ukctl_err("%s", err);
        goto cleanup;
    }
    for (unsigned i = 0; i < st->nwarn; i++)
        fprintf(stderr, "ukctl: warning: %s\n", st->warn[i]);
    if (st->warnings > st->nwarn)
        fprintf(stderr, "ukctl: warning: %u more warnings\n", st->warnings - st->nwarn);
    fprintf(stderr, "ukctl: %s: %ld bytes, %u threads, %u segments, level %s; %s", out, size,
            st->nthreads, st->nregions, crash_level_name((enum crash_level)level),
            crash_src_how(src.how));
    if (src.how == CRASH_SRC_LIVE)
        fprintf(stderr, "; guest paused %.1f ms", src.pause_ms);
    fputc('\n', stderr);
    ret = 0;
cleanup:
    crash_src_close(&src);
    free(st);
    return ret;
}

void crash_gdb_helper(char *buf, size_t len)
{
    util_find_shipped("gdbstub/host/uk-gdb.py", buf, len);
}

bool crash_gdb_unservable(const char *run_dir)
{
    struct crash_src src = {.fd = -1, .qmp.fd = -1};
    struct uk_panic_record rec;
    char err[512];
    bool ret = false;

    if (crash_src_open(&src, run_dir, err, sizeof(err)) < 0)
        goto cleanup; /* let ukctl gdb report what is wrong */
    if (src.pid <= 0 || !util_pid_alive(src.pid)) {
        ret = true;
        goto cleanup;
    }
    if (src.lay.panic_record &&
        crash_mem_read(&src.mem, src.lay.panic_record, &rec, sizeof(rec)) &&
        rec.magic == UK_PANIC_REC_MAGIC && rec.state == UK_PANIC_REC_DONE)
        ret = !strstr(src.cmdline, "gdb=postmortem");
cleanup:
    crash_src_close(&src);
    return ret;
}

int crash_gdb_fallback(const char *run_dir, const char *batch_file)
{
    char core[4096], helper[4096], err[512], gdb[4096];
    struct crash_src src = {.fd = -1, .qmp.fd = -1};
    struct crash_state *st = malloc(sizeof(*st));
    long size = 0;
    int rc = -1;

    if (!st || util_path(core, sizeof(core), "%s/postmortem.core", run_dir) < 0) {
        ukctl_err("Failed to prepare the post-mortem core");
        goto cleanup;
    }
    if (crash_src_open(&src, run_dir, err, sizeof(err)) < 0 ||
        crash_dump(&src, CRASH_LEVEL_MINIMAL, core, st, &size, err, sizeof(err)) < 0) {
        ukctl_err("%s", err);
        goto cleanup;
    }
    fprintf(stderr,
            "ukctl: the guest cannot serve gdb (%s); debugging a minimal core instead: %s "
            "(%ld bytes, %u threads)\n",
            crash_src_how(src.how), core, size, st->nthreads);
    if (util_find_program("gdb", gdb, sizeof(gdb)) < 0) {
        ukctl_err("Failed to find gdb on PATH");
        goto cleanup;
    }
    crash_gdb_helper(helper, sizeof(helper));
    /* exec replaces us: keep the image path past crash_src_close. */
    static char image[4096];
    snprintf(image, sizeof(image), "%s", src.image);
    char *argv[16];
    int n = 0;
    argv[n++] = "gdb";
    argv[n++] = "-q";
    if (batch_file)
        argv[n++] = "-batch";
    argv[n++] = "-ex";
    argv[n++] = "set pagination off";
    if (helper[0]) {
        argv[n++] = "-x";
        argv[n++] = helper;
    }
    argv[n++] = image;
    argv[n++] = core;
    if (batch_file) {
        argv[n++] = "-x";
        argv[n++] = (char *)batch_file;
    }
    argv[n] = NULL;
    crash_src_close(&src);
    free(st);
    st = NULL;
    fflush(NULL);
    execv(gdb, argv);
    ukctl_err("Failed to run %s: %s", gdb, strerror(errno));
cleanup:
    crash_src_close(&src);
    free(st);
    return rc;
}
