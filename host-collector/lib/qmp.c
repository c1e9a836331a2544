/* Minimal line-delimited QMP client; see qmp.h for the contracts. */
#include "qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int set_err(char *err, size_t errlen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(char *err, size_t errlen, int status, const char *fmt, ...)
{
    va_list ap;

    if (errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

#define QERR(q, status, ...) set_err((q)->err, sizeof((q)->err), status, __VA_ARGS__)

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void qmp_init(struct qmp *q, int fd)
{
    memset(q, 0, sizeof(*q));
    q->fd = fd;
    q->max_line = QMP_MAX_LINE;
}

void qmp_close(struct qmp *q)
{
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
    free(q->buf);
    q->buf = NULL;
    q->len = q->cap = 0;
}

int qmp_connect(struct qmp *q, const char *path, int timeout_ms)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    long long deadline = now_ms() + timeout_ms;
    int fd;

    qmp_init(q, -1);
    if (strlen(path) >= sizeof(sa.sun_path))
        return QERR(q, QMP_ERR_IO, "socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return QERR(q, QMP_ERR_IO, "socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        close(fd);
        if ((errno != ENOENT && errno != ECONNREFUSED) || now_ms() >= deadline)
            return QERR(q, QMP_ERR_IO, "connect %s: %s", path, strerror(errno));
        usleep(20 * 1000);
    }
    q->fd = fd;
    return QMP_OK;
}

void qmp_msg_clear(struct qmp_msg *msg)
{
    json_decref(msg->root);
    memset(msg, 0, sizeof(*msg));
}

int qmp_parse_line(const char *line, size_t len, struct qmp_msg *msg, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root, *ev;

    memset(msg, 0, sizeof(*msg));
    root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return set_err(err, errlen, QMP_ERR_JSON, "malformed JSON from QEMU: %s (column %d)",
                       jerr.text, jerr.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return set_err(err, errlen, QMP_ERR_JSON, "QMP message is not a JSON object");
    }
    msg->root = root;
    if (json_object_get(root, "QMP")) {
        if (!json_is_object(json_object_get(root, "QMP")))
            goto proto;
        msg->kind = QMP_MSG_GREETING;
    } else if (json_object_get(root, "return")) {
        msg->kind = QMP_MSG_RETURN;
    } else if (json_object_get(root, "error")) {
        if (!json_is_object(json_object_get(root, "error")))
            goto proto;
        msg->kind = QMP_MSG_ERROR;
    } else if ((ev = json_object_get(root, "event"))) {
        if (!json_is_string(ev))
            goto proto;
        msg->kind = QMP_MSG_EVENT;
        msg->event = json_string_value(ev);
    } else {
        goto proto;
    }
    return QMP_OK;
proto:
    qmp_msg_clear(msg);
    return set_err(err, errlen, QMP_ERR_PROTO, "unexpected QMP message");
}

int qmp_feed(struct qmp *q, const void *data, size_t len)
{
    if (q->len + len > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        char *buf;

        while (cap < q->len + len)
            cap *= 2;
        buf = realloc(q->buf, cap);
        if (!buf)
            return QERR(q, QMP_ERR_IO, "out of memory");
        q->buf = buf;
        q->cap = cap;
    }
    memcpy(q->buf + q->len, data, len);
    q->len += len;
    return QMP_OK;
}

int qmp_next(struct qmp *q, struct qmp_msg *msg)
{
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
        size_t line_len, consumed;
        int ret;

        if (!nl) {
            if (q->len > q->max_line)
                return QERR(q, QMP_ERR_TOOLONG, "QMP line longer than %zu bytes", q->max_line);
            return 0;
        }
        line_len = (size_t)(nl - q->buf);
        consumed = line_len + 1;
        if (line_len > q->max_line)
            return QERR(q, QMP_ERR_TOOLONG, "QMP line longer than %zu bytes", q->max_line);
        if (line_len && q->buf[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0) {
            memmove(q->buf, q->buf + consumed, q->len - consumed);
            q->len -= consumed;
            continue;
        }
        ret = qmp_parse_line(q->buf, line_len, msg, q->err, sizeof(q->err));
        memmove(q->buf, q->buf + consumed, q->len - consumed);
        q->len -= consumed;
        return ret == QMP_OK ? 1 : ret;
    }
}

int qmp_read(struct qmp *q, struct qmp_msg *msg, int timeout_ms)
{
    long long deadline = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;
    char chunk[4096];

    for (;;) {
        struct pollfd pfd = {.fd = q->fd, .events = POLLIN};
        int ret = qmp_next(q, msg), wait_ms = -1;
        ssize_t n;

        if (ret != 0)
            return ret > 0 ? QMP_OK : ret;
        if (q->eof)
            return QERR(q, QMP_ERR_EOF,
                        q->len ? "QMP connection closed mid-line" : "QMP connection closed");
        if (q->fd < 0)
            return QERR(q, QMP_ERR_IO, "QMP not connected");
        if (timeout_ms >= 0) {
            long long left = deadline - now_ms();

            wait_ms = left > 0 ? (int)left : 0;
        }
        ret = poll(&pfd, 1, wait_ms);
        if (ret < 0) {
            if (errno == EINTR)
                continue;
            return QERR(q, QMP_ERR_IO, "poll: %s", strerror(errno));
        }
        if (ret == 0)
            return QERR(q, QMP_ERR_TIMEOUT, "timed out waiting for QMP");
        n = read(q->fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (errno == ECONNRESET) {
                q->eof = 1;
                continue;
            }
            return QERR(q, QMP_ERR_IO, "read: %s", strerror(errno));
        }
        if (n == 0) {
            q->eof = 1;
            continue;
        }
        if (qmp_feed(q, chunk, (size_t)n) < 0)
            return QMP_ERR_IO;
    }
}

int qmp_handshake(struct qmp *q, int timeout_ms)
{
    struct qmp_msg msg;
    int ret;

    ret = qmp_read(q, &msg, timeout_ms);
    if (ret < 0)
        return ret;
    if (msg.kind != QMP_MSG_GREETING) {
        qmp_msg_clear(&msg);
        return QERR(q, QMP_ERR_PROTO, "expected QMP greeting");
    }
    qmp_msg_clear(&msg);
    return qmp_execute(q, "qmp_capabilities", NULL, NULL, timeout_ms);
}

static int write_all(int fd, const char *s, size_t len)
{
    while (len) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

int qmp_execute(struct qmp *q, const char *cmd, json_t *args, json_t **ret, int timeout_ms)
{
    struct qmp_msg msg;
    json_t *req;
    char *text;
    int rc;

    if (ret)
        *ret = NULL;
    req = json_pack("{s:s}", "execute", cmd);
    if (!req || (args && json_object_set(req, "arguments", args) < 0)) {
        json_decref(req);
        return QERR(q, QMP_ERR_IO, "out of memory");
    }
    text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text)
        return QERR(q, QMP_ERR_IO, "out of memory");
    /* One send, newline included: QEMU acts on the complete object, so after
     * "quit" it may be gone before a separate newline (EPIPE). */
    size_t tl = strlen(text);
    char *line = realloc(text, tl + 2);
    if (!line) {
        free(text);
        return QERR(q, QMP_ERR_IO, "out of memory");
    }
    text = line;
    memcpy(text + tl, "\n", 2);
    rc = write_all(q->fd, text, tl + 1);
    free(text);
    if (rc < 0)
        return QERR(q, errno == EPIPE ? QMP_ERR_EOF : QMP_ERR_IO, "send %s: %s", cmd,
                    strerror(errno));

    for (;;) {
        rc = qmp_read(q, &msg, timeout_ms);
        if (rc < 0)
            return rc;
        switch (msg.kind) {
        case QMP_MSG_EVENT:
            if (q->on_event)
                q->on_event(q->event_ctx, &msg);
            qmp_msg_clear(&msg);
            continue;
        case QMP_MSG_RETURN:
            if (ret)
                *ret = json_incref(json_object_get(msg.root, "return"));
            qmp_msg_clear(&msg);
            return QMP_OK;
        case QMP_MSG_ERROR: {
            const char *desc =
                json_string_value(json_object_get(json_object_get(msg.root, "error"), "desc"));

            QERR(q, QMP_ERR_CMD, "%s: %s", cmd, desc ? desc : "error without desc");
            qmp_msg_clear(&msg);
            return QMP_ERR_CMD;
        }
        case QMP_MSG_GREETING:
            qmp_msg_clear(&msg);
            return QERR(q, QMP_ERR_PROTO, "unexpected QMP greeting in reply to %s", cmd);
        }
    }
}
