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
 * Pure: returns a malloc'd NULL-terminated argv (free with qemu_argv_free),
 * or NULL with errno EINVAL (bad plan) or ENOMEM.
 */
char **qemu_argv_build(const struct qemu_plan *plan);
void qemu_argv_free(char **argv);

#endif
