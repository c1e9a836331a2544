/*
 * ukcollectd's parsers of untrusted text: the body of POST
 * /api/v1/instances, and log-store lines replayed into a position at
 * recovery (a store file is ours, but a damaged one must not crash us).
 * The input is split at the first NUL: body, then store lines.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *nul = memchr(p, 0, size);
    size_t blen = nul ? (size_t)(nul - p) : size;
    struct inst_spec sp;
    struct logpos pos;
    char name[64], err[256];

    if (api_parse_create(p, blen, name, &sp, err, sizeof(err)) == 0) {
        if (sp.image[0] != '/' || sp.mem_mib < 16 || sp.smp < 1 || sp.smp > 16 ||
            sp.policy > RP_ALWAYS || strnlen(name, 64) == 64)
            __builtin_trap();
    }
    memset(&pos, 0, sizeof(pos));
    for (size_t off = nul ? blen + 1 : size; off < size;) {
        const char *nl = memchr(p + off, '\n', size - off);
        size_t l = nl ? (size_t)(nl - (p + off)) : size - off;
        json_t *r = json_loadb(p + off, l, 0, NULL);
        if (r)
            logpos_apply(&pos, r);
        json_decref(r);
        off += l + 1;
    }
    if (strnlen(pos.boot_id, sizeof(pos.boot_id)) == sizeof(pos.boot_id))
        __builtin_trap();
    return 0;
}
