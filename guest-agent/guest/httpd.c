/*
 * mini-httpd on lwIP's raw TCP API (runs on the network thread only).
 *
 * Per connection: a receive buffer bounded by the head and body limits, the
 * pure parser (common/http_parse.c) run on it after every segment, and one
 * response at a time (pipelined requests wait in the buffer).  Bounds:
 * HTTPD_CONN_MAX connections (http_max_conns=).  At the limit a new client
 * first takes the place of the longest-idle keep-alive connection (one that
 * was served and sits between requests: closing it loses nothing, and HTTP
 * clients reconnect), so a scraper's idle connections never lock others
 * out; only when every connection is busy or new does the client get 503.
 * A request must complete within HTTPD_REQ_TIMEOUT_S of its first byte
 * (else 408); idle keep-alive connections close after HTTPD_IDLE_S.
 */
#include <stdlib.h>
#include <string.h>
#include <uk/cmdline.h>
#include <uk/klog.h>
#include <uk/time.h>

#include "lwip/tcp.h"

#include "common/http_parse.h"
#include "guest/agent.h"
#include "guest/httpd.h"

enum {
    HTTPD_CONN_MAX = 64,
    HTTPD_BUF = 8192 + 1024,
    HTTPD_REQ_TIMEOUT_S = 10,
    HTTPD_IDLE_S = 60,
};

static const struct http_limits limits = {
    .max_target = 1024, .max_head = 8192, .max_headers = 64, .max_body = 1024};

struct conn {
    struct tcp_pcb *pcb;
    char buf[HTTPD_BUF];
    size_t len;
    char *out; /* pending response */
    size_t out_len, out_off;
    bool close_after, closing;
    struct httpd_ctx *deferred; /* a reply owed by another thread */
    uint64_t req_start_ns, last_ns;
    struct httpd_server *srv;
    unsigned served;          /* responses queued on this connection */
    struct conn *prev, *next; /* list of every open connection */
};

static unsigned nconns, max_conns = HTTPD_CONN_MAX;
static uint64_t evictions;
static struct conn *conns;

static void conn_free(struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->deferred)
        c->deferred->conn = NULL; /* the owner of the deferred reply drops it */
    if (c->pcb) {
        tcp_arg(c->pcb, NULL);
        tcp_recv(c->pcb, NULL);
        tcp_sent(c->pcb, NULL);
        tcp_poll(c->pcb, NULL, 0);
        tcp_err(c->pcb, NULL);
        if (tcp_close(c->pcb) != ERR_OK)
            tcp_abort(c->pcb);
        c->pcb = NULL;
    }
    free(c->out);
    free(c);
    nconns--;
}

