/*
 * ukctl gdb RUN_DIR [--batch-file F] [--transport uart|virtio]
 *
 * Reads RUN_DIR/instance.json ("image", "gdb_socket", "gdb_virtio_socket"),
 * then execs Debian's gdb with the image's symbols, the uk-gdb.py helper
 * (uk threads, uk dmesg) and `target remote` on the socket.
 */
#include "ukctl_gdb.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include "run.h"
#include "util.h"
#include "crash/crash_dump.h" /* the post-mortem fallback */

static const char usage[] = "Usage: ukctl gdb RUN_DIR [--batch-file F] [--transport uart|virtio]\n";

/* The helper ships next to the sources: <exe>/../../gdbstub/host/uk-gdb.py. */
static int find_helper(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = 0;
    if (util_path(buf, len, "%s/../../gdbstub/host/uk-gdb.py", exe) < 0 || access(buf, R_OK))
        return -1;
    return 0;
}

int gdb_main(int argc, char **argv)
{
    const char *run_dir = NULL, *batch = NULL, *transport = "uart";
    char path[PATH_MAX], helper[PATH_MAX], target[PATH_MAX + 32], src[PATH_MAX + 16];
    json_t *root = NULL;
    json_error_t jerr;
    int rc = UKCTL_EXIT_USAGE;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch-file") && i + 1 < argc)
            batch = argv[++i];
        else if (!strcmp(argv[i], "--transport") && i + 1 < argc)
            transport = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (argv[i][0] != '-' && !run_dir)
            run_dir = argv[i];
        else {
            fprintf(stderr, "ukctl: bad gdb argument '%s' (%s)", argv[i], usage + 7);
            return UKCTL_EXIT_USAGE;
        }
    }
    if (!run_dir || (strcmp(transport, "uart") && strcmp(transport, "virtio"))) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    rc = 1;
    if (util_path(path, sizeof(path), "%s/instance.json", run_dir) < 0)
        goto cleanup;
    root = json_load_file(path, 0, &jerr);
    if (!root) {
        ukctl_err("Failed to read %s: %s", path, jerr.text);
        goto cleanup;
    }
    const char *key = strcmp(transport, "uart") ? "gdb_virtio_socket" : "gdb_socket";
    const char *image = json_string_value(json_object_get(root, "image"));
    const char *sock = json_string_value(json_object_get(root, key));
    if (!image || !sock) {
        ukctl_err("Failed to find %s: \"%s\" missing from %s", !image ? "the image" : "the socket",
                  !image ? "image" : key, path);
        goto cleanup;
    }
    /* host-collector/crash hook: a guest that cannot serve the stub
     * (panicked without gdb=postmortem, or QEMU gone) gets a core instead. */
    if (crash_gdb_unservable(run_dir)) {
        rc = crash_gdb_fallback(run_dir, batch) < 0 ? 1 : 0;
        goto cleanup;
    }
    char gdb[PATH_MAX];
    if (util_find_program("gdb", gdb, sizeof(gdb)) < 0) {
        ukctl_err("Failed to find gdb: not in PATH (apt-get install gdb)");
        goto cleanup;
    }
    snprintf(target, sizeof(target), "target remote %s", sock);
    const char *args[16];
    int n = 0;
    args[n++] = gdb;
    args[n++] = "-q";
    if (batch)
        args[n++] = "-batch";
    args[n++] = "-ex";
    args[n++] = "set pagination off";
    if (find_helper(helper, sizeof(helper)) == 0) {
        snprintf(src, sizeof(src), "source %s", helper);
        args[n++] = "-ex";
        args[n++] = src;
    }
    args[n++] = "-ex";
    args[n++] = target;
    if (batch) {
        args[n++] = "-x";
        args[n++] = batch;
    }
    args[n++] = image;
    args[n] = NULL;
    fflush(NULL);
    execv(gdb, (char *const *)args);
    ukctl_err("Failed to run %s: %s", gdb, strerror(errno));
cleanup:
    json_decref(root);
    return rc;
}
