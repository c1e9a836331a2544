/*
 * ukctl telemetry: connect to an instance's telemetry socket (or read a
 * captured stream), decode and print it; see docs/telemetry.md.
 *
 * Exit status: 0 when the stream was clean, 1 when it had decode errors,
 * unexplained gaps or a loss-count mismatch, or could not be read; 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "telemetry_print.h"
#include "run.h"
#include "util.h"

static const char usage[] =
    "Usage: ukctl telemetry [OPTIONS] (RUN_DIR | --input FILE)\n"
    "Decode an instance's telemetry stream (docs/telemetry.md).\n"
    "\n"
    "  -j, --json         one JSON object per line instead of text\n"
    "  -f, --follow       read until the stream ends or SIGINT/SIGTERM\n"
    "  -t, --for SECS     read for SECS seconds (default 3; ignored with --follow)\n"
    "  -n, --count N      stop after N envelopes\n"
    "  -r, --raw FILE     also save the bytes as received to FILE\n"
    "  -i, --input FILE   decode a captured stream (- for stdin) instead of RUN_DIR\n"
    "      --no-replay    do not print the boot's log records from the kernel log\n"
    "                     ring (RUN_DIR/ram) before the stream\n"
    "  -h, --help         this text\n"
    "\n"
    "Exit status: 0 clean stream, 1 decode errors, unexplained gaps, loss\n"
    "mismatch or no stream, 2 usage.\n";

struct opts {
    bool json, follow, help, no_replay;
    double for_s;
    unsigned long long count;
    const char *raw, *input, *run_dir;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},      {"follow", no_argument, NULL, 'f'},
        {"for", required_argument, NULL, 't'}, {"count", required_argument, NULL, 'n'},
        {"raw", required_argument, NULL, 'r'}, {"input", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},      {"no-replay", no_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    char *end;
    int c;

    memset(o, 0, sizeof(*o));
    o->for_s = 3;
    optind = 1;
    opterr = 0; /* one line per usage error, ours */
    while ((c = getopt_long(argc, argv, "+jft:n:r:i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o->json = true;
            break;
        case 'f':
            o->follow = true;
            break;
        case 't':
            errno = 0;
            o->for_s = strtod(optarg, &end);
            if (errno || *end || !(o->for_s > 0)) {
                ukctl_err("Failed to parse --for %s: want seconds > 0; see ukctl telemetry --help", optarg);
                return -1;
            }
            break;
        case 'n':
            errno = 0;
            o->count = strtoull(optarg, &end, 10);
            if (errno || *end || !o->count || optarg[0] == '-') {
                ukctl_err("Failed to parse --count %s: want an integer > 0; see ukctl telemetry --help", optarg);
                return -1;
            }
            break;
        case 'r':
            o->raw = optarg;
            break;
        case 'i':
            o->input = optarg;
            break;
        case 'h':
            o->help = true;
            return 0;
        case 'R':
            o->no_replay = true;
            break;
        default:
            ukctl_err("Failed to parse arguments: %s is unknown or lacks its value; see "
                      "ukctl telemetry --help", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc)
        o->run_dir = argv[optind++];
    if (optind < argc) {
        ukctl_err("Failed to parse arguments: unexpected %s; see ukctl telemetry --help",
                  argv[optind]);
        return -1;
    }
    if ((!o->run_dir) == (!o->input)) {
        ukctl_err("Failed to parse arguments: give a RUN_DIR or --input FILE (one of them); "
                  "see ukctl telemetry --help");
        return -1;
    }
    return 0;
}

/* A run-dir file: instance.json's `key`, else RUN_DIR/deflt. */
static int run_file(const char *run_dir, const char *key, const char *deflt, char *buf,
                    size_t len)
{
    char path[4096];
    json_t *root, *v;
    int rc = -1;

    if (util_path(path, sizeof(path), "%s/instance.json", run_dir) < 0)
        return -1;
    root = json_load_file(path, 0, NULL);
    v = root ? json_object_get(root, key) : NULL;
    if (json_is_string(v))
        rc = util_path(buf, len, "%s", json_string_value(v));
    else
        rc = util_path(buf, len, "%s/%s", run_dir, deflt);
    json_decref(root);
    return rc;
}

static int open_input(const struct opts *o)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[4096];
    int fd;

    if (o->input) {
        fd = strcmp(o->input, "-") ? open(o->input, O_RDONLY | O_CLOEXEC) : dup(0);
        if (fd < 0)
            ukctl_err("Failed to open %s: %s", o->input, strerror(errno));
        return fd;
    }
    if (run_file(o->run_dir, "telemetry_socket", "telemetry.sock", path, sizeof(path)) < 0 ||
        strlen(path) >= sizeof(sa.sun_path)) {
        ukctl_err("Failed to find the telemetry socket of %s: path too long", o->run_dir);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        ukctl_err("Failed to connect to %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Hand every complete event to the stream; false once --count is reached. */
static bool drain(struct telem_decoder *d, struct telem_stream *s, const struct opts *o)
{
    telem_envelope *e;
    char err[256];

    while (!stop) {
        switch (telem_dec_next(d, &e, err, sizeof(err))) {
        case TELEM_DEC_MORE:
            return true;
        case TELEM_DEC_ERROR:
            telem_stream_problem(s, "error", err);
            break;
        case TELEM_DEC_RESYNCED:
            telem_stream_problem(s, "resync", err);
            /* the frame after the garbage */
            __attribute__((fallthrough));
        case TELEM_DEC_FRAME:
            telem_stream_envelope(s, e);
            telem_envelope_free(e);
            if (o->count && s->frames >= o->count)
                return false;
            break;
        }
    }
    return false;
}

int telemetry_main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_signal};
    struct telem_decoder dec = {0};
    struct telem_stream st;
    struct opts o;
    FILE *raw = NULL;
    int fd = -1, rc = 1;
    double deadline;
    char err[256];

    if (parse(argc, argv, &o) < 0)
        return UKCTL_EXIT_USAGE;
    if (o.help) {
        fputs(usage, stdout);
        return 0;
    }
    if (telem_dec_init(&dec) < 0) {
        ukctl_err("Failed to allocate the decoder: out of memory");
        return 1;
    }
    telem_stream_init(&st, stdout, o.json);
    if (o.raw && !(raw = fopen(o.raw, "wb"))) {
        ukctl_err("Failed to open %s: %s", o.raw, strerror(errno));
        goto cleanup;
    }
    /* No SA_RESTART: a signal must end a blocking read or poll at once. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if ((fd = open_input(&o)) < 0)
        goto cleanup;
    /* Connected: what the guest logged before now comes from its log ring. */
    if (o.run_dir && !o.no_replay) {
        char ram[4096];

        if (run_file(o.run_dir, "ram_file", "ram", ram, sizeof(ram)) < 0)
            telem_stream_problem(&st, "replay", "Failed to find the RAM file: path too long");
        else if (telem_replay(ram, &st, err, sizeof(err)) < 0 || err[0])
            telem_stream_problem(&st, "replay", err);
    }
    deadline = now_s() + o.for_s;
    while (!stop) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint8_t buf[65536];
        size_t want = telem_dec_room(&dec) < sizeof(buf) ? telem_dec_room(&dec) : sizeof(buf);
        double left = deadline - now_s();
        ssize_t n;

        if (!o.follow && !o.input && left <= 0)
            break;
        if (!o.input && poll(&p, 1, o.follow ? 500 : (int)(left * 1000) + 1) <= 0)
            continue;
        n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ukctl_err("Failed to read the telemetry stream: %s", strerror(errno));
            goto cleanup;
        }
        if (n == 0) {
            telem_dec_eof(&dec);
            drain(&dec, &st, &o);
            if (telem_dec_finish(&dec, err, sizeof(err)) < 0)
                telem_stream_problem(&st, "truncated", err);
            break;
        }
        if (raw)
            fwrite(buf, 1, (size_t)n, raw);
        telem_dec_feed(&dec, buf, (size_t)n);
        if (!drain(&dec, &st, &o))
            break;
    }
    telem_stream_summary(&st);
    rc = st.errors || st.unexplained_gaps || st.loss_checks_bad ? 1 : 0;
cleanup:
    if (fd >= 0)
        close(fd);
    if (raw)
        fclose(raw);
    telem_dec_free(&dec);
    return rc;
}
