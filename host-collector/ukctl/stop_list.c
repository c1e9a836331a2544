/*
 * `ukctl stop RUN_DIR` and `ukctl list`: act on instances through their
 * instance.json (see instance.h).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
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

static const char stop_usage[] =
    "Usage: ukctl stop [--keep] RUN_DIR\n"
    "Quit the instance in RUN_DIR over QMP (its qmp-tools.sock), wait for QEMU\n"
    "to exit, then remove the run dir unless --keep.  The pid in instance.json\n"
    "is signalled only if its start time and executable match those recorded\n"
    "when ukctl started that QEMU.\n"
    "\n"
    "  --keep      keep the run dir\n"
    "  -h, --help  this text\n";
static const char list_usage[] =
    "Usage: ukctl list [PARENT_DIR]\n"
    "List instances whose run dirs are under PARENT_DIR: name, QEMU pid, state,\n"
    "accel, run dir.  Without PARENT_DIR, the parent ukctl run uses by default:\n"
    "$XDG_RUNTIME_DIR/ukscope, or /tmp/ukscope-$UID when XDG_RUNTIME_DIR is unset\n"
    "(a run started with --run-dir elsewhere is listed by naming its parent).\n"
    "\n"
    "  -h, --help  this text\n"
    "\n"
    "STATE: running, paused, panicked (the guest panicked; QEMU holds it for\n"
    "post-mortem), error (the accelerator failed), alive (QEMU runs but its\n"
    "qmp-tools.sock is busy with another tool), dead (gone, or its pid is no\n"
    "longer the QEMU that was started).\n";

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

/* Signal in->pid only if it is still the QEMU the instance started. */
static int signal_ours(const struct instance_summary *in, int sig)
{
    char why[512];

    if (!util_pid_alive(in->pid))
        return 0; /* gone meanwhile */
    if (!instance_is_ours(in, why, sizeof(why))) {
        ukctl_err("not signalling pid %d: %s", (int)in->pid, why);
        return -1;
    }
    return kill(in->pid, sig);
}

int stop_main(int argc, char **argv)
{
    struct instance_summary in;
    struct qmp q = {.fd = -1};
    const char *dir = NULL;
    char err[512], why[512], qmp_path[4096 + 16];
    bool keep = false;
    int i, ret = 1;

    static const struct option opts[] = {
        {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(stop_usage, stdout);
            return 0;
        }
        if (c == 'k') {
            keep = true;
            continue;
        }
        ukctl_err("unknown option '%s' (see ukctl stop --help)", argv[optind - 1]);
        return UKCTL_EXIT_USAGE;
    }
    for (i = optind; i < argc; i++) {
        if (dir) {
            ukctl_err("unexpected argument '%s' (see ukctl stop --help)", argv[i]);
            return UKCTL_EXIT_USAGE;
        }
        dir = argv[i];
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
    /* A dir someone else controls could hold an instance.json crafted to
     * name one of our QEMUs, and a socket of theirs: act only on our own. */
    int dfd = util_open_private_dir(dir, false, why, sizeof(why));
    if (dfd < 0) {
        ukctl_err("Failed to use run dir %s: %s", dir, why);
        return 1;
    }
    close(dfd);
    if (util_path(qmp_path, sizeof(qmp_path), "%s/qmp-tools.sock", dir) < 0) {
        ukctl_err("Failed to name the QMP socket: %s", strerror(errno));
        return 1;
    }
    if (util_pid_alive(in.pid)) {
        /* A stale instance.json may name a pid reused by anything: check it
         * is our QEMU before any signal, and again before each one. */
        if (!instance_is_ours(&in, why, sizeof(why))) {
            ukctl_err("not stopping pid %d: %s", (int)in.pid, why);
            goto cleanup;
        }
        bool sent = false;
        int rc = qmp_connect(&q, qmp_path, 1000);

        if (rc == QMP_OK)
            rc = qmp_handshake(&q, 5000);
        if (rc == QMP_OK) {
            rc = qmp_execute(&q, "quit", NULL, NULL, 5000);
            sent = true;
        }
        /* EOF once "quit" is on its way: QEMU quit before it replied. */
        if (rc != QMP_OK && !(sent && rc == QMP_ERR_EOF)) {
            if (q.err[0])
                ukctl_err("QMP quit failed (%s); sending SIGTERM", q.err);
            if (signal_ours(&in, SIGTERM) < 0)
                goto cleanup;
        }
        if (wait_gone(in.pid, STOP_WAIT_MS) < 0) {
            ukctl_err("QEMU (pid %d) did not exit; killing it", (int)in.pid);
            if (signal_ours(&in, SIGKILL) < 0)
                goto cleanup;
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

/* A QMP monitor takes one client: a busy qmp-tools.sock (another tool holds
 * it) must not stall the listing for long. */
#define LIST_QMP_MS 300

/* The run state of a live instance, as QMP's query-status tells it. */
static const char *instance_state(const char *dir, const struct instance_summary *in)
{
    struct qmp q = {.fd = -1};
    const char *state = "alive";
    char why[512], qmp_path[4096 + 16];
    json_t *ret = NULL;

    if (!instance_is_ours(in, why, sizeof(why)))
        return "dead"; /* gone, or its pid now belongs to another process */
    if (util_path(qmp_path, sizeof(qmp_path), "%s/qmp-tools.sock", dir) < 0 ||
        qmp_connect(&q, qmp_path, LIST_QMP_MS) != QMP_OK ||
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

/* Print one line per instance under parent; -1 if parent cannot be read. */
static int list_parent(const char *parent)
{
    char dir[PATH_MAX], err[512];
    struct instance_summary in;
    struct dirent *de;
    DIR *d = opendir(parent);

    if (!d) {
        if (errno == ENOENT)
            return 0; /* nothing ever ran there */
        ukctl_err("Failed to open %s: %s", parent, strerror(errno));
        return -1;
    }
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (util_path(dir, sizeof(dir), "%s/%s", parent, de->d_name) < 0)
            continue;
        if (instance_read(dir, &in, err, sizeof(err)) < 0)
            continue;
        printf("%-24s %8d %-8s %-5s %s\n", in.name, (int)in.pid, instance_state(dir, &in), in.accel,
               in.run_dir);
    }
    closedir(d);
    return 0;
}

int list_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char parent[PATH_MAX];
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(list_usage, stdout);
            return 0;
        }
        ukctl_err("unknown option '%s' (see ukctl list --help)", argv[optind - 1]);
        return UKCTL_EXIT_USAGE;
    }
    if (argc - optind > 1) {
        ukctl_err("unexpected argument '%s' (see ukctl list --help)", argv[optind + 1]);
        return UKCTL_EXIT_USAGE;
    }
    if (optind < argc)
        snprintf(parent, sizeof(parent), "%s", argv[optind]);
    else if (util_default_parent(parent, sizeof(parent)) < 0) {
        ukctl_err("Failed to name the run parent dir: %s", strerror(errno));
        return 1;
    }
    /* The header always, so an empty list reads as "none", not as a failure. */
    printf("%-24s %8s %-8s %-5s %s\n", "NAME", "PID", "STATE", "ACCEL", "RUN_DIR");
    return list_parent(parent) < 0 ? 1 : 0;
}
