/*
 * ukcollectd: the fleet collector.  One process, one thread, one epoll
 * loop: a 1 s timerfd tick (discovery, liveness, log collection,
 * supervision), inotify on --root (new run dirs are picked up at once),
 * QMP event sockets, the HTTP API (libmicrohttpd in external-epoll mode)
 * and a signalfd for SIGTERM/SIGINT/SIGCHLD.  See docs/collector.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cd.h"
#include "log.h"
#include "util.h"
#ifdef HAVE_RELPFWD
#include "dash.h"
#include "relpfwd.h"
#endif

struct cd cd;
void supervise_tick(struct inst *in, int64_t now);
void relpglue_init(void);
void relpglue_poll(int64_t now, int64_t budget_ms);
static int64_t tick_budget_ms = 250; /* RELP forwarding per tick: a quarter of the interval */

static const char usage[] =
    "Usage: ukcollectd --root DIR [OPTIONS]\n"
    "Collect logs, state and metrics of every ukscope instance under DIR (run dirs\n"
    "made by `ukctl run --run-dir DIR/NAME` or by this daemon) and serve them over HTTP.\n"
    "\n"
    "  --root DIR         parent of the run dirs (required)\n"
    "  --listen ADDR:PORT HTTP API and /metrics (default 127.0.0.1:9560)\n"
    "  --allow-remote     allow a non-loopback --listen (prints a warning)\n"
    "  --state DIR        log store, positions, specs, token (default\n"
    "                     $XDG_STATE_HOME/ukcollectd, else ~/.local/state/ukcollectd)\n"
    "  --token-file F     bearer token for POST requests (default STATE/token,\n"
    "                     generated 0600 when absent)\n"
    "  --relp HOST:PORT   forward every log record over RELP (when built with relpfwd)\n"
    "  --store-max MiB    rotate an instance's log.jsonl above this size (default 64)\n"
    "  --trace-max MiB    trace store limit per instance (default 64; with the trace store)\n"
    "  --trace-age SECS   drop trace segments older than this (default 3600)\n"
    "  --interval MS      collection interval (default 1000, 10..60000)\n"
    "  --restart-delay MS first restart backoff, doubled per restart up to 60 s\n"
    "                     (default 1000, 10..60000)\n"
    "  --host-trace-events N\n"
    "                     host records kept per instance for the guest+host\n"
    "                     timeline of crash bundles (default 65536, 0: off; BPF)\n"
    "  --no-telemetry     read the klog ring only; leave RUN/telemetry.sock to\n"
    "                     `ukctl telemetry` (QEMU serves one client)\n"
    "  --ukctl PATH       ukctl used to start/stop instances (default: next to ukcollectd)\n"
    "  -v, --verbose      debug log\n"
    "  -h, --help         this text\n";

int64_t cd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cd_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int load_token(const char *file)
{
    char path[4200];
    struct stat st;
    int fd;
    ssize_t n;

    if (file)
        snprintf(path, sizeof(path), "%s", file);
    else
        snprintf(path, sizeof(path), "%s/token", cd.state);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        char hex[49];
        if (util_random_hex(hex, sizeof(hex), 24) < 0)
            return -1;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || write(fd, hex, 48) != 48 || write(fd, "\n", 1) != 1) {
            cd_log(CD_ERR, "Failed to create the token file %s: %s", path, strerror(errno));
            return -1;
        }
        close(fd);
        cd_log(CD_NOTICE, "token generated in %s (0600)", path);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0 || fstat(fd, &st) < 0) {
        cd_log(CD_ERR, "Failed to open the token file %s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_mode & 077) {
        cd_log(CD_ERR, "Failed to use the token file %s: mode %o, want 0600", path,
               st.st_mode & 0777);
        close(fd);
        return -1;
    }
    n = read(fd, cd.token, sizeof(cd.token) - 1);
    close(fd);
    while (n > 0 && (cd.token[n - 1] == '\n' || cd.token[n - 1] == '\r'))
        n--;
    if (n <= 0) {
        cd_log(CD_ERR, "Failed to read a token from %s: empty", path);
        return -1;
    }
    cd.token[n] = 0;
    return 0;
}

