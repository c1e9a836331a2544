/*
 * The agent's HTTP endpoints on port 8080 (http_port=): /metrics, /healthz,
 * /info, /threads, /dmesg?since=SEQ, and control endpoints under /control/
 * (only with token= on the command line and "Authorization: Bearer TOKEN").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uk/build.h>
#include <uk/cmdline.h>
#include <uk/cpu.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/sync.h>
#include <uk/thread.h>
#include <uk/time.h>
#include <uk/trace_hooks.h>

#include "guest/agent.h"
#include "guest/httpd.h"
#include "guest/metrics.h"

enum { METRICS_BUF = 256 * 1024 };

static struct um_family *http_reqs, *scrape_hist;

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) UK_PRINTF(2, 3);
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
        char *np = realloc(b->p, ncap);
        if (!np)
            return;
        b->p = np;
        b->cap = ncap;
    }
}

/* JSON string (escapes quotes, backslashes and control bytes). */
static void sb_json_str(struct sbuf *b, const char *s, size_t n)
{
    sb_printf(b, "\"");
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            sb_printf(b, "\\%c", c);
        else if (c < 0x20 || c > 0x7e)
            sb_printf(b, "\\u%04x", c);
        else
            sb_printf(b, "%c", c);
    }
    sb_printf(b, "\"");
}

static void reply_sb(struct httpd_ctx *x, const char *ctype, struct sbuf *b)
{
    httpd_reply(x, 200, ctype, b->p, b->len, NULL);
}

/*
 * The render buffer of /metrics: taken once from the page allocator, not
 * the heap, so that a scrape does not report its own 256 KiB as heap in use
 * (the collectors run while it is held).  The reply copies what was
 * rendered, after the values were collected.  Scrapes are answered one at
 * a time (metrics_buf_lock).
 */
static char *metrics_buf;
static struct uk_mutex metrics_buf_lock = UK_MUTEX_INIT;

static void ep_metrics(struct httpd_ctx *x)
{
    bool om = x->req->accept_openmetrics;
    struct ukm_out o = {metrics_buf, 0, METRICS_BUF, false};
    char *body;

    if (!o.p) {
        httpd_reply_text(x, 503, "out of memory\n");
        return;
    }
    uk_mutex_lock(&metrics_buf_lock);
    uint64_t t0 = uk_tsc();
    um_update(om, &o);
    uint64_t ns = uk_tsc_to_ns(uk_tsc() - t0);
    um_observe(um_series(scrape_hist, NULL, NULL), (int64_t)ns);
    body = malloc(o.len ? o.len : 1);
    if (body)
        memcpy(body, o.p, o.len);
    uk_mutex_unlock(&metrics_buf_lock);
    if (!body) {
        httpd_reply_text(x, 503, "out of memory\n");
        return;
    }
    char extra[64]; /* guest-side cost of this scrape, for the benchmark */
    snprintf(extra, sizeof(extra), "X-Ukscope-Scrape-Ns: %llu\r\n", (unsigned long long)ns);
    httpd_reply(x, 200,
                om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                   : "text/plain; version=0.0.4; charset=utf-8",
                body, o.len, extra);
}

