/*
 * `ukctl run`: boot an image under QEMU microvm and supervise it.
 *
 * QEMU starts paused (-S); ukctl connects to QMP, writes instance.json and
 * sends "cont", so a QEMU error is always told apart from a guest that ran.
 * In the foreground ukctl then watches QMP events and signals until QEMU
 * exits and maps QEMU's exit code to the guest's status (see run.h).
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <uk/panic.h>

#include "instance.h"
#include "host_tsc.h"
#include "qemu_argv.h"
#include "qmp.h"
#include "run_opts.h"
#include "run_ctx.h"
#include "util.h"

int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int e = errno;
    unsigned char c = (unsigned char)sig;

    if (write(sig_pipe[1], &c, 1) < 0) {
        /* Pipe full: a wakeup is pending anyway. */
    }
    errno = e;
}

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};

static int setup_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    size_t i;

    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
        if (sigaction(handled_signals[i], &sa, NULL) < 0)
            return -1;
    return 0;
}

/* Resolve binary, image, accel, name, run dir, token and ports; prints on failure. */
static int prepare(struct run_ctx *c)
{
    const char *qemu = getenv("UKCTL_QEMU");
    size_t i;

    if (!qemu || !*qemu)
        qemu = "qemu-system-x86_64";
    if (util_find_program(qemu, c->qemu, sizeof(c->qemu)) < 0) {
        ukctl_err("QEMU binary not found: %s", qemu);
        return -1;
    }
    if (!realpath(c->o.image, c->image)) {
        ukctl_err("Failed to open image %s: %s", c->o.image, strerror(errno));
        return -1;
    }
    if (util_check_elf(c->image) < 0) {
        ukctl_err("Failed to load image %s: %s", c->o.image,
                  errno == ENOEXEC ? "not an ELF file" : strerror(errno));
        return -1;
    }

    c->accel = c->o.accel;
    if (c->accel == RUN_ACCEL_AUTO) {
        c->accel = util_kvm_usable() ? RUN_ACCEL_KVM : RUN_ACCEL_TCG;
        if (c->accel == RUN_ACCEL_KVM && util_kvm_is_pvm()) {
            /* Emulated under PVM: TCG is ~10-50x faster for this guest.  A
             * note for people; scripts read "accel" in instance.json. */
            if (isatty(STDERR_FILENO))
                fprintf(stderr, "ukctl: host KVM is kvm_pvm, which emulates non-PVM guests; "
                                "using TCG (--accel kvm forces KVM)\n");
            c->accel = RUN_ACCEL_TCG;
        }
    }
    else if (c->accel == RUN_ACCEL_KVM && !util_kvm_usable()) {
        ukctl_err("Failed to open /dev/kvm: KVM requested but not usable");
        return -1;
    }

    if (c->o.name)
        snprintf(c->name, sizeof(c->name), "%s", c->o.name);
    else
        snprintf(c->name, sizeof(c->name), "%s-%d", basename(c->image), (int)getpid());

    if (prepare_run_dir(c) < 0 || setup_token(c) < 0)
        return -1;

    if (!c->o.no_net && c->o.nfwds == 0) {
        c->fwds[0] = (struct run_fwd){0, 8080};
        c->fwds[1] = (struct run_fwd){0, 8081};
        c->nfwds = 2;
    } else if (!c->o.no_net) {
        memcpy(c->fwds, c->o.fwds, sizeof(c->fwds));
        c->nfwds = c->o.nfwds;
    }
    for (i = 0; i < c->nfwds; i++) {
        size_t j;

        while (c->fwds[i].host == 0) {
            if (util_free_port(&c->fwds[i].host) < 0) {
                ukctl_err("Failed to find a free port: %s", strerror(errno));
                return -1;
            }
            for (j = 0; j < c->nfwds; j++)
                if (j != i && c->fwds[j].host == c->fwds[i].host)
                    c->fwds[i].host = 0;
        }
    }
    return 0;
}

