/* RELP forwarder with an on-disk spool; the contract is in relpfwd.h. */
#define _GNU_SOURCE
#include "relpfwd.h"

#include <inttypes.h>
#include <stddef.h> /* librelp.h uses size_t without including it */
#include <librelp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rfc5424.h"
#include "spool.h"

/* Until the daemon's cd_log() is merged in. */
#define RELP_LOG(fmt, ...) fprintf(stderr, "ukcollectd: relp: " fmt "\n", ##__VA_ARGS__)

enum {
    TIMEOUT_S = 1, /* librelp's unit is seconds; 1 is its shortest */
    BACKOFF_MIN_MS = 100,
    BACKOFF_MAX_MS = 10000,
    /* The last window of a session is confirmed by closing the session once
     * nothing was sent for this long: often enough to keep the resend bound,
     * rarely enough not to reconnect on every tick of a steady stream. */
    IDLE_CONFIRM_MS = 500,
};

struct relpfwd {
    char host[256], port[32], dir[4096], hostname[256];
    struct spool *sp;
    relpEngine_t *eng;
    relpClt_t *clt;
    int batch;
    int sess_err;                      /* librelp reported an error in this session */
    uint64_t send_off;                 /* next spool offset to send */
    uint64_t high_off;                 /* highest end offset ever sent: below it is a resend */
    uint64_t acked_off;                /* everything below is acked (persisted once per poll) */
    uint64_t ends[RELPFWD_WINDOW + 1]; /* end offsets of the last sends, by index % (W+1) */
    uint64_t sess_sent, sess_confirmed;
    int64_t next_try, last_send;
    int backoff_ms, down_logged, full_logged, sessions;
    struct relpfwd_stats st;
    uint64_t pending_at_open;
};

/* librelp calls this for every error that breaks a session. */
static void on_err(void *usr, char *objinfo, char *msg, relpRetVal code)
{
    struct relpfwd *f = usr;
    if (!f)
        return;
    if (!f->sess_err && !f->down_logged)
        RELP_LOG("session to %s:%s: %s (%s, code %d)", f->host, f->port, msg,
                 objinfo ? objinfo : "", code);
    f->sess_err = 1;
}

/* librelp calls its debug hook unconditionally (and crashes without one). */
static void dbg_quiet(char *fmt, ...)
{
    (void)fmt;
}

static void on_generic_err(char *objinfo, char *msg, relpRetVal code)
{
    RELP_LOG("librelp: %s (%s, code %d)", msg, objinfo ? objinfo : "", code);
}

struct relpfwd *relpfwd_new(const char *host, const char *port, const char *spool_dir,
                            uint64_t spool_max_bytes)
{
    struct relpfwd *f = calloc(1, sizeof(*f));
    struct sigaction old;
    struct spool_info si;

    if (!f)
        return NULL;
    if (strlen(host) >= sizeof(f->host) || strlen(port) >= sizeof(f->port) ||
        strlen(spool_dir) >= sizeof(f->dir)) {
        RELP_LOG("Failed to set up the forwarder: host, port or spool dir too long");
        goto fail;
    }
    strcpy(f->host, host);
    strcpy(f->port, port);
    strcpy(f->dir, spool_dir);
    if (gethostname(f->hostname, sizeof(f->hostname) - 1) < 0)
        strcpy(f->hostname, "-");
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    f->sp = spool_open(spool_dir, spool_max_bytes);
    if (!f->sp)
        goto fail;
    spool_info(f->sp, &si);
    f->send_off = f->acked_off = si.acked;
    f->high_off = si.tail; /* what a previous process may have sent already */
    f->pending_at_open = si.pending_at_open;
    f->st.torn = si.torn;
    if (relpEngineConstruct(&f->eng) != RELP_RET_OK ||
        relpEngineSetDbgprint(f->eng, dbg_quiet) != RELP_RET_OK ||
        relpEngineSetOnErr(f->eng, on_err) != RELP_RET_OK ||
        relpEngineSetOnGenericErr(f->eng, on_generic_err) != RELP_RET_OK ||
        relpEngineSetEnableCmd(f->eng, (unsigned char *)"syslog", eRelpCmdState_Required) !=
            RELP_RET_OK) {
        RELP_LOG("Failed to set up the librelp engine");
        goto fail;
    }
    f->backoff_ms = BACKOFF_MIN_MS;
    return f;
fail:
    relpfwd_free(f);
    return NULL;
}

int relpfwd_submit(struct relpfwd *f, const struct logrec *r)
{
    char buf[RFC5424_MAX];
    size_t n = rfc5424_format(r, f->hostname, buf, sizeof(buf));
    struct spool_info si;

    enum spool_result rc = n ? spool_append(f->sp, buf, n, !f->batch) : SPOOL_ERR;

    switch (rc) {
    case SPOOL_OK:
        if (f->full_logged)
            RELP_LOG("spool %s accepts records again (%" PRIu64 " dropped so far)", f->dir,
                     f->st.dropped_disk_full);
        f->full_logged = 0;
        f->st.spooled++;
        return 0;
    case SPOOL_FULL:
    case SPOOL_NOSPACE:
        f->st.dropped_disk_full++;
        if (!f->full_logged) {
            spool_info(f->sp, &si);
            RELP_LOG("Failed to spool a log record: %s (spool %s, %" PRIu64 " bytes); dropping "
                     "records, counted in dropped_disk_full, until rsyslog acks some",
                     rc == SPOOL_FULL ? "the spool reached its limit" : "the disk is full", f->dir,
                     si.disk_bytes);
        }
        f->full_logged = 1;
        return -1;
    default:
        f->st.errors++;
        return -1;
    }
}

