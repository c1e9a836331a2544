/* instance.json's descriptive keys (host-collector/lib/inst_meta.c) from hostile bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/inst_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct inst_meta m;
    char err[256];

    if (inst_meta_parse((const char *)data, size, &m, err, sizeof(err)) == 0) {
        /* Every string is bounded, NUL-terminated, printable. */
        for (const char *s = m.name; *s; s++)
            if (*s < 0x20 || *s >= 0x7f)
                __builtin_trap();
        if (m.nports > INST_META_MAX_PORTS)
            __builtin_trap();
        for (unsigned i = 0; i < m.nports; i++)
            if (!m.ports[i].host || m.ports[i].host > 65535 || !m.ports[i].guest)
                __builtin_trap();
        (void)inst_meta_host_port(&m, 8080);
        (void)inst_name_ok(m.name);
    }
    return 0;
}
