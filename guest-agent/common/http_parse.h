/*
 * HTTP/1.1 request parser (RFC 9112) for the guest's mini-httpd: a pure
 * function over a byte buffer, so it is unit-tested and fuzzed on the host.
 *
 * http_parse() looks at the bytes received so far on a connection and says
 * whether they start with a complete request (head and body), need more
 * bytes, or are bad - with the status code the server must answer.  Pointers
 * in struct http_request point into the caller's buffer.
 */
#ifndef GUEST_AGENT_HTTP_PARSE_H
#define GUEST_AGENT_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_method {
    HTTP_GET = 1,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_PUT,
    HTTP_DELETE,
    HTTP_OTHER, /* a valid token we do not implement: 405 from the router */
};

enum http_parse_result {
    HTTP_PARSE_DONE = 0, /* a complete request; req->total bytes belong to it */
    HTTP_PARSE_MORE,     /* incomplete, nothing wrong so far */
    HTTP_PARSE_ERROR,    /* bad request: answer req->status and close */
};

struct http_limits {
    size_t max_target; /* request-target bytes, else 414 */
    size_t max_head;   /* request line + headers + CRLFs, else 431 */
    unsigned max_headers;
    size_t max_body; /* Content-Length, else 413 */
};

struct http_str {
    const char *p;
    size_t len;
};

struct http_request {
    enum http_method method;
    struct http_str method_name;
    struct http_str target, path, query;
    unsigned version_minor; /* HTTP/1.x */
    bool keep_alive;
    bool accept_openmetrics; /* Accept names application/openmetrics-text */
    struct http_str authorization;
    size_t content_length;
    size_t head_len; /* bytes up to and including the empty line */
    size_t total;    /* head_len + content_length */
    const char *body;
    unsigned status; /* for HTTP_PARSE_ERROR: 400, 413, 414, 431, 501, 505 */
};

enum http_parse_result http_parse(const char *buf, size_t len, const struct http_limits *lim,
                                  struct http_request *req);

/* Reason phrase of a status code ("Unknown" for others). */
const char *http_reason(unsigned status);

/*
 * Whether an answer with this status ends the connection.  True for the
 * errors that leave the request stream in doubt, where the server cannot
 * tell where the next request starts or refused to read this one (400,
 * 408, 413, 414, 431, 501, 505), and for 503 (overloaded).  False for the
 * other statuses, including 401, 403, 404 and 405: they answer a request
 * that was read whole, so keep-alive continues (docs/metrics.md).
 */
bool http_status_closes(unsigned status);

/* True if s (len bytes) equals the NUL-terminated lit, ASCII case-insensitive. */
bool http_str_ieq(struct http_str s, const char *lit);

#endif
