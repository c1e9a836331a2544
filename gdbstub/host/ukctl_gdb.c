/*
 * ukctl gdb RUN_DIR [--batch-file F] [--transport uart|virtio]
 *
 * Reads RUN_DIR/instance.json ("image", "gdb_socket", "gdb_virtio_socket",
 * and "pid"/"qmp_socket" when ukctl run wrote it), checks the instance can
 * answer, then execs Debian's gdb with the image's symbols, the uk-gdb.py
 * helper (uk threads, uk dmesg) and `target remote` on the socket.
 */
#include "ukctl_gdb.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qmp.h"
#include "run.h"
#include "util.h"
#include "crash/crash_dump.h" /* the post-mortem fallback */

static const char usage[] =
    "Usage: ukctl gdb RUN_DIR [--batch-file F] [--transport uart|virtio]\n"
    "Attach gdb to the instance's in-guest stub (docs/gdb.md).\n"
    "  -b, --batch-file F     run gdb in batch mode with the commands in F\n"
    "  -t, --transport T      uart (COM2, default) or virtio (virtio-console port)\n"
    "  -h, --help             this text\n";

/* QMP takes one client (a foreground `ukctl run` may hold it): do not wait
 * long for it; without an answer gdb is started as before. */
#define GDB_QMP_MS 1000

/* Whether the instance's vCPUs run, from QMP query-status: 1 running, 0 not
 * (*status says how), -1 unknown (no QMP socket, or it did not answer). */
static int guest_running(const char *qmp_socket, char *status, size_t len)
{
    struct qmp q = {.fd = -1};
    json_t *ret = NULL;
    int rc = -1;
    if (!qmp_socket || qmp_connect(&q, qmp_socket, GDB_QMP_MS) != QMP_OK ||
        qmp_handshake(&q, GDB_QMP_MS) != QMP_OK ||
        qmp_execute(&q, "query-status", NULL, &ret, GDB_QMP_MS) != QMP_OK)
        goto cleanup;
    const char *st = json_string_value(json_object_get(ret, "status"));
    if (!st)
        goto cleanup;
    snprintf(status, len, "%s", st);
    rc = !strcmp(st, "running");
cleanup:
    json_decref(ret);
    qmp_close(&q);
    return rc;
}

/*
 * The stub runs inside the guest: a dead QEMU or stopped vCPUs cannot
 * answer, and gdb would only time out.  0 if gdb may start, else -1 with
 * the reason printed.
 */
static int check_alive(json_t *root, const char *run_dir)
{
    json_t *pid = json_object_get(root, "pid");
    const char *name = json_string_value(json_object_get(root, "name"));
    char status[64];
    if (!json_is_integer(pid))
        return 0; /* not written by ukctl run: nothing to check */
    if (json_integer_value(pid) <= 0 || json_integer_value(pid) > INT_MAX ||
        !util_pid_alive((pid_t)json_integer_value(pid))) {
        ukctl_err("instance %s (%s) is not running: QEMU (pid %lld) is gone", name ? name : "?",
                  run_dir, (long long)json_integer_value(pid));
        return -1;
    }
    int r = guest_running(json_string_value(json_object_get(root, "qmp_socket")), status,
                          sizeof(status));
    if (r != 0)
        return 0;
    if (!strcmp(status, "guest-panicked"))
        ukctl_err("instance %s: the guest is paused by pvpanic without gdb=postmortem, so its "
                  "stub cannot answer; take a core with ukctl dump",
                  name ? name : run_dir);
    else
        ukctl_err("instance %s: the guest's CPUs are stopped (QMP status %s), so its stub "
                  "cannot answer; resume it, or take a core with ukctl dump",
                  name ? name : run_dir, status);
    return -1;
}

int gdb_main(int argc, char **argv)
{
    static const struct option opts[] = {{"batch-file", required_argument, NULL, 'b'},
                                         {"transport", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *run_dir = NULL, *batch = NULL, *transport = "uart";
    char path[PATH_MAX], helper[PATH_MAX], target[PATH_MAX + 32], src[PATH_MAX + 16];
    json_t *root = NULL;
    char err[PATH_MAX + 128];
    int c, rc = UKCTL_EXIT_USAGE;

    optind = 1;
    while ((c = getopt_long(argc, argv, "b:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            batch = optarg;
            break;
        case 't':
            transport = optarg;
            break;
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
    if (!run_dir || optind < argc) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    if (strcmp(transport, "uart") && strcmp(transport, "virtio")) {
        ukctl_err("unknown transport '%s' (uart, virtio)", transport);
        return UKCTL_EXIT_USAGE;
    }
    rc = 1;
    if (util_path(path, sizeof(path), "%s/instance.json", run_dir) < 0)
        goto cleanup;
    root = util_json_load(path, err, sizeof(err));
    if (!root) {
        ukctl_err("Failed to read %s", err);
        goto cleanup;
    }
    /* host-collector/crash hook: a guest that cannot serve the stub
     * (panicked without gdb=postmortem, or QEMU gone with its RAM file kept)
     * gets a minimal core instead; check_alive() then explains the rest. */
    if (crash_gdb_unservable(run_dir)) {
        rc = crash_gdb_fallback(run_dir, batch) < 0 ? 1 : 0;
        goto cleanup;
    }
    if (check_alive(root, run_dir) < 0)
        goto cleanup;
    const char *key = strcmp(transport, "uart") ? "gdb_virtio_socket" : "gdb_socket";
    const char *image = json_string_value(json_object_get(root, "image"));
    const char *sock = json_string_value(json_object_get(root, key));
    if (!image || !sock) {
        ukctl_err("Failed to find %s: \"%s\" missing from %s", !image ? "the image" : "the socket",
                  !image ? "image" : key, path);
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
    if (util_find_shipped("gdbstub/host/uk-gdb.py", helper, sizeof(helper)) == 0) {
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
