/* Fuzz virtio_mmio_parse_arg: no crash or UB, and accepted values round-trip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    uint64_t base, size, b2, s2;
    unsigned irq, i2;
    char buf[80];

    if (!s)
        return 0;
    memcpy(s, data, n);
    s[n] = '\0';
    if (virtio_mmio_parse_arg(s, &base, &size, &irq) == 0) {
        if (size == 0 || irq > 23 || base > UINT64_MAX - size + 1)
            abort();
        /* Accepted input has only the grammar's characters. */
        if (strspn(s, "0123456789abcdefABCDEFxXkKmMgG@:") != strlen(s))
            abort();
        snprintf(buf, sizeof(buf), "0x%llx@0x%llx:%u", (unsigned long long)size,
                 (unsigned long long)base, irq);
        if (virtio_mmio_parse_arg(buf, &b2, &s2, &i2) != 0 || b2 != base || s2 != size || i2 != irq)
            abort();
    }
    free(s);
    return 0;
}