/* Print the last non-empty line QEMU wrote to <run>/qemu.log, as one error. */
void report_qemu_log(const struct run_ctx *c, const char *what)
{
    char path[PATH_MAX + 16], line[512], last[512] = "";
    FILE *f;

    if (util_path(path, sizeof(path), "%s/qemu.log", c->run_dir) == 0 && (f = fopen(path, "r"))) {
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0])
                snprintf(last, sizeof(last), "%s", line);
        }
        fclose(f);
    }
    ukctl_err("%s%s%s", what, last[0] ? ": " : "", last);
}

static void child_exec(struct run_ctx *c, int log_fd)
{
    sigset_t none;
    size_t i;
    int null_fd = open("/dev/null", O_RDWR);

    for (i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
        signal(handled_signals[i], SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* A foreground instance must not outlive a killed ukctl. */
    if (!c->o.detach)
        prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (c->o.detach) {
        setsid();
        dup2(null_fd, 0);
        dup2(null_fd, 1);
    } else if (!isatty(0)) {
        /* Terminal signals reach only ukctl, which quits QEMU over QMP. */
        setpgid(0, 0);
    }
    dup2(log_fd, 2);
    /* Sockets QEMU binds (and any file it creates) get 0600: bind(2) takes
     * its mode from the umask.  The run dir is 0700 as well. */
    umask(0177);
    execvp(c->argv[0], c->argv);
    dprintf(2, "ukctl: Failed to execute %s: %s\n", c->argv[0], strerror(errno));
    _exit(127);
}

/* Fork QEMU (paused), connect to QMP, write instance.json, "cont". */
static int launch(struct run_ctx *c)
{
    struct qemu_plan plan = {
        .qemu = c->qemu,
        .image = c->image,
        .run_dir = c->run_dir,
        .cmdline = c->cmdline,
        .token_file = c->token_path,
        .accel = c->accel,
        .smp = c->o.smp,
        .mem_mib = c->o.mem_mib,
        .detach = c->o.detach,
        .start_paused = true,
        .fwds = c->fwds,
        .nfwds = c->nfwds,
        .net = !c->o.no_net,
        /* Under TCG the guest's TSC is the host's; KVM guests read theirs
         * from CPUID or kvmclock. */
        .tsc_hz = c->accel == RUN_ACCEL_TCG ? host_tsc_hz() : 0,
    };
    char path[PATH_MAX + 16], started_at[32];
    struct util_proc_id qid;
    int log_fd, waited = 0, status;

    c->argv = qemu_argv_build(&plan);
    if (!c->argv) {
        ukctl_err("Failed to build QEMU command line: %s", strerror(errno));
        return -1;
    }
    util_path(path, sizeof(path), "%s/qemu.log", c->run_dir);
    log_fd = util_create_file(c->dir_fd, "qemu.log", O_WRONLY, 0600);
    if (log_fd < 0) {
        ukctl_err("Failed to create %s: %s", path, strerror(errno));
        return -1;
    }
    c->pid = fork();
    if (c->pid < 0) {
        ukctl_err("Failed to fork: %s", strerror(errno));
        close(log_fd);
        return -1;
    }
    if (c->pid == 0)
        child_exec(c, log_fd);
    close(log_fd);
    util_now_iso8601(started_at, sizeof(started_at));

    util_path(path, sizeof(path), "%s/qmp.sock", c->run_dir);
    qmp_init(&c->qmp, -1);
    while (qmp_connect(&c->qmp, path, 100) != QMP_OK) {
        if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
            c->pid = -1;
            report_qemu_log(c, "QEMU failed to start");
            return -1;
        }
        if ((waited += 100) >= QMP_CONNECT_MS) {
            ukctl_err("Failed to connect to QMP: %s", c->qmp.err);
            return -1;
        }
    }
    if (qmp_handshake(&c->qmp, QMP_REPLY_MS) != QMP_OK) {
        ukctl_err("Failed to negotiate QMP: %s", c->qmp.err);
        return -1;
    }
    /* QEMU answers QMP, so it has exec'd: record who it is for `ukctl stop`. */
    if (util_proc_identity(c->pid, &qid) < 0) {
        ukctl_err("Failed to inspect QEMU (pid %d): %s", (int)c->pid, strerror(errno));
        return -1;
    }

    struct instance_info info = {
        .name = c->name,
        .pid = c->pid,
        .qemu_start_time = qid.start_time,
        .qemu_exe = qid.exe,
        .ukctl_pid = getpid(),
        .accel = c->accel == RUN_ACCEL_KVM ? "kvm" : "tcg",
        .smp = c->o.smp,
        .mem_mib = c->o.mem_mib,
        .image = c->image,
        .cmdline = c->cmdline,
        .run_dir = c->run_dir,
        .token_file = c->token_path,
        .started_at = started_at,
        .fwds = c->fwds,
        .nfwds = c->nfwds,
        .qemu_argv = c->argv,
    };
    if (instance_write(&info) < 0) {
        ukctl_err("Failed to write instance.json: %s", strerror(errno));
        return -1;
    }
    /* Events can arrive with the reply to "cont" (a guest that panics at
     * once): listen before starting it. */
    c->qmp.on_event = on_event;
    c->qmp.event_ctx = c;
    int rc = qmp_execute(&c->qmp, "cont", NULL, NULL, QMP_REPLY_MS);
    /* EOF: "cont" was delivered and the guest ran and exited before QEMU
     * replied (a guest that exits at once); its status is in QEMU's. */
    if (rc != QMP_OK && rc != QMP_ERR_EOF) {
        ukctl_err("Failed to start the guest: %s", c->qmp.err);
        return -1;
    }
    c->started = true;
    return 0;
}

int run_main(int argc, char **argv)
{
    struct run_ctx c = {.pid = -1, .dir_fd = -1, .qmp = {.fd = -1}};
    char err[512];
    int ret = UKCTL_EXIT_LAUNCH, ws;

    if (run_opts_parse(argc, argv, &c.o, err, sizeof(err)) < 0) {
        ukctl_err("%s", err);
        return UKCTL_EXIT_USAGE;
    }
    if (c.o.help) {
        fputs(run_opts_usage, stdout);
        return 0;
    }
    if (setup_signals() < 0) {
        ukctl_err("Failed to set up signals: %s", strerror(errno));
        return UKCTL_EXIT_LAUNCH;
    }
    if (prepare(&c) < 0)
        goto cleanup;
    if (launch(&c) < 0)
        goto cleanup;
    if (c.o.detach) {
        qmp_close(&c.qmp);
        printf("%s\n", c.run_dir);
        ret = 0;
        goto cleanup;
    }
    print_wiring(&c);
    if (supervise(&c, &ws) < 0) {
        ukctl_err("Failed to wait for QEMU: %s", strerror(errno));
        goto cleanup;
    }
    c.pid = -1;
    ret = exit_status(&c, ws);
cleanup:
    if (c.pid > 0 && (!c.o.detach || ret != 0)) { /* a launch step failed */
        kill(c.pid, SIGKILL);
        waitpid(c.pid, NULL, 0);
    }
    qmp_close(&c.qmp);
    qemu_argv_free(c.argv);
    if (c.dir_fd >= 0)
        close(c.dir_fd);
    if (c.made_dir && !(c.o.detach && ret == 0)) {
        if (c.panicked || (c.started && ret == UK_EXIT_PANIC)) {
            if (!c.panicked)
                ukctl_err("guest panicked; run dir kept at %s", c.run_dir);
        } else if (c.o.keep) {
            ukctl_err("run dir kept at %s", c.run_dir);
        } else if (util_remove_run_dir(c.run_dir) < 0 && errno == ENOTEMPTY) {
            fprintf(stderr, "ukctl: kept %s: it holds files ukctl did not create\n", c.run_dir);
        }
    }
    return ret;
}
