/*
 * The console's parsers of untrusted input (host-collector/collectd/
 * dashparse.c): the input, as a NUL-terminated string, is an
 * Accept-Encoding header, a request path and a bundle id; as JSON, a query-cpus-fast reply.  Invariants trap.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dashparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    int tid[16];

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    dash_accepts_gzip(s);
    const char *t = dash_content_type(s);
    if (t && (strchr(s, '/') || s[0] == '.'))
        __builtin_trap();
    if (dash_bundle_id_ok(s) && (strchr(s, '/') || s[0] == '.'))
        __builtin_trap();
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    unsigned n = dash_vcpu_tids(j, tid, 16);
    if (n > 16)
        __builtin_trap();
    for (unsigned i = 0; i < 16; i++)
        if (tid[i] < 0 || (i >= n && tid[i]))
            __builtin_trap();
    json_decref(j);
    free(s);
    return 0;
}
