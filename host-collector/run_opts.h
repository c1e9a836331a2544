/*
 * Command-line options of `ukctl run`.
 */
#ifndef UKCTL_RUN_OPTS_H
#define UKCTL_RUN_OPTS_H

#include <stdbool.h>
#include <stddef.h>

enum run_accel {
    RUN_ACCEL_AUTO = 0, /* KVM if /dev/kvm is usable, else TCG */
    RUN_ACCEL_KVM,
    RUN_ACCEL_TCG,
};

enum run_on_panic {
    RUN_ON_PANIC_QUIT = 0, /* quit QEMU, ukctl exits with UK_EXIT_PANIC */
    RUN_ON_PANIC_PAUSE,    /* keep QEMU paused until Ctrl-C / SIGTERM */
};

#define RUN_MAX_FWDS 16
#define RUN_SMP_MAX  16
#define RUN_MEM_MIN  16      /* MiB */
#define RUN_MEM_MAX  1048576 /* MiB */
#define RUN_MEM_DEF  128

/* A TCP host-to-guest port forward; host == 0 means "pick a free port". */
struct run_fwd {
    unsigned host;
    unsigned guest;
};

/*
 * Parsed options.  Strings point into the argv given to run_opts_parse and
 * live as long as it does.
 */
struct run_opts {
    const char *name;    /* NULL: image basename + "-" + pid */
    const char *cmdline; /* NULL: empty */
    const char *run_dir; /* NULL: default parent / name */
    const char *image;
    unsigned smp;
    unsigned mem_mib;
    enum run_accel accel;
    enum run_on_panic on_panic;
    bool detach;
    bool keep;
    bool no_net;
    bool help; /* --help given: nothing else is validated */
    struct run_fwd fwds[RUN_MAX_FWDS];
    size_t nfwds; /* 0 with !no_net means the default forwards */
};

/*
 * Parse `ukctl run` arguments; argv[0] is the subcommand name and is skipped.
 * Options take their value as the next word or after '='; "--" ends options.
 * Exactly one IMAGE is required (unless --help).  Pure: no I/O, no globals.
 * Returns 0, or -1 with a one-line message (no "ukctl: " prefix) in err.
 */
int run_opts_parse(int argc, char **argv, struct run_opts *out, char *err, size_t errlen);

/* The `ukctl run --help` text. */
extern const char run_opts_usage[];

#endif
