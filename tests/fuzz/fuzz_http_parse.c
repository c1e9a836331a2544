/* libFuzzer: the mini-httpd request parser.  Invariants: results are in
 * range, a DONE request lies inside the input, pointers point into it, and
 * parsing a prefix of a DONE request never returns DONE for more bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct http_limits lim = {64, 512, 16, 256};
    struct http_request r;
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    enum http_parse_result res = http_parse(buf, size, &lim, &r);
    if (res == HTTP_PARSE_DONE) {
        if (r.total > size || r.head_len > r.total || r.target.len > lim.max_target ||
            r.content_length > lim.max_body || r.target.p < buf || r.target.p + r.target.len > buf + size)
            abort();
        if (r.path.len + (r.query.p ? r.query.len + 1 : 0) != r.target.len)
            abort();
    } else if (res == HTTP_PARSE_ERROR) {
        static const unsigned ok[] = {400, 413, 414, 431, 501, 505};
        unsigned i;
        for (i = 0; i < sizeof(ok) / sizeof(ok[0]) && ok[i] != r.status; i++)
            ;
        if (i == sizeof(ok) / sizeof(ok[0]))
            abort();
    } else if (res != HTTP_PARSE_MORE) {
        abort();
    }
    free(buf);
    return 0;
}
