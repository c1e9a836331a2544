/*
 * mini-httpd server API (network thread only).  A server is a port and a
 * handler; the handler answers every parsed request with exactly one
 * httpd_reply*() call (synchronously).
 */
#ifndef GUEST_AGENT_HTTPD_H
#define GUEST_AGENT_HTTPD_H

#include <uk/types.h>

#include "common/http_parse.h"

struct httpd_ctx;

struct httpd_server {
    unsigned port;
    void (*handler)(struct httpd_ctx *x);
    /* Called for every response (metrics), x->req may be NULL (503/errors). */
    void (*on_reply)(struct httpd_ctx *x, unsigned status);
};

struct httpd_ctx {
    struct conn *conn;
    struct httpd_server *srv;
    const struct http_request *req; /* NULL for parser errors */
    bool keep_alive, head_only;
    unsigned status;
    uint64_t start_tsc;
    const char *endpoint; /* set by the handler, for metrics */
};

uk_result httpd_listen(struct httpd_server *srv);

/* Reply; body (malloc'd, may be NULL) is taken over; extra: more header lines. */
void httpd_reply(struct httpd_ctx *x, unsigned status, const char *ctype, char *body, size_t blen,
                 const char *extra);
void httpd_reply_text(struct httpd_ctx *x, unsigned status, const char *text);

/*
 * Answer later, from another thread's work: returns a copy of x (req is
 * NULL after the handler returns: copy what you need first) that must be
 * passed to httpd_complete() on the network thread (agent_net_call).  The
 * connection reads no further request meanwhile.  NULL: out of memory.
 */
struct httpd_ctx *httpd_defer(struct httpd_ctx *x);
void httpd_complete(struct httpd_ctx *d, unsigned status, const char *ctype, char *body,
                    size_t blen);

/* Open connections (all servers), and idle keep-alive connections closed to
 * admit a new client at the connection limit. */
unsigned httpd_connections(void);
uint64_t httpd_evictions(void);

#endif
