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
/* Longest control token; the guest's UK_SECRET_MAX (uk/cmdline.h) agrees. */
#define RUN_TOKEN_MAX          128
/* A generated token: this many random bytes, as hex. */
#define RUN_TOKEN_RANDOM_BYTES 24

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
    const char *token_file; /* NULL: ukctl generates a token */
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
 * Parse `ukctl run` arguments with getopt_long; argv[0] is the subcommand
 * name and is skipped.  Options take their value as the next word or after
 * '=', may follow IMAGE, and may be abbreviated when unambiguous; "--" ends
 * options.  Exactly one IMAGE is required (unless --help).  No I/O; uses
 * getopt's globals (reset on each call) and may permute argv.
 * Returns 0, or -1 with a one-line message (no "ukctl: " prefix) in err.
 */
int run_opts_parse(int argc, char **argv, struct run_opts *out, char *err, size_t errlen);

/*
 * Split a kernel command line into the value of its last `token=` word
 * (copied to token) and the other words (copied to rest, single-spaced).
 * Returns 1 if a token was found, 0 if not, -1 with errno EINVAL (quoted
 * or too-long token) or ENAMETOOLONG (rest does not fit).
 */
int run_cmdline_take_token(const char *cmdline, char *rest, size_t restlen, char *token,
                           size_t toklen);

/* The `ukctl run --help` text. */
extern const char run_opts_usage[];

#endif