static void tick(void)
{
    int64_t t0 = cd_now();

    htglue_poll(); /* before a bundle may take the instance's host records */
    inst_reap_children();
    crashglue_tick(t0);
    inst_scan();
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
        struct inst *in = &cd.inst[i];
        if (!in->used)
            continue;
        inst_tick(in, t0);
        if (!in->used)
            continue;
        supervise_tick(in, t0);
    }
    relpglue_poll(t0, tick_budget_ms);
    api_tick();
    cd.ticks++;
    cd.tick_ms_last = cd_now() - t0;
    history_tick(); /* the console's charts (dash.h), from what this tick collected */
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"root", required_argument, NULL, 'r'},      {"listen", required_argument, NULL, 'l'},
        {"state", required_argument, NULL, 's'},     {"relp", required_argument, NULL, 'R'},
        {"token-file", required_argument, NULL, 't'}, {"allow-remote", no_argument, NULL, 'A'},
        {"store-max", required_argument, NULL, 'm'}, {"ukctl", required_argument, NULL, 'u'},
        {"trace-max", required_argument, NULL, 'T'}, {"trace-age", required_argument, NULL, 'a'},
        {"verbose", no_argument, NULL, 'v'},          {"help", no_argument, NULL, 'h'},
        {"interval", required_argument, NULL, 'i'},   {"no-telemetry", no_argument, NULL, 'N'},
        {"restart-delay", required_argument, NULL, 'D'},
        {"host-trace-events", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    const char *root = NULL, *listen = "127.0.0.1:9560", *state = NULL, *relp = NULL,
               *token_file = NULL, *ukctl = NULL;
    bool allow_remote = false;
    uint64_t trace_max = 64ULL << 20;
    int64_t trace_age = 3600;
    long interval_ms = 1000; /* one tick: every instance's ring is read this often */
    long host_events = 65536;
    int c, rc = 1, tfd = -1, ifd = -1, sfd = -1;
    char buf[4096];
    sigset_t mask;

    cd.store_max = 64ULL << 20;
    cd.restart_delay_ms = 1000;
    cd.epfd = -1;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': root = optarg; break;
        case 'l': listen = optarg; break;
        case 's': state = optarg; break;
        case 'R': relp = optarg; break;
        case 't': token_file = optarg; break;
        case 'A': allow_remote = true; break;
        case 'u': ukctl = optarg; break;
        case 'm': cd.store_max = strtoull(optarg, NULL, 10) << 20; break;
        case 'T': trace_max = strtoull(optarg, NULL, 10) << 20; break;
        case 'a': trace_age = strtoll(optarg, NULL, 10); break;
        case 'i': interval_ms = strtol(optarg, NULL, 10); break;
        case 'N': cd_telemetry = false; break;
        case 'D': cd.restart_delay_ms = strtol(optarg, NULL, 10); break;
        case 'H': host_events = strtol(optarg, NULL, 10); break;
        case 'v': cd_log_level = CD_DEBUG; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!root || optind != argc || !cd.store_max || interval_ms < 10 || interval_ms > 60000 ||
        cd.restart_delay_ms < 10 || cd.restart_delay_ms > 60000 || host_events < 0 ||
        host_events > (1L << 24)) {
        fputs(usage, stderr);
        return 2;
    }
    if (!realpath(root, cd.root)) {
        cd_log(CD_ERR, "Failed to open --root %s: %s", root, strerror(errno));
        return 1;
    }
    if (state)
        snprintf(cd.state, sizeof(cd.state), "%s", state);
    else if (util_state_path(cd.state, sizeof(cd.state), "ukcollectd") < 0) {
        cd_log(CD_ERR, "Failed to pick a state dir: give --state");
        return 1;
    }
    umask(0077);
    snprintf(buf, sizeof(buf), "%s/instances", cd.state);
    if (util_mkdir_p(buf, 0700) < 0 || chmod(cd.state, 0700) < 0) {
        cd_log(CD_ERR, "Failed to create the state dir %s: %s", cd.state, strerror(errno));
        return 1;
    }
    if (ukctl)
        snprintf(cd.ukctl, sizeof(cd.ukctl), "%s", ukctl);
    else {
        ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = 0;
        char *slash = strrchr(buf, '/');
        if (slash)
            *slash = 0;
        snprintf(cd.ukctl, sizeof(cd.ukctl), "%s/ukctl", buf);
    }
    if (load_token(token_file) < 0)
        return 1;
    if (relp) {
#ifdef HAVE_RELPFWD
        char host[256], spool[4200];
        const char *colon = strrchr(relp, ':');
        if (!colon || colon == relp || (size_t)(colon - relp) >= sizeof(host)) {
            cd_log(CD_ERR, "Failed to parse --relp %s: want HOST:PORT", relp);
            return 1;
        }
        memcpy(host, relp, (size_t)(colon - relp));
        host[colon - relp] = 0;
        snprintf(spool, sizeof(spool), "%s/spool", cd.state);
        cd.relp = relpfwd_new(host, colon + 1, spool, 256ULL << 20);
        if (!cd.relp) {
            cd_log(CD_ERR, "Failed to set up RELP forwarding to %s", relp);
            return 1;
        }
#else
        cd_log(CD_ERR, "Failed to enable --relp: this ukcollectd is built without relpfwd");
        return 1;
#endif
    }
    relpglue_init(); /* before any store is opened: replayed records are forwarded too */
    ramview_init_signals();
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    cd.epfd = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    tick_budget_ms = interval_ms / 4;
    struct itimerspec its = {{interval_ms / 1000, (interval_ms % 1000) * 1000000}, {0, 1000000}};
    if (cd.epfd < 0 || tfd < 0 || ifd < 0 || sfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0 ||
        inotify_add_watch(ifd, cd.root, IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_ONLYDIR) < 0) {
        cd_log(CD_ERR, "Failed to set up the event loop: %s", strerror(errno));
        goto cleanup;
    }
    if (api_start(listen, allow_remote) < 0)
        goto cleanup;
    int fds[] = {tfd, ifd, sfd, api_fd(), telem_timer_fd()};
    for (unsigned i = 0; i < 5; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        if (fds[i] >= 0)
            epoll_ctl(cd.epfd, EPOLL_CTL_ADD, fds[i], &ev);
    }
    if (tsglue_init(trace_max, trace_age) < 0)
        goto cleanup;
    hvglue_init(host_events > 0); /* never fatal: without BPF, bpf_up 0 */
    htglue_init((size_t)host_events);
    inst_load_specs();
    cd_log(CD_NOTICE, "collecting %s; state %s; API on http://%s/api/v1/", cd.root, cd.state,
           listen);
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(cd.epfd, evs, 64, api_timeout_ms(1000));
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == tfd) {
                uint64_t x;
                if (read(tfd, &x, sizeof(x)) > 0)
                    tick();
            } else if (fd == ifd) {
                while (read(ifd, buf, sizeof(buf)) > 0)
                    ;
                inst_scan(); /* adopted now; collected from the next tick */
            } else if (fd == sfd) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                    if (si.ssi_signo == SIGCHLD) {
                        inst_reap_children();
                        crashglue_tick(cd_now()); /* a finished capture, at once */
                    } else {
                        cd_log(CD_NOTICE, "signal %u: exiting (instances keep running)",
                               si.ssi_signo);
                        rc = 0;
                        goto cleanup;
                    }
                }
            } else if (fd == api_fd()) {
                api_poll();
            } else if (fd == telem_timer_fd()) {
                telem_rearm();
            } else {
                struct inst *in = inst_get_by_fd(fd);
                if (in && fd == in->tfd)
                    telem_event(in, evs[i].events);
                else if (in)
                    inst_qmp_event(in, evs[i].events);
            }
        }
        api_poll();
    }
cleanup:
    api_stop();
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
        if (cd.inst[i].used) {
            logstore_commit(&cd.inst[i].ls);
            logstore_close(&cd.inst[i].ls);
        }
    tsglue_close();
    htglue_close(); /* first: it reads the host view's ring buffer */
    hvglue_close();
#ifdef HAVE_RELPFWD
    if (cd.relp)
        relpfwd_free(cd.relp);
#endif
    if (tfd >= 0)
        close(tfd);
    if (ifd >= 0)
        close(ifd);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
