/*
 * Build the QEMU command line for `ukctl run`.
 */
#ifndef UKCTL_QEMU_ARGV_H
#define UKCTL_QEMU_ARGV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run_opts.h"

/* Everything the command line depends on, already resolved. */
struct qemu_plan {
    const char *qemu;     /* binary, becomes argv[0] */
    const char *image;    /* absolute path of the PVH ELF */
    const char *run_dir;  /* absolute path; files below it are named in argv */
    const char *cmdline;  /* NULL or "": no -append */
    const char *token_file; /* NULL: none; else passed as fw_cfg opt/ukscope/token */
    enum run_accel accel; /* RUN_ACCEL_KVM or RUN_ACCEL_TCG, never AUTO */
    unsigned smp;
    unsigned mem_mib;
    bool detach;                /* console to console.log only, not stdio */
    bool start_paused;          /* -S: ukctl sends "cont" once QMP is up */
    const struct run_fwd *fwds; /* host ports all non-zero */
    size_t nfwds;
    bool net; /* false: no NIC at all (fwds ignored) */
    uint64_t tsc_hz; /* > 0: append tsc_hz=N to the kernel command line unless it has one */
};

/*
 * `s` with every ',' doubled, as QEMU's option parser wants inside a value
 * (a lone ',' would end the value and start a new option).  malloc'd; NULL
 * with errno ENOMEM.
 */
char *qemu_opt_escape(const char *s);

/*
 * Every path put into an option string (`key=value,...`) is escaped with
 * qemu_opt_escape; -kernel and -append take their argument verbatim.
 * Pure: returns a malloc'd NULL-terminated argv (free with qemu_argv_free),
 * or NULL with errno EINVAL (bad plan) or ENOMEM.
 */
char **qemu_argv_build(const struct qemu_plan *plan);
void qemu_argv_free(char **argv);

#endif
