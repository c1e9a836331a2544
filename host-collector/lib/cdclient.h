/*
 * ukctl's client of the ukcollectd API: plain HTTP/1.0 over TCP to a
 * loopback address, one request per connection, bounded reply size.
 * The collector's replies are parsed as JSON by the callers.
 */
#ifndef UKSCOPE_CDCLIENT_H
#define UKSCOPE_CDCLIENT_H

#include <stddef.h>

#define CDC_DEFAULT_ADDR "127.0.0.1:9560"
#define CDC_MAX_REPLY (64u << 20)

/* The collector address: $UKCOLLECTD_ADDR or CDC_DEFAULT_ADDR. */
const char *cdc_addr(void);

/*
 * Send one request; token (may be NULL) goes in `Authorization: Bearer`.
 * 0 with *status and a malloc'ed NUL-terminated *body, or -1 (no
 * collector listening, timeout, malformed reply) with errno.
 */
int cdc_request(const char *addr, const char *method, const char *path, const char *token,
                const char *body, int timeout_ms, int *status, char **reply, size_t *len);

/*
 * Follow a Server-Sent Events stream: fn gets each `data:` payload
 * (NUL-terminated) until the stream ends or fn returns non-zero.
 * 0 at the end of the stream, -1 if it could not be opened.
 */
int cdc_sse(const char *addr, const char *path, int (*fn)(void *arg, const char *data),
            void *arg);

/* Read a token file (first line); 0 or -1. */
int cdc_read_token(const char *path, char *buf, size_t len);

/* The token file ukcollectd generates by default (STATE/token). */
int cdc_default_token_path(char *buf, size_t len);

#endif
