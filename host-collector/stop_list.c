/*
 * `ukctl stop RUN_DIR` and `ukctl list`: act on instances through their
 * instance.json (see instance.h).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "instance.h"
#include "qmp.h"
#include "run.h"
#include "util.h"

#define STOP_WAIT_MS 10000

static const char stop_usage[] = "Usage: ukctl stop [--keep] RUN_DIR\n"
                                 "Quit the instance in RUN_DIR over QMP, wait for QEMU to exit,\n"
                                 "then remove the run dir unless --keep.\n";
static const char list_usage[] =
    "Usage: ukctl list [PARENT_DIR]\n"
    "List instances under PARENT_DIR (default $XDG_RUNTIME_DIR/ukscope\n"
    "or /tmp/ukscope-$UID): name, QEMU pid, state, accel, run dir.\n"
    "STATE: running, paused, panicked (the guest panicked; QEMU holds it for\n"
    "post-mortem), error (the accelerator failed), alive (QEMU runs but its\n"
    "QMP socket is busy, e.g. with a foreground ukctl run), dead.\n";

/* Poll until pid is gone; 0 if it exited within ms, else -1. */
static int wait_gone(pid_t pid, int ms)
{
    for (; ms > 0; ms -= 20) {
        if (!util_pid_alive(pid))
            return 0;
        usleep(20 * 1000);
    }
    return util_pid_alive(pid) ? -1 : 0;
}

int stop_main(int argc, char **argv)
{
    struct instance_summary in;
    struct qmp q = {.fd = -1};
    const char *dir = NULL;
    char err[512];
    bool keep = false;
    int i, ret = 1;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(stop_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--keep")) {
            keep = true;
        } else if (argv[i][0] == '-' || dir) {
            ukctl_err("unexpected argument '%s' (see ukctl stop --help)", argv[i]);
            return UKCTL_EXIT_USAGE;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) {
        ukctl_err("missing RUN_DIR (see ukctl stop --help)");
        return UKCTL_EXIT_USAGE;
    }
    if (instance_read(dir, &in, err, sizeof(err)) < 0) {
        if (errno == EINVAL)
            ukctl_err("Failed to read instance: %s", err);
        else
            ukctl_err("Failed to read %s/%s: %s", dir, INSTANCE_FILE, strerror(errno));
        return 1;
    }
    if (util_pid_alive(in.pid)) {
        if (qmp_connect(&q, in.qmp_socket, 1000) != QMP_OK || qmp_handshake(&q, 5000) != QMP_OK ||
            qmp_execute(&q, "quit", NULL, NULL, 5000) != QMP_OK) {
            if (q.err[0])
                ukctl_err("QMP quit failed (%s); sending SIGTERM", q.err);
            kill(in.pid, SIGTERM);
        }
        if (wait_gone(in.pid, STOP_WAIT_MS) < 0) {
            ukctl_err("QEMU (pid %d) did not exit; killing it", (int)in.pid);
            kill(in.pid, SIGKILL);
            if (wait_gone(in.pid, 2000) < 0) {
                ukctl_err("Failed to stop QEMU (pid %d)", (int)in.pid);
                goto cleanup;
            }
        }
    }
    if (!keep && util_remove_run_dir(dir) < 0) {
        /* Files ukctl did not create (a trace, a core) are the user's: keep them. */
        if (errno == ENOTEMPTY) {
            fprintf(stderr, "ukctl: kept %s: it holds files ukctl did not create\n", dir);
        } else {
            ukctl_err("Failed to remove run dir %s: %s", dir, strerror(errno));
            goto cleanup;
        }
    }
    ret = 0;
cleanup:
    qmp_close(&q);
    return ret;
}

/* QMP allows one client: a busy socket (a foreground `ukctl run` holds it)
 * must not stall the listing for long. */
#define LIST_QMP_MS 300

/* The run state of a live instance, as QMP's query-status tells it. */
static const char *instance_state(const struct instance_summary *in)
{
    struct qmp q = {.fd = -1};
    const char *state = "alive";
    json_t *ret = NULL;

    if (!util_pid_alive(in->pid))
        return "dead";
    if (qmp_connect(&q, in->qmp_socket, LIST_QMP_MS) != QMP_OK ||
        qmp_handshake(&q, LIST_QMP_MS) != QMP_OK ||
        qmp_execute(&q, "query-status", NULL, &ret, LIST_QMP_MS) != QMP_OK)
        goto cleanup;
    const char *st = json_string_value(json_object_get(ret, "status"));
    if (!st)
        goto cleanup;
    if (!strcmp(st, "running"))
        state = "running";
    else if (!strcmp(st, "guest-panicked"))
        state = "panicked";
    else if (!strcmp(st, "internal-error"))
        state = "error"; /* the accelerator failed (e.g. KVM emulation failure) */
    else
        state = "paused"; /* paused, prelaunch, debug, ... */
cleanup:
    json_decref(ret);
    qmp_close(&q);
    return state;
}

int list_main(int argc, char **argv)
{
    char parent[PATH_MAX], dir[PATH_MAX], err[512];
    struct instance_summary in;
    struct dirent *de;
    DIR *d;

    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(list_usage, stdout);
        return 0;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        ukctl_err("unexpected argument '%s' (see ukctl list --help)", argv[argc - 1]);
        return UKCTL_EXIT_USAGE;
    }
    if (argc == 2)
        snprintf(parent, sizeof(parent), "%s", argv[1]);
    else if (util_default_parent(parent, sizeof(parent)) < 0) {
        ukctl_err("Failed to name the run parent dir: %s", strerror(errno));
        return 1;
    }
    d = opendir(parent);
    if (!d) {
        if (errno == ENOENT)
            return 0; /* nothing ever ran */
        ukctl_err("Failed to open %s: %s", parent, strerror(errno));
        return 1;
    }
    printf("%-24s %8s %-8s %-5s %s\n", "NAME", "PID", "STATE", "ACCEL", "RUN_DIR");
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (util_path(dir, sizeof(dir), "%s/%s", parent, de->d_name) < 0)
            continue;
        if (instance_read(dir, &in, err, sizeof(err)) < 0)
            continue;
        printf("%-24s %8d %-8s %-5s %s\n", in.name, (int)in.pid, instance_state(&in), in.accel,
               in.run_dir);
    }
    closedir(d);
    return 0;
}
