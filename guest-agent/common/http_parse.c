/*
 * HTTP/1.1 request parser; see http_parse.h.  Strict where being lenient
 * would be a smuggling risk (bare LF, obs-fold, Transfer-Encoding, duplicate
 * or malformed Content-Length are refused), and bounded everywhere: limits
 * are checked on the bytes seen so far, so an endless line is refused as
 * soon as it passes the limit rather than when it ends.
 */
#include "common/http_parse.h"

#include <string.h>

#define UK_HTTP_MIN(a, b) ((a) < (b) ? (a) : (b))

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

bool http_str_ieq(struct http_str s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.p[i]) != lower((unsigned char)lit[i]))
            return false;
    return true;
}

/* Does the comma-separated list v contain token tok (case-insensitive)? */
static bool list_has(struct http_str v, const char *tok, bool prefix)
{
    size_t n = strlen(tok), i = 0;
    while (i < v.len) {
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t s = i;
        while (i < v.len && v.p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        struct http_str item = {v.p + s, e - s};
        if (prefix && item.len >= n)
            item.len = n;
        if (e > s && http_str_ieq(item, tok))
            return true;
    }
    return false;
}

static enum http_parse_result fail(struct http_request *r, unsigned status)
{
    r->status = status;
    return HTTP_PARSE_ERROR;
}

static enum http_method method_of(struct http_str m)
{
    static const struct {
        const char *name;
        enum http_method m;
    } tab[] = {{"GET", HTTP_GET}, {"HEAD", HTTP_HEAD}, {"POST", HTTP_POST},
               {"PUT", HTTP_PUT}, {"DELETE", HTTP_DELETE}};
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (m.len == strlen(tab[i].name) && memcmp(m.p, tab[i].name, m.len) == 0)
            return tab[i].m;
    return HTTP_OTHER;
}

/* Request line "METHOD SP target SP HTTP/1.x" (without CRLF). */
static enum http_parse_result parse_line(const char *p, size_t n, const struct http_limits *lim,
                                         struct http_request *r)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i > 16 || i >= n || p[i] != ' ')
        return fail(r, 400);
    r->method_name = (struct http_str){p, i};
    r->method = method_of(r->method_name);
    size_t ts = ++i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail(r, 400);
        i++;
    }
    if (i - ts > lim->max_target)
        return fail(r, 414);
    if (i == ts || i >= n || p[ts] != '/')
        return fail(r, 400);
    r->target = (struct http_str){p + ts, i - ts};
    const char *q = memchr(r->target.p, '?', r->target.len);
    r->path = (struct http_str){r->target.p, q ? (size_t)(q - r->target.p) : r->target.len};
    r->query = q ? (struct http_str){q + 1, r->target.len - r->path.len - 1} : (struct http_str){q, 0};
    i++;
    if (n - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || p[i + 6] != '.' || p[i + 5] < '0' ||
        p[i + 5] > '9' || p[i + 7] < '0' || p[i + 7] > '9')
        return fail(r, 400);
    if (p[i + 5] != '1')
        return fail(r, 505);
    r->version_minor = (unsigned)(p[i + 7] - '0');
    r->keep_alive = r->version_minor >= 1;
    return HTTP_PARSE_DONE;
}

static enum http_parse_result parse_header(const char *p, size_t n, struct http_request *r,
                                           bool *have_cl)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        return fail(r, 400); /* also obs-fold (leading space) */
    struct http_str name = {p, i};
    i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t e = n;
    while (e > i && (p[e - 1] == ' ' || p[e - 1] == '\t'))
        e--;
    struct http_str v = {p + i, e - i};
    for (size_t k = 0; k < v.len; k++) {
        unsigned char c = (unsigned char)v.p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(r, 400);
    }
    if (http_str_ieq(name, "content-length")) {
        if (*have_cl || v.len == 0 || v.len > 18)
            return fail(r, 400);
        size_t cl = 0;
        for (size_t k = 0; k < v.len; k++) {
            if (v.p[k] < '0' || v.p[k] > '9')
                return fail(r, 400);
            cl = cl * 10 + (size_t)(v.p[k] - '0');
        }
        *have_cl = true;
        r->content_length = cl;
    } else if (http_str_ieq(name, "transfer-encoding")) {
        return fail(r, 501);
    } else if (http_str_ieq(name, "connection")) {
        if (list_has(v, "close", false))
            r->keep_alive = false;
        else if (list_has(v, "keep-alive", false))
            r->keep_alive = true;
    } else if (http_str_ieq(name, "accept")) {
        if (list_has(v, "application/openmetrics-text", true))
            r->accept_openmetrics = true;
    } else if (http_str_ieq(name, "authorization")) {
        r->authorization = v;
    }
    return HTTP_PARSE_DONE;
}

enum http_parse_result http_parse(const char *buf, size_t len, const struct http_limits *lim,
                                  struct http_request *r)
{
    memset(r, 0, sizeof(*r));
    size_t pos = 0, line = 0, nheaders = 0;
    bool have_cl = false;

    /* RFC 9112 2.2: ignore at least one empty line before the request line. */
    while (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n' && pos < 4)
        pos += 2;
    for (;;) {
        size_t limit = UK_HTTP_MIN(len, lim->max_head + 1);
        const char *cr = pos < limit ? memchr(buf + pos, '\n', limit - pos) : NULL;
        if (!cr) {
            if (len > lim->max_head) {
                /* Only the request line can be too long for the target limit. */
                if (line == 0 && len - pos > lim->max_target + 32)
                    return fail(r, 414);
                return fail(r, 431);
            }
            if (line == 0 && len - pos > lim->max_target + 32)
                return fail(r, 414);
            return HTTP_PARSE_MORE;
        }
        size_t end = (size_t)(cr - buf);
        if (end == pos || buf[end - 1] != '\r')
            return fail(r, 400); /* bare LF */
        size_t n = end - 1 - pos;
        for (size_t k = 0; k < n; k++)
            if (buf[pos + k] == '\r' || buf[pos + k] == 0)
                return fail(r, 400);
        enum http_parse_result res;
        if (line == 0) {
            res = parse_line(buf + pos, n, lim, r);
        } else if (n == 0) {
            pos = end + 1;
            break;
        } else {
            if (++nheaders > lim->max_headers)
                return fail(r, 431);
            res = parse_header(buf + pos, n, r, &have_cl);
        }
        if (res != HTTP_PARSE_DONE)
            return res;
        line++;
        pos = end + 1;
    }
    r->head_len = pos;
    if (r->content_length > lim->max_body)
        return fail(r, 413);
    r->total = pos + r->content_length;
    r->body = buf + pos;
    if (len < r->total)
        return HTTP_PARSE_MORE;
    return HTTP_PARSE_DONE;
}

const char *http_reason(unsigned status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

bool http_status_closes(unsigned status)
{
    switch (status) {
    case 400: case 408: case 413: case 414: case 431: case 501: case 503: case 505:
        return true;
    default:
        return false;
    }
}
