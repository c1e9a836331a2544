/*
 * Fuzz target: parsing QEMU's `info registers -a` text (host-collector/crash/
 * hmp.c).  Seed: a real QEMU 7.2 answer at smp 2.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crash/crash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct crash_vcpus v;
    memcpy(s, data, size);
    s[size] = '\0';
    int n = crash_parse_vcpus(s, &v);
    if (n < 0 || v.n > UK_THREAD_TABLE_CPUS || (unsigned)n > v.n)
        abort();
    free(s);
    return 0;
}