static void ep_info(struct httpd_ctx *x)
{
    struct sbuf b = {0};
    struct uk_mem_stats m;
    uk_mem_stats(&m);
    uint64_t up = uk_time_ns();
    sb_printf(&b, "{\"version\":\"%s\",\"build_id\":\"%s\",\"uptime_ns\":%llu,\"cpus\":%u,", uk_version(),
              uk_build_id_hex(), (unsigned long long)up, uk_cpu_count());
    sb_printf(&b, "\"memory\":{\"ram_bytes\":%llu,\"heap_in_use\":%llu,\"heap_peak\":%llu},",
              (unsigned long long)m.ram_bytes, (unsigned long long)m.heap_in_use,
              (unsigned long long)m.heap_peak);
    sb_printf(&b, "\"cmdline\":");
    const char *cl = uk_cmdline_raw();
    /* The control token is a secret: never echo the command line verbatim. */
    struct sbuf c = {0};
    for (const char *p = cl; p && *p;) {
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n >= 6 && strncmp(p, "token=", 6) == 0)
            sb_printf(&c, "%stoken=***", c.len ? " " : "");
        else if (n)
            sb_printf(&c, "%s%.*s", c.len ? " " : "", (int)n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
    sb_json_str(&b, c.p ? c.p : "", c.len);
    free(c.p);
    sb_printf(&b, "}\n");
    reply_sb(x, "application/json", &b);
}

static bool thread_json(const struct uk_thread *t, void *arg)
{
    struct sbuf *b = arg;
    sb_printf(b, "%s{\"tid\":%u,\"name\":", b->len > 1 ? "," : "", (unsigned)t->tid);
    sb_json_str(b, t->name, sizeof(t->name));
    sb_printf(b, ",\"state\":\"%s\",\"cpu\":%d,\"run_ns\":%llu}", uk_thread_state_name(t->state),
              (int)t->cpu, (unsigned long long)t->run_ns);
    return true;
}

static void ep_threads(struct httpd_ctx *x)
{
    struct sbuf b = {0};
    sb_printf(&b, "[");
    uk_thread_foreach(thread_json, &b);
    sb_printf(&b, "]\n");
    reply_sb(x, "application/json", &b);
}

static void ep_dmesg(struct httpd_ctx *x)
{
    uint64_t seq = 0;
    const struct http_str q = x->req->query;
    if (q.len) {
        if (q.len < 7 || strncmp(q.p, "since=", 6) != 0) {
            httpd_reply_text(x, 400, "bad query: want since=SEQ\n");
            return;
        }
        for (size_t i = 6; i < q.len; i++) {
            if (q.p[i] < '0' || q.p[i] > '9' || i > 24) {
                httpd_reply_text(x, 400, "bad query: want since=SEQ\n");
                return;
            }
            seq = seq * 10 + (uint64_t)(q.p[i] - '0');
        }
    }
    struct sbuf b = {0};
    struct uk_klog_rec r;
    uint64_t next;
    const struct uk_klog_ring *ring = uk_klog_ring();
    uint64_t head = ring->head;
    if (head > UK_KLOG_SLOTS && seq < head - UK_KLOG_SLOTS)
        seq = head - UK_KLOG_SLOTS;
    unsigned n = 0;
    while (seq < head && n++ < UK_KLOG_SLOTS) {
        if (uk_klog_read(seq, &r, &next) == UK_OK) {
            uint64_t ns = r.time_ns;
            sb_printf(&b, "%llu [%5llu.%06llu] <%s> cpu%u: %.*s\n", (unsigned long long)seq,
                      (unsigned long long)(ns / 1000000000ULL),
                      (unsigned long long)(ns % 1000000000ULL / 1000), uk_log_level_name(r.level),
                      r.cpu, (int)UK_MIN(r.len, UK_KLOG_TEXT), r.text);
        }
        if (next <= seq)
            break;
        seq = next;
    }
    if (!b.p)
        sb_printf(&b, "%s", "");
    reply_sb(x, "text/plain; charset=utf-8", &b);
}

/* Control endpoints: 404 without a token on the command line, else 401/403. */
/* ?mode=overwrite|discard: the main rings' policy (discard freezes a full
 * ring with its last events, for a host to read at leisure). */
static void ctl_trace_mode(struct httpd_ctx *x, const char *v, size_t n)
{
    enum uk_trace_ring_policy p;
    if (n == 9 && !memcmp(v, "overwrite", 9))
        p = UK_TRACE_POLICY_OVERWRITE;
    else if (n == 7 && !memcmp(v, "discard", 7))
        p = UK_TRACE_POLICY_DISCARD;
    else {
        httpd_reply_text(x, 400, "want mode=overwrite or mode=discard\n");
        return;
    }
    uk_result r = uk_trace_set_policy(p);
    if (r == UK_ENOSYS) {
        httpd_reply_text(x, 503, "no tracer in this image\n");
        return;
    }
    httpd_reply_text(x, r ? 500 : 200,
                     r ? "cannot switch the rings\n"
                       : p == UK_TRACE_POLICY_DISCARD ? "main rings now discard\n"
                                                      : "main rings now overwrite\n");
}

/*
 * POST /control/trace?on=LIST or ?off=LIST: switch tracepoints by name or
 * category (comma-separated, "all"); the reply says how many matched.  The
 * query is taken literally: only [a-z0-9_,] in LIST, anything else is 400.
 * ?mode=overwrite|discard: see ctl_trace_mode.
 */
static void ctl_trace(struct httpd_ctx *x)
{
    struct http_str q = x->req->query;
    char list[128];
    int on;
    size_t skip;
    if (q.len > 5 && !memcmp(q.p, "mode=", 5)) {
        ctl_trace_mode(x, q.p + 5, q.len - 5);
        return;
    }
    if (q.len > 3 && !memcmp(q.p, "on=", 3)) {
        on = 1;
        skip = 3;
    } else if (q.len > 4 && !memcmp(q.p, "off=", 4)) {
        on = 0;
        skip = 4;
    } else {
        httpd_reply_text(x, 400, "want ?on=LIST, ?off=LIST or ?mode=overwrite|discard\n");
        return;
    }
    size_t n = q.len - skip;
    if (n >= sizeof(list)) {
        httpd_reply_text(x, 414, "list too long\n");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char c = q.p[skip + i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == ',')) {
            httpd_reply_text(x, 400, "bad character in list\n");
            return;
        }
        list[i] = c;
    }
    list[n] = '\0';
    if (!uk_trace_emit) {
        httpd_reply_text(x, 503, "no tracer in this image\n");
        return;
    }
    char body[64];
    snprintf(body, sizeof(body), "%u tracepoint(s) turned %s\n", uk_trace_set_list(list, on),
             on ? "on" : "off");
    httpd_reply_text(x, 200, body);
}

