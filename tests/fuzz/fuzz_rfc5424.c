/*
 * Fuzz the RFC 5424 rendering of log records: the input fills a struct logrec
 * byte for byte (so every fixed field may lack its NUL, len may exceed text[],
 * severity and source may be out of range); the tail is the hostname.
 * Contract: never crashes; with a buffer of RFC5424_MAX the output always
 * parses back (rfc5424_check.h) with the record's seq.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectd/rfc5424.h"
#include "../unit/rfc5424_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logrec r;
    static char out[RFC5424_MAX];
    char host[300];
    size_t n, hn = 0;
    unsigned long long seq = ~0ULL;

    memset(&r, 0, sizeof(r));
    memcpy(&r, data, size < sizeof(r) ? size : sizeof(r));
    if (size > sizeof(r)) {
        hn = size - sizeof(r) < sizeof(host) - 1 ? size - sizeof(r) : sizeof(host) - 1;
        memcpy(host, data + sizeof(r), hn);
    }
    host[hn] = 0;
    n = rfc5424_format(&r, host, out, sizeof(out));
    if (n == 0 || rfc5424_check(out, n, &seq) != NULL || seq != r.seq)
        abort();
    /* A short buffer must fail cleanly, never overflow. */
    (void)rfc5424_format(&r, host, out, (size_t)(r.len % 64));
    return 0;
}
