/*
 * Minimal QMP client.  QEMU's replies are untrusted input: every message is
 * one line of JSON (at most QMP_MAX_LINE bytes) that must be an object of one
 * of the kinds below; anything else is an error, never a crash.
 */
#ifndef UKCTL_QMP_H
#define UKCTL_QMP_H

#include <jansson.h>
#include <stddef.h>

#define QMP_MAX_LINE (1024 * 1024)

/* Return codes; all errors are negative and leave a message in qmp.err. */
enum qmp_status {
    QMP_OK = 0,
    QMP_ERR_IO = -1,      /* read/write/connect failed (errno in message) */
    QMP_ERR_EOF = -2,     /* peer closed (possibly mid-line) */
    QMP_ERR_JSON = -3,    /* a line is not valid JSON / not an object */
    QMP_ERR_TOOLONG = -4, /* a line exceeds max_line */
    QMP_ERR_PROTO = -5,   /* valid JSON but not the expected message */
    QMP_ERR_TIMEOUT = -6, /* nothing complete arrived in time */
    QMP_ERR_CMD = -7,     /* the command returned {"error": ...} */
};

enum qmp_msg_kind {
    QMP_MSG_GREETING, /* {"QMP": {...}} */
    QMP_MSG_RETURN,   /* {"return": ...} */
    QMP_MSG_ERROR,    /* {"error": {"class": ..., "desc": ...}} */
    QMP_MSG_EVENT,    /* {"event": "NAME", ...} */
};

/* One parsed message; `root` is owned (qmp_msg_clear releases it). */
struct qmp_msg {
    enum qmp_msg_kind kind;
    json_t *root;
    const char *event; /* QMP_MSG_EVENT: the name, inside root */
};

/* Called for each event that arrives while qmp_execute waits for its reply. */
typedef void (*qmp_event_fn)(void *ctx, const struct qmp_msg *msg);

struct qmp {
    int fd;    /* -1 when not connected; qmp owns it */
    char *buf; /* received bytes not yet consumed */
    size_t len, cap;
    size_t max_line; /* QMP_MAX_LINE by default */
    int eof;         /* the peer has closed */
    qmp_event_fn on_event;
    void *event_ctx;
    char err[256];
};

/* Initialise around an already connected fd (may be -1 for feed-only use). */
void qmp_init(struct qmp *q, int fd);
/* Close the fd and free buffers; q can be reused after qmp_init. */
void qmp_close(struct qmp *q);

/*
 * Connect to the unix socket at path, retrying every 20 ms while it does not
 * exist or refuses, for up to timeout_ms.  Then qmp_init.
 */
int qmp_connect(struct qmp *q, const char *path, int timeout_ms);

/*
 * Parse one line (without its '\n') into msg.  Pure; the core the fuzzer
 * exercises.  Returns QMP_OK, QMP_ERR_JSON or QMP_ERR_PROTO (err filled).
 */
int qmp_parse_line(const char *line, size_t len, struct qmp_msg *msg, char *err, size_t errlen);
void qmp_msg_clear(struct qmp_msg *msg);

/* Append received bytes to the buffer (QMP_ERR_IO on allocation failure). */
int qmp_feed(struct qmp *q, const void *data, size_t len);
/*
 * Take the next complete line from the buffer and parse it.  Returns 1 with
 * msg filled, 0 if no complete line is buffered yet, or a negative status.
 * Empty lines and '\r' before '\n' are skipped.
 */
int qmp_next(struct qmp *q, struct qmp_msg *msg);

/*
 * Receive the next message from the fd, waiting up to timeout_ms (-1: forever).
 * Returns QMP_OK with msg filled or a negative status.
 */
int qmp_read(struct qmp *q, struct qmp_msg *msg, int timeout_ms);

/* Read the greeting and negotiate with "qmp_capabilities". */
int qmp_handshake(struct qmp *q, int timeout_ms);

/*
 * Send {"execute": cmd[, "arguments": args]} (args is borrowed, may be NULL)
 * and wait for its reply; events meanwhile go to q->on_event.  On QMP_OK,
 * *ret (if ret) receives a new reference to the "return" value.
 * A {"error"} reply gives QMP_ERR_CMD with its desc in q->err.
 */
int qmp_execute(struct qmp *q, const char *cmd, json_t *args, json_t **ret, int timeout_ms);

#endif
