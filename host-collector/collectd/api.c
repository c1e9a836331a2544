/*
 * The HTTP API (/api/v1/), /metrics and /sd/prometheus on libmicrohttpd,
 * driven from the daemon's epoll loop (MHD_USE_EPOLL, no MHD thread), so
 * handlers read the daemon's state without locks.  Routes and JSON shapes:
 * docs/collector.md.  POSTs need `Authorization: Bearer TOKEN`, compared
 * in constant time: none -> 401, wrong -> 403.
 *
 * logs?follow=1 is Server-Sent Events (api_sse.c).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cd.h"
#include "dash.h"
#include "log.h"
#include "netaddr.h"

enum { BODY_MAX = 65536, LOGS_DEFAULT = 1000, LOGS_MAX = 100000 };

/* api_sse.c */
enum MHD_Result api_sse_start(struct MHD_Connection *c, const char *name, const char *boot,
                              const char *source, uint64_t since);
void api_sse_resume(void);
void api_sse_close_all(void);

char *api_logs_query(struct inst *in, const char *boot, const char *source, uint64_t since,
                     uint64_t limit, size_t *len);

static struct MHD_Daemon *mhd;

struct req {
    char *body;
    size_t len;
    bool too_big;
};


static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"ukcollectd\"");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result api_reply_json(struct MHD_Connection *c, unsigned status, json_t *j);
/* The console's replies (dash.h): reals with 6 significant digits, which is
 * what a chart or a rate needs, at half the bytes of jansson's 17. */
enum MHD_Result api_reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(j);
    if (!s)
        return MHD_NO;
    return reply(c, status, "application/json", s, strlen(s));
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return MHD_NO;
    size_t n = strlen(s);
    char *b = realloc(s, n + 2);
    if (b) {
        b[n] = '\n';
        b[n + 1] = 0;
        s = b;
        n++;
    }
    return reply(c, status, "application/json", s, n);
}

enum MHD_Result api_reply_err(struct MHD_Connection *c, unsigned status, const char *msg);
enum MHD_Result api_reply_err(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return reply_json(c, status, json_pack("{s:s}", "error", msg));
}

/* Constant time in the token's length and content. */
static bool token_ok(const char *got)
{
    size_t n = strlen(cd.token), m = strlen(got);
    unsigned char d = (unsigned char)(n != m);

    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)cd.token[i] ^ (unsigned char)(i < m ? got[i] : 0);
    return d == 0;
}

bool api_authorized(struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

    if (!auth || strncmp(auth, "Bearer ", 7))
        *ret = api_reply_err(c, MHD_HTTP_UNAUTHORIZED, "Authorization: Bearer TOKEN required");
    else if (!token_ok(auth + 7))
        *ret = api_reply_err(c, MHD_HTTP_FORBIDDEN, "wrong token");
    else
        return true;
    return false;
}

static json_t *inst_json(struct inst *in)
{
    json_t *ports = json_array(), *errs = json_object();
    int64_t up = 0;

    for (unsigned i = 0; i < in->meta.nports; i++)
        json_array_append_new(ports, json_pack("{s:i,s:i}", "host", in->meta.ports[i].host,
                                               "guest", in->meta.ports[i].guest));
    for (unsigned s = 0; s < SRC_COUNT; s++)
        json_object_set_new(errs, cd_source_names[s], json_integer((json_int_t)in->err[s]));
    if (in->state == ST_RUNNING || in->state == ST_PAUSED || in->state == ST_PANICKED)
        up = (cd_wall_ns() - in->boot_wall_ns) / 1000000000LL;
    return json_pack(
        "{s:s,s:s,s:I,s:I,s:s,s:i,s:i,s:s,s:s,s:s,s:s,s:i,s:o,s:I,s:I,s:b,s:s,s:{s:I,s:I,s:I,s:I},"
        "s:o}",
        "name", in->name, "state", inst_state_name(in->state), "uptime_s", (json_int_t)up,
        "state_for_s", (json_int_t)((cd_now() - in->state_since) / 1000), "accel",
        in->meta.accel, "smp", in->meta.smp, "mem_mib", in->meta.mem_mib, "build_id",
        in->build_id, "boot_id", in->boot_id, "image", in->has_sum ? in->meta.image : in->spec.image,
        "run_dir", in->run_dir, "pid", in->has_sum ? in->sum.pid : 0, "ports", ports,
        "restarts", (json_int_t)in->restarts, "panics", (json_int_t)in->panics, "managed",
        in->spec.managed, "restart_policy",
        in->spec.managed ? (const char *[]){"no", "on-failure", "always"}[in->spec.policy] : "",
        "log", "klog_next", (json_int_t)in->ls.pos.klog_next, "klog_records",
        (json_int_t)in->ls.pos.klog_records, "klog_lost", (json_int_t)in->ls.pos.klog_lost,
        "console_lines", (json_int_t)in->ls.pos.console_seq, "errors", errs);
}

