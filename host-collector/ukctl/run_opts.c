/* Option parsing for `ukctl run`; see run_opts.h. */
#include "run_opts.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
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
    "  --token-file F     control token for the guest's /control and /fault\n"
    "                     endpoints, read from F (default: a random one); handed\n"
    "                     over in RUN/token (0600) through fw_cfg, never argv\n"
    "  --detach           start in the background; stop with `ukctl stop DIR`\n"
    "  --keep             keep the run dir on exit\n"
    "  -h, --help         this text\n"
    "\n"
    "A token= word in --cmdline is moved to the token file (with a warning):\n"
    "QEMU's argv is visible to every local user.\n"
    "\n"
    "Environment: UKCTL_QEMU overrides the QEMU binary (qemu-system-x86_64).\n"
    "\n"
    "Exit status: the guest's status (0 ok, 1 fail, 2 panic); 2 also for usage\n"
    "errors (with a message); 125 when ukctl or QEMU failed to run the guest.\n";

/* getopt_long values; above the char range so no short option collides. */
enum opt_id {
    OPT_NAME = 0x100,
    OPT_SMP,
    OPT_MEM,
    OPT_CMDLINE,
    OPT_RUN_DIR,
    OPT_ACCEL,
    OPT_FWD,
    OPT_ON_PANIC,
    OPT_TOKEN_FILE,
    OPT_NO_NET,
    OPT_DETACH,
    OPT_KEEP,
    OPT_HELP = 'h',
};

static const struct option long_opts[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"smp", required_argument, NULL, OPT_SMP},
    {"mem", required_argument, NULL, OPT_MEM},
    {"cmdline", required_argument, NULL, OPT_CMDLINE},
    {"run-dir", required_argument, NULL, OPT_RUN_DIR},
    {"accel", required_argument, NULL, OPT_ACCEL},
    {"fwd", required_argument, NULL, OPT_FWD},
    {"on-panic", required_argument, NULL, OPT_ON_PANIC},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"no-net", no_argument, NULL, OPT_NO_NET},
    {"detach", no_argument, NULL, OPT_DETACH},
    {"keep", no_argument, NULL, OPT_KEEP},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
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

static int apply_opt(int id, const char *val, struct run_opts *o, char *err, size_t errlen)
{
    switch ((enum opt_id)id) {
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
    case OPT_TOKEN_FILE:
        if (!*val)
            return fail(err, errlen, "invalid --token-file: empty");
        o->token_file = val;
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

/* The option with getopt_long value `id`, for messages. */
static const char *opt_name(int id)
{
    for (const struct option *lo = long_opts; lo->name; lo++)
        if (lo->val == id)
            return lo->name;
    return "?";
}

int run_opts_parse(int argc, char **argv, struct run_opts *out, char *err, size_t errlen)
{
    int c, i;

    memset(out, 0, sizeof(*out));
    out->smp = 1;
    out->mem_mib = RUN_MEM_DEF;
    if (errlen)
        err[0] = '\0';
    for (i = 0; i < argc; i++)
        if (!argv[i])
            return fail(err, errlen, "NULL argument");

    /* optind = 0: a full re-initialisation (glibc), so repeated calls work;
     * ':' first: a missing value is reported as ':' so we can word it. */
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        if (c == '?') {
            /* unknown, ambiguous, or a value given to a flag: quote the word */
            const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

            if (optopt && optopt < 0x100 && optopt != 'h')
                return fail(err, errlen, "unknown option '-%c' (see ukctl run --help)", optopt);
            return fail(err, errlen, "unknown option '%s' (see ukctl run --help)", arg);
        }
        if (c == ':')
            return fail(err, errlen, "option --%s needs a value", opt_name(optopt));
        if (apply_opt(c, optarg, out, err, errlen) < 0)
            return -1;
        if (out->help)
            return 0;
    }
    /* getopt_long moved every non-option to argv[optind..]. */
    for (i = optind; i < argc; i++) {
        if (out->image)
            return fail(err, errlen, "unexpected argument '%s' (one IMAGE only)", argv[i]);
        out->image = argv[i];
    }
    if (!out->image)
        return fail(err, errlen, "missing IMAGE (see ukctl run --help)");
    if (out->no_net && out->nfwds)
        return fail(err, errlen, "--fwd conflicts with --no-net");
    return 0;
}

/* A word of a kernel command line, split as the kernel does (quotes). */
static size_t word_end(const char *s, size_t i)
{
    bool quoted = false;

    for (; s[i] && (quoted || !isspace((unsigned char)s[i])); i++)
        if (s[i] == '"')
            quoted = !quoted;
    return i;
}

int run_cmdline_take_token(const char *cmdline, char *rest, size_t restlen, char *token,
                           size_t toklen)
{
    size_t i = 0, o = 0, found = 0;

    if (!restlen || !toklen) {
        errno = EINVAL;
        return -1;
    }
    rest[0] = token[0] = '\0';
    while (cmdline && cmdline[i]) {
        size_t w, e;

        while (isspace((unsigned char)cmdline[i]))
            i++;
        if (!cmdline[i])
            break;
        w = i;
        e = word_end(cmdline, i);
        i = e;
        if (e - w >= 6 && !strncmp(cmdline + w, "token=", 6)) {
            size_t vl = e - w - 6;

            if (vl >= toklen || memchr(cmdline + w + 6, '"', vl)) {
                errno = EINVAL; /* too long, or quoted (a token has no spaces) */
                return -1;
            }
            memcpy(token, cmdline + w + 6, vl);
            token[vl] = '\0';
            found = 1;
            continue;
        }
        if (o + (o ? 1 : 0) + (e - w) >= restlen) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (o)
            rest[o++] = ' ';
        memcpy(rest + o, cmdline + w, e - w);
        o += e - w;
        rest[o] = '\0';
    }
    return (int)found;
}
