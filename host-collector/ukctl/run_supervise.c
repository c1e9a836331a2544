/*
 * `ukctl run` in the foreground: print the wiring, then wait for QEMU while
 * reacting to QMP events (a guest panic) and signals (Ctrl-C, SIGTERM: a
 * graceful QMP quit, a second one kills), and map QEMU's exit to the
 * guest's status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <uk/panic.h>

#include "run.h"
#include "crash/crash_dump.h"
#include "run_ctx.h"
#include "util.h"

/*
 * Foreground runs tell the person at the terminal where things are (stderr,
 * so the guest console on stdout stays clean).
 */
void print_wiring(const struct run_ctx *c)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    /* Name ukctl as it can be run from here: it need not be on PATH. */
    if (n <= 0)
        snprintf(self, sizeof(self), "ukctl");
    else
        self[n] = '\0';
    fprintf(stderr, "ukctl: instance %s (%s, %u CPU%s, %u MiB), run dir %s\n", c->name,
            c->accel == RUN_ACCEL_KVM ? "kvm" : "tcg", c->o.smp, c->o.smp == 1 ? "" : "s",
            c->o.mem_mib, c->run_dir);
    fprintf(stderr, "ukctl:   instance     %s/instance.json\n", c->run_dir);
    fprintf(stderr, "ukctl:   console log  %s/console.log\n", c->run_dir);
    fprintf(stderr, "ukctl:   debugger     gdb %s -ex 'target remote %s/gdb.sock'\n", c->image,
            c->run_dir);
    for (size_t i = 0; i < c->nfwds; i++)
        fprintf(stderr, "ukctl:   port         127.0.0.1:%u -> guest %u\n", c->fwds[i].host,
                c->fwds[i].guest);
    fprintf(stderr, "ukctl:   token        %s (Authorization: Bearer, for /control)\n",
            c->token_path);
    fprintf(stderr, "ukctl:   stop         %s stop %s (Ctrl-C here goes to the guest console)\n",
            self, c->run_dir);
}

/* Ask QEMU to quit over QMP (or with SIGTERM if QMP is gone). */
static void request_quit(struct run_ctx *c)
{
    c->quitting = true;
    if (c->qmp.fd >= 0 && qmp_execute(&c->qmp, "quit", NULL, NULL, QMP_REPLY_MS) == QMP_OK)
        return;
    if (c->pid > 0)
        kill(c->pid, SIGTERM);
}

void on_event(void *ctx, const struct qmp_msg *msg)
{
    struct run_ctx *c = ctx;

    if (strcmp(msg->event, "GUEST_PANICKED") != 0 || c->panicked)
        return;
    c->panicked = true;
    ukctl_err("guest panicked (run dir kept: %s)", c->run_dir);
    crash_on_panic(c->run_dir); /* host-collector/crash: a bundle before QEMU quits */
    if (c->o.on_panic == RUN_ON_PANIC_PAUSE) {
        struct termios t;

        ukctl_err("guest paused for post-mortem; Ctrl-C or `ukctl stop %s` ends it", c->run_dir);
        /* chardev stdio,signal=off turned ISIG off; let Ctrl-C reach us again. */
        if (isatty(0) && tcgetattr(0, &t) == 0) {
            t.c_lflag |= ISIG;
            tcsetattr(0, TCSANOW, &t);
        }
    }
}

/* Foreground: wait for QEMU, reacting to QMP events and signals. */
int supervise(struct run_ctx *c, int *wstatus)
{
    int quit_waited = 0;

    for (;;) {
        struct pollfd pfd[2] = {{.fd = sig_pipe[0], .events = POLLIN},
                                {.fd = c->qmp.fd, .events = POLLIN}};
        struct qmp_msg msg;
        unsigned char sig;
        int n;

        if (waitpid(c->pid, wstatus, WNOHANG) == c->pid)
            return 0;
        if (c->panicked && !c->quitting && c->o.on_panic == RUN_ON_PANIC_QUIT)
            request_quit(c); /* the event may have come with an earlier reply */
        /* A complete message may already be buffered (an event read in the
         * same chunk as an earlier reply): handle it before sleeping. */
        bool buffered = c->qmp.fd >= 0 && c->qmp.len && memchr(c->qmp.buf, '\n', c->qmp.len);
        n = poll(pfd, c->qmp.fd >= 0 ? 2 : 1, buffered ? 0 : c->quitting ? 100 : -1);
        if (n < 0 && errno != EINTR)
            return -1;
        if (c->quitting && n == 0 && (quit_waited += 100) >= QUIT_GRACE_MS)
            kill(c->pid, SIGKILL);
        while (read(sig_pipe[0], &sig, 1) == 1) {
            if (sig == SIGCHLD)
                continue;
            if (c->quitting)
                kill(c->pid, SIGKILL); /* second signal: no more patience */
            else
                request_quit(c);
        }
        while (c->qmp.fd >= 0) {
            int rc = qmp_read(&c->qmp, &msg, 0);

            if (rc == QMP_ERR_TIMEOUT)
                break;
            if (rc < 0) { /* EOF as QEMU exits, or garbage: stop listening */
                if (rc != QMP_ERR_EOF)
                    ukctl_err("QMP: %s", c->qmp.err);
                qmp_close(&c->qmp);
                break;
            }
            if (msg.kind == QMP_MSG_EVENT)
                on_event(c, &msg);
            qmp_msg_clear(&msg);
            if (c->panicked && !c->quitting && c->o.on_panic == RUN_ON_PANIC_QUIT)
                request_quit(c);
        }
    }
}

/* Map QEMU's wait status to ukctl's exit status (see run.h). */
int exit_status(struct run_ctx *c, int ws)
{
    int code;

    if (c->panicked)
        return UK_EXIT_PANIC;
    if (WIFSIGNALED(ws)) {
        ukctl_err("QEMU killed by signal %d", WTERMSIG(ws));
        return UKCTL_EXIT_LAUNCH;
    }
    code = WEXITSTATUS(ws);
    if (code == 0)
        return 0;
    if (code & 1)
        return code >> 1;
    report_qemu_log(c, "QEMU failed");
    return UKCTL_EXIT_LAUNCH;
}
