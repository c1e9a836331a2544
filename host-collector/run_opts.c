/* Option parsing for `ukctl run`; see run_opts.h. */
#include "run_opts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char run_opts_usage[] =
    "Usage: ukctl run [OPTIONS] IMAGE\n"
    "Boot the unikernel IMAGE (a PVH ELF) under QEMU microvm.\n"
    "\n"
    "  --name N           instance name (default: image basename + pid)\n"
    "  --smp N            vCPUs, 1..16 (default 1)\n"
    "  --mem MiB          guest RAM, >= 16 (default 128)\n"
    "  --cmdline S        kernel command line (default empty)\n"
    "  --run-dir D        run dir (default $XDG_RUNTIME_DIR/ukscope/NAME\n"
    "                     or /tmp/ukscope-$UID/NAME)\n"
    "  --accel A          kvm, tcg or auto (default auto)\n"
    "  --fwd H:G          forward 127.0.0.1:H to guest TCP port G (repeatable;\n"
    "                     H=0 picks a free port; default 0:8080 and 0:8081)\n"
    "  --no-net           no network device\n"
    "  --on-panic A       quit (default) or pause: keep a panicked guest paused\n"
    "  --detach           start in the background; stop with `ukctl stop DIR`\n"
    "  --keep             keep the run dir on exit\n"
    "  --help             this text\n"
    "\n"
    "Environment: UKCTL_QEMU overrides the QEMU binary (qemu-system-x86_64).\n"
    "\n"
    "Exit status: the guest's status (0 ok, 1 fail, 2 panic); 2 also for usage\n"
    "errors (with a message); 125 when ukctl or QEMU failed to run the guest.\n";

enum opt_id {
    OPT_NAME,
    OPT_SMP,
    OPT_MEM,
    OPT_CMDLINE,
    OPT_RUN_DIR,
    OPT_ACCEL,
    OPT_FWD,
    OPT_ON_PANIC,
    OPT_NO_NET,
    OPT_DETACH,
    OPT_KEEP,
    OPT_HELP,
};

struct opt_def {
    const char *name;
    enum opt_id id;
    bool has_arg;
};

