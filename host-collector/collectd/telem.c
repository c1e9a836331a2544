/*
 * Live kernel-log lines from each instance's telemetry stream
 * (RUN/telemetry.sock, the guest's virtio-console port; docs/telemetry.md).
 *
 * The klog ring in RAM stays the source of truth and is still read every
 * tick; the stream brings each line within ~20 ms (the guest's sender
 * polls its ring that often) and keeps lines the ring would overwrite
 * between two ticks of a guest logging more than 1024 lines per interval.
 * Every LogRecord goes to ingest_live(), which stores it by sequence number:
 * below the store's next seq it is a duplicate (already read from the
 * ring), above it the gap is first filled from the ring.
 *
 * The stream is hostile input: the decoder (guest-agent/host/
 * telemetry_decode.c) bounds every frame (1 MiB), resyncs after garbage,
 * and each bad frame is a counted `telemetry` error with one log line per
 * bad spell; the connection is dropped (and retried) after
 * TELEM_ERRORS_MAX errors in a row.  One read per event, at most
 * TELEM_READ_MAX bytes, so a flooding guest cannot starve the others.
 *
 * Wakeups are coalesced: a stream's fd is armed one-shot, and after an
 * event it is re-armed by a TELEM_COALESCE_MS timer (telem_timer_fd()), so
 * a guest writing one small frame per line costs at most 20 reads per
 * second, not one wakeup per frame (which cost ~9 us of CPU per line in a
 * burst, more than the whole store path).
 *
 * QEMU's socket chardev serves one client: while the collector holds it,
 * `ukctl telemetry RUN_DIR` waits (use --no-telemetry to leave it free).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "cd.h"
#include "util.h"
#include "log.h"
#include "telemetry_decode.h"

enum { TELEM_RETRY_MS = 5000, TELEM_READ_MAX = 256 * 1024, TELEM_ERRORS_MAX = 64,
       TELEM_COMMIT_MS = 100, TELEM_COALESCE_MS = 50 };

bool cd_telemetry = true;

void api_sse_resume(void); /* api_sse.c */

void telem_drop(struct inst *in, const char *why)
{
    if (in->tfd >= 0) {
        epoll_ctl(cd.epfd, EPOLL_CTL_DEL, in->tfd, NULL);
        close(in->tfd);
    }
    in->tfd = -1;
    if (in->tdec) {
        telem_dec_free(in->tdec);
        free(in->tdec);
        in->tdec = NULL;
    }
    in->tretry = why ? cd_now() + TELEM_RETRY_MS : 0; /* a new boot: at once */
    if (why) {
        in->err[SRC_TELEMETRY]++;
        cd_log(CD_WARN, "%s: telemetry: %s (retry in %d s)", in->name, why,
               TELEM_RETRY_MS / 1000);
    }
}

void telem_start(struct inst *in, int64_t now)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT};
    int fd;

    if (!cd_telemetry || in->tfd >= 0 || now < in->tretry)
        return;
    in->tretry = now + TELEM_RETRY_MS;
    fd = util_unix_connect(in->run_dir, "telemetry.sock");
    if (fd < 0)
        return; /* no stream (an older run dir, --no-telemetry guest): the ring alone */
    in->tdec = calloc(1, sizeof(*in->tdec));
    if (!in->tdec || telem_dec_init(in->tdec) < 0) {
        free(in->tdec);
        in->tdec = NULL;
        close(fd);
        return;
    }
    in->tfd = fd;
    ev.data.fd = fd;
    epoll_ctl(cd.epfd, EPOLL_CTL_ADD, fd, &ev);
    cd_log(CD_DEBUG, "%s: telemetry connected", in->name);
}