static enum MHD_Result logs(struct MHD_Connection *c, struct inst *in)
{
    const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    const char *limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *follow = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "follow");
    const char *boot = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "boot");
    const char *source = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "source");
    uint64_t s = since ? strtoull(since, NULL, 10) : 0;
    uint64_t l = limit ? strtoull(limit, NULL, 10) : LOGS_DEFAULT;

    if (!boot)
        boot = in->boot_id;
    if (!source)
        source = "klog";
    if (strcmp(source, "klog") && strcmp(source, "console") && strcmp(source, "all"))
        return api_reply_err(c, MHD_HTTP_BAD_REQUEST, "source: klog, console or all");
    if (follow && !strcmp(follow, "1"))
        return api_sse_start(c, in->name, boot, source, s);
    if (l > LOGS_MAX)
        l = LOGS_MAX;
    size_t len;
    char *body = api_logs_query(in, boot, source, s, l, &len);
    if (!body)
        return api_reply_err(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Failed to read the store");
    return reply(c, MHD_HTTP_OK, "application/json", body, len);
}

static enum MHD_Result create(struct MHD_Connection *c, struct req *rq)
{
    struct inst_spec sp;
    char err[256], name[64];

    if (api_parse_create(rq->body, rq->len, name, &sp, err, sizeof(err)) < 0)
        return api_reply_err(c, MHD_HTTP_BAD_REQUEST, err);
    if (inst_create(name, &sp, err, sizeof(err)) < 0)
        return api_reply_err(c, MHD_HTTP_CONFLICT, err);
    return reply_json(c, MHD_HTTP_ACCEPTED, json_pack("{s:s,s:s}", "name", name, "state", "starting"));
}