static const struct opt_def opt_defs[] = {
    {"--name", OPT_NAME, true},       {"--smp", OPT_SMP, true},
    {"--mem", OPT_MEM, true},         {"--cmdline", OPT_CMDLINE, true},
    {"--run-dir", OPT_RUN_DIR, true}, {"--accel", OPT_ACCEL, true},
    {"--fwd", OPT_FWD, true},         {"--on-panic", OPT_ON_PANIC, true},
    {"--no-net", OPT_NO_NET, false},  {"--detach", OPT_DETACH, false},
    {"--keep", OPT_KEEP, false},      {"--help", OPT_HELP, false},
    {"-h", OPT_HELP, false},
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Format the error; control characters (from user input) become '?' so it stays one line. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    char *p;

    if (errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        for (p = err; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    }
    return -1;
}

/* Parse a decimal in [min, max]; the whole string must be digits. */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned *out)
{
    unsigned long v;
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_fwd(const char *s, struct run_fwd *fwd)
{
    char host[8];
    const char *colon = strchr(s, ':');
    size_t hl;

    if (!colon)
        return -1;
    hl = (size_t)(colon - s);
    if (hl == 0 || hl >= sizeof(host))
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (parse_uint(host, 0, 65535, &fwd->host) < 0)
        return -1;
    return parse_uint(colon + 1, 1, 65535, &fwd->guest);
}

/* Find the option `arg` names; *val is set for the "--opt=value" form. */
static const struct opt_def *find_opt(const char *arg, const char **val)
{
    size_t i, n;

    *val = NULL;
    for (i = 0; i < sizeof(opt_defs) / sizeof(opt_defs[0]); i++) {
        n = strlen(opt_defs[i].name);
        if (strncmp(arg, opt_defs[i].name, n) != 0)
            continue;
        if (arg[n] == '\0')
            return &opt_defs[i];
        if (arg[n] == '=' && opt_defs[i].has_arg) {
            *val = arg + n + 1;
            return &opt_defs[i];
        }
    }
    return NULL;
}

static int apply_opt(const struct opt_def *d, const char *val, struct run_opts *o, char *err,
                     size_t errlen)
{
    switch (d->id) {
    case OPT_NAME:
        if (!*val || strchr(val, '/') || !strcmp(val, ".") || !strcmp(val, ".."))
            return fail(err, errlen, "invalid --name: '%s'", val);
        o->name = val;
        break;
    case OPT_SMP:
        if (parse_uint(val, 1, RUN_SMP_MAX, &o->smp) < 0)
            return fail(err, errlen, "invalid --smp: '%s' (want 1..%d)", val, RUN_SMP_MAX);
        break;
    case OPT_MEM:
        if (parse_uint(val, RUN_MEM_MIN, RUN_MEM_MAX, &o->mem_mib) < 0)
            return fail(err, errlen, "invalid --mem: '%s' (want %d..%d MiB)", val, RUN_MEM_MIN,
                        RUN_MEM_MAX);
        break;
    case OPT_CMDLINE:
        o->cmdline = val;
        break;
    case OPT_RUN_DIR:
        if (!*val)
            return fail(err, errlen, "invalid --run-dir: empty");
        o->run_dir = val;
        break;
    case OPT_ACCEL:
        if (!strcmp(val, "auto"))
            o->accel = RUN_ACCEL_AUTO;
        else if (!strcmp(val, "kvm"))
            o->accel = RUN_ACCEL_KVM;
        else if (!strcmp(val, "tcg"))
            o->accel = RUN_ACCEL_TCG;
        else
            return fail(err, errlen, "invalid --accel: '%s' (want kvm, tcg or auto)", val);
        break;
    case OPT_FWD:
        if (o->nfwds == RUN_MAX_FWDS)
            return fail(err, errlen, "too many --fwd (max %d)", RUN_MAX_FWDS);
        if (parse_fwd(val, &o->fwds[o->nfwds]) < 0)
            return fail(err, errlen, "invalid --fwd: '%s' (want HOSTPORT:GUESTPORT)", val);
        o->nfwds++;
        break;
    case OPT_ON_PANIC:
        if (!strcmp(val, "quit"))
            o->on_panic = RUN_ON_PANIC_QUIT;
        else if (!strcmp(val, "pause"))
            o->on_panic = RUN_ON_PANIC_PAUSE;
        else
            return fail(err, errlen, "invalid --on-panic: '%s' (want quit or pause)", val);
        break;
    case OPT_NO_NET:
        o->no_net = true;
        break;
    case OPT_DETACH:
        o->detach = true;
        break;
    case OPT_KEEP:
        o->keep = true;
        break;
    case OPT_HELP:
        o->help = true;
        break;
    }
    return 0;
}

int run_opts_parse(int argc, char **argv, struct run_opts *out, char *err, size_t errlen)
{
    bool opts_done = false;
    int i;

    memset(out, 0, sizeof(*out));
    out->smp = 1;
    out->mem_mib = RUN_MEM_DEF;
    if (errlen)
        err[0] = '\0';

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i], *val;
        const struct opt_def *d;

        if (!arg)
            return fail(err, errlen, "NULL argument");
        if (opts_done || arg[0] != '-' || arg[1] == '\0') {
            if (out->image)
                return fail(err, errlen, "unexpected argument '%s' (one IMAGE only)", arg);
            out->image = arg;
            continue;
        }
        if (!strcmp(arg, "--")) {
            opts_done = true;
            continue;
        }
        d = find_opt(arg, &val);
        if (!d)
            return fail(err, errlen, "unknown option '%s' (see ukctl run --help)", arg);
        if (d->has_arg && !val) {
            if (i + 1 >= argc || !argv[i + 1])
                return fail(err, errlen, "option %s needs a value", d->name);
            val = argv[++i];
        }
        if (apply_opt(d, val, out, err, errlen) < 0)
            return -1;
        if (out->help)
            return 0;
    }
    if (!out->image)
        return fail(err, errlen, "missing IMAGE (see ukctl run --help)");
    if (out->no_net && out->nfwds)
        return fail(err, errlen, "--fwd conflicts with --no-net");
    return 0;
}