/* A LogRecord as the ring reader would have delivered it: bounded, printable. */
static void to_klog(const Ukscope__Telemetry__LogRecord *l, struct klog_record *k)
{
    const char *t = l->text ? l->text : "";
    size_t n = strnlen(t, UK_KLOG_TEXT);

    memset(k, 0, sizeof(*k));
    k->seq = l->klog_seq;
    k->time_ns = l->time_ns;
    k->level = l->severity;
    k->cpu = l->cpu;
    k->tid = l->thread_id;
    for (size_t i = 0; i < n; i++)
        k->text[i] = (t[i] >= 0x20 && t[i] < 0x7f) ? t[i] : '?';
    k->len = n;
}

static void on_error(struct inst *in, const char *err)
{
    in->err[SRC_TELEMETRY]++;
    in->terrors_row++;
    if (!in->src_bad[SRC_TELEMETRY])
        cd_log(CD_WARN, "%s: Failed to decode the telemetry stream: %s (counted; resyncing)",
               in->name, err);
    in->src_bad[SRC_TELEMETRY] = true;
}

static int timer_fd = -1;

int telem_timer_fd(void)
{
    struct itimerspec its = {{0, TELEM_COALESCE_MS * 1000000L}, {0, TELEM_COALESCE_MS * 1000000L}};

    if (timer_fd < 0 && cd_telemetry) {
        timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (timer_fd >= 0 && timerfd_settime(timer_fd, 0, &its, NULL) < 0) {
            close(timer_fd);
            timer_fd = -1;
        }
    }
    return timer_fd;
}

void telem_rearm(void)
{
    uint64_t x;

    if (read(timer_fd, &x, sizeof(x)) <= 0)
        return;
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
        struct inst *in = &cd.inst[i];
        if (in->used && in->tfd >= 0 && in->tdisarmed) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = in->tfd};
            in->tdisarmed = false;
            epoll_ctl(cd.epfd, EPOLL_CTL_MOD, in->tfd, &ev); /* fires now if data waits */
        }
    }
}

void telem_event(struct inst *in, uint32_t events)
{
    uint8_t *buf;
    ssize_t n = 0;
    int64_t now = cd_now();
    char err[256];
    telem_envelope *e;
    bool stored = false;

    if (!in->tdec)
        return;
    size_t room = telem_dec_room(in->tdec);
    if (room > TELEM_READ_MAX)
        room = TELEM_READ_MAX;
    buf = malloc(room);
    if (buf)
        n = recv(in->tfd, buf, room, MSG_DONTWAIT);
    if (n > 0)
        telem_dec_feed(in->tdec, buf, (size_t)n);
    free(buf);
    for (;;) {
        enum telem_dec_status st = telem_dec_next(in->tdec, &e, err, sizeof(err));
        if (st == TELEM_DEC_MORE)
            break;
        if (st == TELEM_DEC_ERROR) {
            on_error(in, err);
            if (in->terrors_row >= TELEM_ERRORS_MAX) {
                telem_drop(in, "too many bad frames in a row; reconnecting");
                return;
            }
            continue;
        }
        if (st == TELEM_DEC_RESYNCED)
            on_error(in, err);
        in->terrors_row = 0;
        if (st == TELEM_DEC_FRAME && in->src_bad[SRC_TELEMETRY]) {
            cd_log(CD_INFO, "%s: telemetry stream in sync again", in->name);
            in->src_bad[SRC_TELEMETRY] = false;
        }
        if (e->payload_case == UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_LOG && e->log) {
            struct klog_record k;
            to_klog(e->log, &k);
            if (ingest_live(in, &k) > 0)
                stored = true;
        }
        telem_envelope_free(e);
    }
    if (stored && now - in->tcommit >= TELEM_COMMIT_MS) {
        in->tcommit = now;
        ingest_commit(in);
        api_sse_resume(); /* `ukctl logs -f` sees the line now, not at the next tick */
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
        (events & (EPOLLHUP | EPOLLERR) && n <= 0))
        telem_drop(in, NULL); /* QEMU went away or reset the port: retried */
    else
        in->tdisarmed = true; /* one-shot: telem_rearm() in <= TELEM_COALESCE_MS */
}
