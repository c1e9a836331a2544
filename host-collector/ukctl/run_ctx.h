/*
 * State shared by the steps of one `ukctl run` (run.c: prepare and launch;
 * run_supervise.c: the foreground loop).  Private to host-collector/.
 */
#ifndef UKCTL_RUN_CTX_H
#define UKCTL_RUN_CTX_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "qmp.h"
#include "run_opts.h"

#define QMP_CONNECT_MS 10000
#define QMP_REPLY_MS   5000
#define QUIT_GRACE_MS  10000

/* State shared by the steps of one `ukctl run`. */
struct run_ctx {
    struct run_opts o;
    char qemu[PATH_MAX];
    char image[PATH_MAX];
    char run_dir[PATH_MAX];
    int dir_fd;                /* the verified run dir; files are created through it */
    char token_path[PATH_MAX]; /* RUN/token (0600) */
    char cmdline[8192];        /* --cmdline without any token= word */
    char name[256];
    enum run_accel accel;
    struct run_fwd fwds[RUN_MAX_FWDS];
    size_t nfwds;
    char **argv;
    pid_t pid;
    struct qmp qmp;
    bool started;  /* "cont" succeeded: the guest ran */
    bool panicked; /* GUEST_PANICKED seen */
    bool quitting; /* quit requested (signal or panic) */
    bool made_dir; /* the run dir is ours to clean up */
};

/* Self-pipe the signal handler writes signal numbers to (run.c). */
extern int sig_pipe[2];

/*
 * Name, check and (re)create the run dir, then create the files QEMU opens
 * by name (run_files.c).  Sets run_dir, dir_fd, made_dir; prints on failure.
 */
int prepare_run_dir(struct run_ctx *c);

/* Pick the control token and write RUN/token; sets cmdline and token_path. */
int setup_token(struct run_ctx *c);

/* Tell the person at the terminal where the instance's pieces are. */
void print_wiring(const struct run_ctx *c);

/* QMP event callback: notes GUEST_PANICKED. */
void on_event(void *ctx, const struct qmp_msg *msg);

/* Wait for QEMU, reacting to QMP events and signals; 0 with *wstatus set. */
int supervise(struct run_ctx *c, int *wstatus);

/* Quote the last line of RUN/qemu.log in an error starting with `what`. */
void report_qemu_log(const struct run_ctx *c, const char *what);

/* Map QEMU's wait status to ukctl's exit status (see run.h). */
int exit_status(struct run_ctx *c, int ws);

#endif