static void push(struct conn *c)
{
    while (c->out && c->out_off < c->out_len) {
        u16_t room = tcp_sndbuf(c->pcb);
        size_t n = c->out_len - c->out_off;
        if (n > room)
            n = room;
        if (n == 0)
            break;
        if (tcp_write(c->pcb, c->out + c->out_off, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
            break;
        c->out_off += n;
    }
    tcp_output(c->pcb);
}

static void process(struct conn *c);

/* Queue a complete response (takes ownership of body if not NULL). */
void httpd_reply(struct httpd_ctx *x, unsigned status, const char *ctype, char *body, size_t blen,
                 const char *extra)
{
    struct conn *c = x->conn;
    char head[384];
    int hl;

    /* An error that leaves the stream in doubt ends the connection. */
    if (http_status_closes(status))
        x->keep_alive = false;
    hl = snprintf(head, sizeof(head),
                  "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                  status, http_reason(status), ctype, blen, extra ? extra : "",
                  x->keep_alive ? "" : "Connection: close\r\n");
    size_t total = (size_t)hl + (x->head_only ? 0 : blen);
    char *out = malloc(total ? total : 1);
    if (out) {
        memcpy(out, head, (size_t)hl);
        if (!x->head_only && blen)
            memcpy(out + hl, body, blen);
    }
    free(body);
    c->out = out;
    c->out_len = out ? total : 0;
    c->out_off = 0;
    c->close_after = !x->keep_alive || !out;
    c->served++;
    if (x->srv && x->srv->on_reply)
        x->srv->on_reply(x, status);
}

void httpd_reply_text(struct httpd_ctx *x, unsigned status, const char *text)
{
    size_t n = strlen(text);
    char *b = malloc(n + 1);
    if (b)
        memcpy(b, text, n + 1);
    httpd_reply(x, status, "text/plain; charset=utf-8", b, b ? n : 0, NULL);
}

static void error_reply(struct conn *c, unsigned status)
{
    struct httpd_ctx x = {.conn = c, .srv = c->srv, .keep_alive = false, .status = status};
    char msg[64];
    snprintf(msg, sizeof(msg), "%u %s\n", status, http_reason(status));
    httpd_reply_text(&x, status, msg);
    c->close_after = true;
}

static void process(struct conn *c)
{
    if (!c->pcb || c->out || c->deferred)
        return;
    while (c->len && !c->out && !c->deferred) {
        struct http_request req;
        enum http_parse_result r = http_parse(c->buf, c->len, &limits, &req);
        if (r == HTTP_PARSE_MORE)
            return;
        if (r == HTTP_PARSE_ERROR) {
            error_reply(c, req.status);
            c->len = 0;
            break;
        }
        struct httpd_ctx x = {.conn = c, .srv = c->srv, .req = &req, .keep_alive = req.keep_alive,
                              .head_only = req.method == HTTP_HEAD, .start_tsc = uk_tsc()};
        c->srv->handler(&x);
        if (c->deferred) /* the request's strings were copied by the handler */
            c->deferred->req = NULL;
        memmove(c->buf, c->buf + req.total, c->len - req.total);
        c->len -= req.total;
        c->req_start_ns = c->len ? uk_time_ns() : 0;
    }
    push(c);
    if (c->out && c->out_off == c->out_len && c->close_after && tcp_sndqueuelen(c->pcb) == 0)
        conn_free(c);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t n)
{
    struct conn *c = arg;
    if (!c)
        return ERR_OK;
    push(c);
    if (c->out && c->out_off == c->out_len) {
        if (c->close_after) {
            if (tcp_sndqueuelen(pcb) == 0) {
                conn_free(c);
                return ERR_OK;
            }
            return ERR_OK;
        }
        free(c->out);
        c->out = NULL;
        process(c);
    }
    return ERR_OK;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct conn *c = arg;
    if (!c) {
        if (p)
            pbuf_free(p);
        return ERR_OK;
    }
    if (!p) { /* peer closed */
        conn_free(c);
        return ERR_OK;
    }
    tcp_recved(pcb, p->tot_len);
    c->last_ns = uk_time_ns();
    if (c->close_after) { /* discard input after a final response */
        pbuf_free(p);
        return ERR_OK;
    }
    size_t room = sizeof(c->buf) - c->len;
    size_t n = p->tot_len < room ? p->tot_len : room;
    if (!c->len)
        c->req_start_ns = c->last_ns;
    pbuf_copy_partial(p, c->buf + c->len, (u16_t)n, 0);
    c->len += n;
    pbuf_free(p);
    if (c->len == sizeof(c->buf) && !c->out) {
        /* Full and still no complete request: the parser decides why. */
        struct http_request req;
        if (http_parse(c->buf, c->len, &limits, &req) == HTTP_PARSE_MORE) {
            error_reply(c, 431);
            c->len = 0;
            push(c);
            return ERR_OK;
        }
    }
    process(c);
    return ERR_OK;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
    struct conn *c = arg;
    if (!c)
        return ERR_OK;
    uint64_t now = uk_time_ns();
    if (c->close_after && c->out && c->out_off == c->out_len) {
        conn_free(c);
        return ERR_OK;
    }
    if (c->len && !c->out && now - c->req_start_ns > UK_NSEC_PER_SEC * HTTPD_REQ_TIMEOUT_S) {
        error_reply(c, 408);
        c->len = 0;
        push(c);
    } else if (!c->len && !c->out && now - c->last_ns > UK_NSEC_PER_SEC * HTTPD_IDLE_S) {
        conn_free(c);
    }
    return ERR_OK;
}

static void on_err(void *arg, err_t err)
{
    struct conn *c = arg;
    if (c) {
        c->pcb = NULL; /* already freed by lwIP */
        conn_free(c);
    }
}

/* Close the longest-idle served keep-alive connection; false if none is. */
static bool evict_idle(void)
{
    struct conn *victim = NULL;
    for (struct conn *c = conns; c; c = c->next)
        if (c->served && !c->len && !c->out && !c->deferred && !c->close_after &&
            (!victim || c->last_ns < victim->last_ns))
            victim = c;
    if (!victim)
        return false;
    conn_free(victim);
    evictions++;
    return true;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct httpd_server *srv = arg;
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    if (nconns >= max_conns)
        evict_idle();
    struct conn *c = nconns < max_conns ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        static const char busy[] =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        if (srv->on_reply) {
            struct httpd_ctx x = {.srv = srv};
            srv->on_reply(&x, 503);
        }
        tcp_write(pcb, busy, sizeof(busy) - 1, 0);
        tcp_output(pcb);
        tcp_close(pcb);
        return ERR_OK;
    }
    nconns++;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    c->pcb = pcb;
    c->srv = srv;
    c->last_ns = uk_time_ns();
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
    tcp_poll(pcb, on_poll, 2);
    tcp_nagle_disable(pcb);
    return ERR_OK;
}

uk_result httpd_listen(struct httpd_server *srv)
{
    max_conns = (unsigned)uk_cmdline_get_u64("http_max_conns", HTTPD_CONN_MAX);
    struct tcp_pcb *pcb = tcp_new();
    if (!pcb)
        return UK_ENOMEM;
    if (tcp_bind(pcb, IP_ANY_TYPE, (u16_t)srv->port) != ERR_OK) {
        tcp_close(pcb);
        return UK_EBUSY;
    }
    struct tcp_pcb *l = tcp_listen_with_backlog(pcb, 255);
    if (!l) {
        tcp_close(pcb);
        return UK_ENOMEM;
    }
    tcp_arg(l, srv);
    tcp_accept(l, on_accept);
    uk_info("httpd: listening on port %u", srv->port);
    return UK_OK;
}

struct httpd_ctx *httpd_defer(struct httpd_ctx *x)
{
    struct httpd_ctx *d = malloc(sizeof(*d));
    if (!d)
        return NULL;
    *d = *x;
    x->conn->deferred = d;
    return d;
}

void httpd_complete(struct httpd_ctx *d, unsigned status, const char *ctype, char *body,
                    size_t blen)
{
    struct conn *c = d->conn;
    if (!c) { /* the client went away */
        free(body);
        free(d);
        return;
    }
    c->deferred = NULL;
    httpd_reply(d, status, ctype, body, blen, NULL);
    free(d);
    push(c);
    if (c->out && c->out_off == c->out_len && c->close_after && tcp_sndqueuelen(c->pcb) == 0)
        conn_free(c);
}

unsigned httpd_connections(void) { return nconns; }

uint64_t httpd_evictions(void) { return evictions; }
