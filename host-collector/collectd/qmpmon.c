/*
 * Each instance's QMP event connection on RUN/qmp-collector.sock (a monitor
 * of its own, so ukctl's qmp.sock and qmp-tools.sock stay free).
 *
 * Non-blocking throughout: connect, greeting, qmp_capabilities and
 * query-status each run from the epoll loop, and every phase before
 * "ready" has a deadline (inst_tick drops a socket that accepts and stays
 * silent after QMP_TIMEOUT_MS: one counted qmp error, a log line, a retry
 * QMP_RETRY_MS later).  Events then move the instance's state.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cd.h"
#include "util.h"
#include "dash.h"
#include "log.h"

void qmp_drop(struct inst *in, const char *why)
{
    if (in->qfd >= 0) {
        epoll_ctl(cd.epfd, EPOLL_CTL_DEL, in->qfd, NULL);
        qmp_close(&in->q); /* closes the fd */
    }
    in->qfd = -1;
    in->qphase = QP_IDLE;
    in->qretry = cd_now() + QMP_RETRY_MS;
    if (why) {
        in->err[SRC_QMP]++;
        cd_log(CD_WARN, "%s: QMP: %s (retry in %d s)", in->name, why, QMP_RETRY_MS / 1000);
    }
}

static int qmp_send(struct inst *in, const char *line)
{
    size_t n = strlen(line);
    /* A few dozen bytes into an empty socket buffer: never partial in practice. */
    if (send(in->qfd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n) {
        qmp_drop(in, "Failed to send a command");
        return -1;
    }
    return 0;
}

void qmp_start(struct inst *in, int64_t now)
{
    struct epoll_event ev = {.events = EPOLLIN};
    int fd = util_unix_connect(in->run_dir, "qmp-collector.sock");

    if (fd < 0 && errno == ENAMETOOLONG) {
        in->qretry = now + 60000;
        return;
    }
    if (fd < 0) {
        if (!in->src_bad[SRC_QMP])
            cd_log(CD_NOTICE, "%s: no QMP events (%s/qmp-collector.sock: %s); state from the "
                   "process only", in->name, in->run_dir, strerror(errno));
        in->src_bad[SRC_QMP] = true;
        in->qretry = now + QMP_RETRY_MS;
        return;
    }
    qmp_init(&in->q, fd);
    in->qfd = fd;
    ev.data.fd = fd;
    epoll_ctl(cd.epfd, EPOLL_CTL_ADD, fd, &ev);
    in->qphase = QP_GREETING;
    in->qdeadline = now + QMP_TIMEOUT_MS;
}

static void on_status(struct inst *in, json_t *ret)
{
    const char *st = json_string_value(json_object_get(ret, "status"));
    if (!st)
        return;
    if (!strcmp(st, "running"))
        inst_set_state(in, ST_RUNNING);
    else if (!strcmp(st, "guest-panicked")) {
        inst_set_state(in, ST_PANICKED);
        crashglue_on_panic(in); /* adopted panicked: a bundle unless one was claimed */
    }
    else
        inst_set_state(in, ST_PAUSED);
}

static void on_event(struct inst *in, const struct qmp_msg *m)
{
    const char *e = m->event;
    if (!strcmp(e, "GUEST_PANICKED")) {
        in->panics++;
        cd_log(CD_WARN, "%s: guest panicked", in->name);
        inst_set_state(in, ST_PANICKED);
        crashglue_on_panic(in);
    } else if (!strcmp(e, "STOP")) {
        if (in->state != ST_PANICKED)
            inst_set_state(in, ST_PAUSED);
    } else if (!strcmp(e, "RESUME")) {
        inst_set_state(in, ST_RUNNING);
    } else if (!strcmp(e, "SHUTDOWN")) {
        json_t *d = json_object_get(m->root, "data");
        snprintf(in->shutdown_reason, sizeof(in->shutdown_reason), "%s",
                 json_string_value(json_object_get(d, "reason")) ?: "unknown");
    }
}

void inst_qmp_event(struct inst *in, uint32_t events)
{
    char buf[8192];
    struct qmp_msg m;
    ssize_t n;
    int r;

    for (;;) {
        n = recv(in->qfd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            /* QEMU closed: it is exiting; liveness comes from /proc. */
            qmp_drop(in, NULL);
            return;
        }
        if (qmp_feed(&in->q, buf, (size_t)n) < 0) {
            qmp_drop(in, "out of memory");
            return;
        }
    }
    while ((r = qmp_next(&in->q, &m)) == 1) {
        switch (in->qphase) {
        case QP_GREETING:
            if (m.kind == QMP_MSG_GREETING) {
                in->qphase = QP_CAPS;
                qmp_send(in, "{\"execute\":\"qmp_capabilities\"}\n");
            }
            break;
        case QP_CAPS:
            if (m.kind == QMP_MSG_RETURN) {
                in->qphase = QP_STATUS;
                qmp_send(in, "{\"execute\":\"query-status\"}\n");
            }
            break;
        case QP_STATUS:
            if (m.kind == QMP_MSG_RETURN) {
                on_status(in, json_object_get(m.root, "return"));
                in->qphase = QP_CPUS;
                in->src_bad[SRC_QMP] = false;
                /* vCPU thread ids for the host view (hostcpu.c) */
                qmp_send(in, "{\"execute\":\"query-cpus-fast\"}\n");
            }
            break;
        case QP_CPUS:
            if (m.kind == QMP_MSG_RETURN || m.kind == QMP_MSG_ERROR) {
                hostcpu_set_threads(in, json_object_get(m.root, "return"));
                in->qphase = QP_READY;
            }
            break;
        default:
            break;
        }
        if (m.kind == QMP_MSG_EVENT)
            on_event(in, &m);
        qmp_msg_clear(&m);
        if (in->qfd < 0)
            return;
    }
    if (r < 0) {
        char why[300];
        snprintf(why, sizeof(why), "bad message: %s", in->q.err);
        qmp_drop(in, why);
    }
}

