/*
 * Version and GNU build-id (from the .note.gnu.build-id the linker adds).
 */
#include "core/kernel.h"
#include <string.h>
#include <uk/build.h>

#ifndef UK_VERSION
#define UK_VERSION "0.0.0"
#endif

extern const char __build_id_note[];

enum { NT_GNU_BUILD_ID = 3 };

const char *uk_version(void)
{
    return UK_VERSION;
}

const uint8_t *uk_build_id(size_t *len)
{
    const uint32_t *n = (const uint32_t *)__build_id_note;
    /* namesz, descsz, type, "GNU\0", desc */
    if ((const char *)n + 16 > __notes_end || n[2] != NT_GNU_BUILD_ID || n[0] != 4) {
        *len = 0;
        return NULL;
    }
    *len = n[1];
    return (const uint8_t *)(n + 4);
}

const char *uk_build_id_hex(void)
{
    static char hex[2 * 32 + 1];
    size_t len;
    const uint8_t *id = uk_build_id(&len);
    if (!id)
        return "none";
    len = UK_MIN(len, (size_t)32);
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = "0123456789abcdef"[id[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[id[i] & 15];
    }
    hex[2 * len] = '\0';
    return hex;
}

const char *uk_result_str(uk_result r)
{
    static const char *const names[] = {"ok",     "invalid argument", "out of memory",
                                        "busy",   "not found",        "bad address",
                                        "timed out", "try again",     "not supported"};
    return (unsigned)r < UK_ARRAY_SIZE(names) ? names[r] : "unknown error";
}