/* GET .../NAME/trace?last=S&format=perfetto|json, or /api/v1/trace (the fleet). */
static enum MHD_Result trace(struct MHD_Connection *c, const char *name)
{
    const char *last = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "last");
    const char *fmt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
    char err[256], *body = NULL;
    size_t len = 0;

    if (!fmt)
        fmt = "perfetto";
    if (!name && strcmp(fmt, "perfetto"))
        return api_reply_err(c, MHD_HTTP_BAD_REQUEST, "the fleet trace is perfetto only");
    if (tsglue_export(name, last ? strtoll(last, NULL, 10) : 10, fmt, &body, &len, err,
                      sizeof(err)) < 0)
        return api_reply_err(c, strstr(err, "built without") ? MHD_HTTP_NOT_IMPLEMENTED
                                                         : MHD_HTTP_BAD_REQUEST, err);
    return reply(c, MHD_HTTP_OK, strcmp(fmt, "json") ? "application/octet-stream"
                                                      : "application/json", body, len);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct req *rq = *con_cls;
    bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET");
    char name[64] = "", action[32] = "";
    struct inst *in;

    (void)cls;
    (void)version;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->len + *upload_size > BODY_MAX)
            rq->too_big = true;
        else {
            char *nb = realloc(rq->body, rq->len + *upload_size + 1);
            if (!nb)
                return MHD_NO;
            rq->body = nb;
            memcpy(rq->body + rq->len, upload, *upload_size);
            rq->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (!get && !post)
        return api_reply_err(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or POST");
    if (post) {
        enum MHD_Result ar;
        if (!api_authorized(c, &ar))
            return ar;
        if (rq->too_big)
            return api_reply_err(c, MHD_HTTP_CONTENT_TOO_LARGE, "body over 64 KiB");
    }
    enum MHD_Result dr; /* the console's routes (dash.h) */
    if (post && dash_post(c, url, &dr))
        return dr;
    if (get && (dash_route(c, url, method, &dr) || crash_route(c, url, &dr) || web_route(c, url, &dr)))
        return dr;
    if (get && !strcmp(url, "/metrics")) {
        size_t len;
        char *b = prom_render(&len);
        return b ? reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b, len)
                 : api_reply_err(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Failed to render");
    }
    if (get && !strcmp(url, "/sd/prometheus")) {
        size_t len;
        char *b = prom_sd(&len);
        return b ? reply(c, MHD_HTTP_OK, "application/json", b, len)
                 : api_reply_err(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Failed to render");
    }
    if (get && !strcmp(url, "/api/v1/trace"))
        return trace(c, NULL);
    if (!strcmp(url, "/api/v1/instances") || !strcmp(url, "/api/v1/instances/")) {
        if (post)
            return create(c, rq);
        json_t *a = json_array();
        for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
            if (cd.inst[i].used)
                json_array_append_new(a, inst_json(&cd.inst[i]));
        return reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "instances", a));
    }
    if (strncmp(url, "/api/v1/instances/", 18) ||
        sscanf(url + 18, "%63[^/]/%31[^/]", name, action) < 1)
        return api_reply_err(c, MHD_HTTP_NOT_FOUND, "no such route (see docs/collector.md)");
    if (!(in = inst_find(name)))
        return api_reply_err(c, MHD_HTTP_NOT_FOUND, "no such instance");
    if (get && !action[0])
        return reply_json(c, MHD_HTTP_OK, inst_json(in));
    if (get && !strcmp(action, "logs"))
        return logs(c, in);
    if (get && !strcmp(action, "trace"))
        return trace(c, in->name);
    if (get && !strcmp(action, "threads")) {
        json_t *t = ingest_threads_json(in);
        if (!t)
            return api_reply_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no valid thread table in RAM");
        return reply_json(c, MHD_HTTP_OK, json_pack("{s:s,s:o}", "name", in->name, "threads", t));
    }
    if (post && action[0]) {
        char err[256];
        const char *rm = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "remove");
        if (inst_action(in, action, rm && !strcmp(rm, "1"), err, sizeof(err)) < 0)
            return api_reply_err(c, MHD_HTTP_CONFLICT, err);
        return reply_json(c, MHD_HTTP_ACCEPTED, json_pack("{s:s,s:s}", "name", in->name, "action", action));
    }
    return api_reply_err(c, MHD_HTTP_NOT_FOUND, "no such route (see docs/collector.md)");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (rq) {
        free(rq->body);
        free(rq);
    }
    *con_cls = NULL;
}

int api_start(const char *listen, bool allow_remote)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    char err[128];

    if (netaddr_parse(listen, &sa, &salen, err, sizeof(err)) < 0) {
        cd_log(CD_ERR, "Failed to parse --listen %s: %s", listen, err);
        return -1;
    }
    if (!netaddr_is_loopback(&sa)) {
        if (!allow_remote) {
            cd_log(CD_ERR, "Failed to listen on %s: not loopback; add --allow-remote to expose "
                   "the API (GETs need no token)", listen);
            return -1;
        }
        cd_log(CD_WARN, "WARNING: listening on %s, reachable from other hosts: logs and "
               "metrics are readable without a token", listen);
    }
    /* MHD binds an IPv6 sockaddr only with MHD_USE_IPv6 */
    mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                               (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                           0, NULL, NULL, handle,
                           NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
                           completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                           MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_END);
    if (!mhd) {
        cd_log(CD_ERR, "Failed to listen on %s: %s", listen, strerror(errno));
        return -1;
    }
    return 0;
}

int api_fd(void)
{
    const union MHD_DaemonInfo *i = mhd ? MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    return i ? i->epoll_fd : -1;
}

/* How long the loop may sleep before MHD needs to run again (0 while a
 * connection still has work queued, e.g. a file reply to a slow reader:
 * its socket gives no new edge), at most max_ms. */
int api_timeout_ms(int max_ms)
{
    MHD_UNSIGNED_LONG_LONG t;
    if (mhd && MHD_get_timeout(mhd, &t) == MHD_YES && t < (MHD_UNSIGNED_LONG_LONG)max_ms)
        return (int)t;
    return max_ms;
}

void api_poll(void)
{
    if (mhd)
        MHD_run(mhd);
}

void api_tick(void)
{
    api_sse_resume();
    api_poll();
}

void api_stop(void)
{
    if (mhd) {
        api_sse_close_all();
        MHD_run(mhd);
        MHD_stop_daemon(mhd);
    }
    mhd = NULL;
}
