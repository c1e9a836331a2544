/*
 * <run dir>/instance.json: what `ukctl run` started, for stop/list and for
 * the other host tools.  Keys are listed in docs/ukctl.md.
 */
#ifndef UKCTL_INSTANCE_H
#define UKCTL_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "run_opts.h"

#define INSTANCE_FILE "instance.json"

/* The fields written; strings are borrowed. */
struct instance_info {
    const char *name;
    pid_t pid;         /* QEMU */
    unsigned long long qemu_start_time; /* field 22 of /proc/PID/stat */
    const char *qemu_exe;               /* /proc/PID/exe at launch */
    pid_t ukctl_pid;   /* the `ukctl run` that started it */
    const char *accel; /* "kvm" or "tcg" */
    unsigned smp;
    unsigned mem_mib;
    const char *image; /* absolute */
    const char *cmdline; /* as passed to -append: never holds the token */
    const char *run_dir; /* absolute */
    const char *token_file; /* the 0600 file holding the control token */
    const char *started_at;
    const struct run_fwd *fwds;
    size_t nfwds;
    char *const *qemu_argv; /* NULL-terminated */
};

/* Write <run_dir>/instance.json atomically (tmp file + rename). 0 / -1+errno. */
int instance_write(const struct instance_info *info);

/* The subset stop/list need, copied out of the file. */
struct instance_summary {
    char name[256];
    char accel[16];
    char run_dir[4096];
    char qmp_socket[4096];
    pid_t pid;
    /* The QEMU's identity at launch; has_id false for a file written by an
     * older ukctl (its pid is then never signalled). */
    bool has_id;
    unsigned long long qemu_start_time;
    char qemu_exe[4096];
};

/*
 * True if in->pid is still the QEMU that was started for this instance: it
 * exists, is not a zombie, and its start time and executable match those
 * recorded.  Otherwise false, with the reason in why (e.g. "pid 123 started
 * at another time: not the QEMU this instance started").
 */
bool instance_is_ours(const struct instance_summary *in, char *why, size_t whylen);

/*
 * Read <run_dir>/instance.json.  -1 with errno ENOENT if absent, EINVAL if it
 * is not a valid instance file (err then says why), or another errno.
 */
int instance_read(const char *run_dir, struct instance_summary *out, char *err, size_t errlen);

#endif