static void ep_control(struct httpd_ctx *x)
{
    const char *token = uk_cmdline_get("token");
    if (!token || !*token) {
        httpd_reply_text(x, 404, "not found\n");
        return;
    }
    struct http_str a = x->req->authorization;
    if (a.len < 7 || strncasecmp(a.p, "Bearer ", 7) != 0) {
        httpd_reply(x, 401, "text/plain", NULL, 0, "WWW-Authenticate: Bearer\r\n");
        return;
    }
    if (!uk_cmdline_secret_equal("token", a.p + 7, a.len - 7)) { /* constant time */
        httpd_reply_text(x, 403, "forbidden\n");
        return;
    }
    if (x->req->method != HTTP_POST) {
        httpd_reply(x, 405, "text/plain", NULL, 0, "Allow: POST\r\n");
        return;
    }
    struct http_str path = x->req->path;
    if (path.len == strlen("/control/trace") && !memcmp(path.p, "/control/trace", path.len)) {
        ctl_trace(x);
        return;
    }
    httpd_reply_text(x, 404, "no such control\n");
}

struct route {
    const char *path;
    void (*fn)(struct httpd_ctx *x);
};

static const struct route routes[] = {
    {"/metrics", ep_metrics}, {"/healthz", NULL}, {"/info", ep_info},
    {"/threads", ep_threads}, {"/dmesg", ep_dmesg},
};

static void handler(struct httpd_ctx *x)
{
    const struct http_request *r = x->req;
    if (r->path.len > 9 && strncmp(r->path.p, "/control/", 9) == 0) {
        x->endpoint = "/control";
        ep_control(x);
        return;
    }
    for (size_t i = 0; i < UK_ARRAY_SIZE(routes); i++) {
        if (r->path.len != strlen(routes[i].path) || memcmp(r->path.p, routes[i].path, r->path.len))
            continue;
        x->endpoint = routes[i].path;
        if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
            httpd_reply(x, 405, "text/plain", NULL, 0, "Allow: GET, HEAD\r\n");
            return;
        }
        if (routes[i].fn)
            routes[i].fn(x);
        else
            httpd_reply_text(x, 200, "ok\n");
        return;
    }
    x->endpoint = "other";
    httpd_reply_text(x, 404, "not found\n");
}

static void on_reply(struct httpd_ctx *x, unsigned status)
{
    char code[8];
    snprintf(code, sizeof(code), "%u", status);
    um_add(um_series(http_reqs, x->endpoint ? x->endpoint : "none", code), 1);
}

static struct httpd_server agent_srv = {.handler = handler, .on_reply = on_reply};

void httpd_start(unsigned port)
{
    static const char *const lbl[] = {"endpoint", "code", NULL};
    /* 100 us .. 10 s in ns: a busy or emulated guest's tail must stay visible. */
    static const int64_t b[] = {100000,    500000,    1000000,    5000000,
                                10000000,  50000000,  100000000,  250000000,
                                500000000, 1000000000, 5000000000, 10000000000};
    http_reqs = um_family("ukscope_http_requests",
                          "HTTP responses sent by the agent on port 8080, by endpoint and "
                          "status code",
                          UKM_COUNTER, 1, lbl, 48, NULL, 0);
    scrape_hist = um_family("ukscope_http_scrape_duration_seconds",
                            "Guest time to collect and render one /metrics response (excludes "
                            "network transfer)",
                            UKM_HISTOGRAM, 1000000000, NULL, 1, b, UK_ARRAY_SIZE(b));
    metrics_buf = uk_page_alloc(METRICS_BUF / UK_PAGE_SIZE);
    um_series(scrape_hist, NULL, NULL);
    /* metrics_bench_series=N: N filler series, to benchmark scrapes of a given size. */
    unsigned nb = (unsigned)uk_cmdline_get_u64("metrics_bench_series", 0);
    if (nb) {
        static const char *const il[] = {"i", NULL};
        struct um_family *bf = um_family("ukscope_bench_filler", "Filler series for the scrape benchmark",
                                         UKM_COUNTER, 1, il, nb, NULL, 0);
        for (unsigned i = 0; i < nb; i++) {
            char v[12];
            snprintf(v, sizeof(v), "%u", i);
            um_add(um_series(bf, v, NULL), i);
        }
    }
    agent_srv.port = port;
    uk_result r = httpd_listen(&agent_srv);
    if (r)
        uk_warn("httpd: cannot listen on %u: %s", port, uk_result_str(r));
}