void relpfwd_set_batch(struct relpfwd *f, int batch)
{
    f->batch = batch;
}

int relpfwd_flush(struct relpfwd *f)
{
    if (spool_sync(f->sp) < 0) {
        f->st.errors++;
        return -1;
    }
    return 0;
}

static int connect_session(struct relpfwd *f, int64_t now)
{
    f->sess_err = 0;
    if (relpEngineCltConstruct(f->eng, &f->clt) != RELP_RET_OK) {
        f->clt = NULL;
        return -1;
    }
    relpCltSetUsrPtr(f->clt, f);
    relpCltSetTimeout(f->clt, TIMEOUT_S);
    relpCltSetConnTimeout(f->clt, TIMEOUT_S);
    relpCltSetWindowSize(f->clt, RELPFWD_WINDOW);
    if (relpCltConnect(f->clt, 0, (unsigned char *)f->port, (unsigned char *)f->host) !=
        RELP_RET_OK) {
        relpEngineCltDestruct(f->eng, &f->clt);
        f->clt = NULL;
        f->st.errors++;
        if (!f->down_logged)
            RELP_LOG("Failed to connect to rsyslog at %s:%s; spooling to %s, retrying with "
                     "backoff up to %d s",
                     f->host, f->port, f->dir, BACKOFF_MAX_MS / 1000);
        f->down_logged = 1;
        f->next_try = now + f->backoff_ms;
        f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : f->backoff_ms * 2;
        return -1;
    }
    if (f->down_logged)
        RELP_LOG("connected to rsyslog at %s:%s again", f->host, f->port);
    if (f->sessions++)
        f->st.reconnects++;
    f->down_logged = 0;
    f->backoff_ms = BACKOFF_MIN_MS;
    f->sess_sent = f->sess_confirmed = 0;
    f->send_off = f->acked_off; /* a new session resends everything not acked */
    return 0;
}

/* The first `upto` records of this session are acked; the last ends at off. */
static void confirm(struct relpfwd *f, uint64_t upto, uint64_t off)
{
    if (upto <= f->sess_confirmed)
        return;
    f->st.forwarded += upto - f->sess_confirmed;
    f->sess_confirmed = upto;
    if (off > f->acked_off)
        f->acked_off = off;
}

/* Drop the session.  graceful: close it politely; if that works, rsyslog has
 * answered every frame before the close, so everything sent is acked. */
static void end_session(struct relpfwd *f, int64_t now, int graceful)
{
    /* sess_err is not reset here: an error earlier in this session (it was
     * cleared at connect) means the close proves nothing. */
    relpEngineCltDestruct(f->eng, &f->clt);
    f->clt = NULL;
    if (graceful && !f->sess_err) {
        confirm(f, f->sess_sent, f->send_off);
        return;
    }
    f->st.errors++;
    f->next_try = now; /* first retry at once, then the backoff of connect_session */
}

static int send_some(struct relpfwd *f, int64_t now)
{
    static char buf[SPOOL_REC_MAX];
    const uint64_t W = RELPFWD_WINDOW;
    uint64_t next;
    size_t len;
    int n;

    for (n = 0; n < RELPFWD_POLL_MAX; n++) {
        next = f->send_off;
        switch (spool_read(f->sp, &next, buf, sizeof(buf), &len)) {
        case SPOOL_OK:
            break;
        case SPOOL_END:
            if (f->sess_sent > f->sess_confirmed && now - f->last_send >= IDLE_CONFIRM_MS)
                end_session(f, now, 1);
            return 0;
        default:
            f->st.errors++;
            return -1;
        }
        if (relpCltSendSyslog(f->clt, (unsigned char *)buf, len) != RELP_RET_OK) {
            end_session(f, now, 0);
            return 0;
        }
        if (next <= f->high_off)
            f->st.resent++;
        else
            f->high_off = next;
        f->ends[f->sess_sent % (W + 1)] = next;
        f->sess_sent++;
        f->send_off = next;
        f->last_send = now;
        /* At most W sends are unacked now: the one W before the last is acked. */
        if (f->sess_sent > W)
            confirm(f, f->sess_sent - W, f->ends[(f->sess_sent - W - 1) % (W + 1)]);
    }
    return 0;
}

int relpfwd_poll(struct relpfwd *f, int64_t now)
{
    struct spool_info si;
    int rc = 0;

    spool_info(f->sp, &si);
    if (!f->clt) {
        if (si.tail <= f->acked_off || now < f->next_try)
            return 0;
        if (connect_session(f, now) < 0)
            return 0;
    }
    rc = send_some(f, now);
    if (f->acked_off > si.acked && spool_set_acked(f->sp, f->acked_off) < 0) {
        f->st.errors++;
        rc = -1;
    }
    return rc;
}

void relpfwd_stats(const struct relpfwd *f, struct relpfwd_stats *st)
{
    struct spool_info si;

    *st = f->st;
    spool_info(f->sp, &si);
    st->spool_bytes = si.disk_bytes;
    st->torn = si.torn;
    st->pending = f->pending_at_open + f->st.spooled - f->st.forwarded;
    st->connected = f->clt != NULL;
}

void relpfwd_free(struct relpfwd *f)
{
    if (!f)
        return;
    if (f->clt)
        end_session(f, 0, 1);
    if (f->sp)
        spool_set_acked(f->sp, f->acked_off);
    if (f->eng)
        relpEngineDestruct(&f->eng);
    spool_close(f->sp);
    free(f);
}
