/* hostview's parsers (host-collector/bpf/hvparse.c) from hostile bytes:
 * thread names, /proc schedstat and stat lines are text other processes
 * control. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bpf/hvuser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char accel[4] = "xxx";
    uint64_t a, b, c;
    int v = hv_parse_vcpu_comm(s, size, accel);

    /* a vCPU index is small, and then the accelerator is one of two */
    if (v >= 0 && (v >= 4096 || (strcmp(accel, "KVM") && strcmp(accel, "TCG"))))
        __builtin_trap();
    if (v < 0 && v != HV_NOT_VCPU && v != HV_ALL_VCPUS)
        __builtin_trap();
    if (hv_parse_schedstat(s, size, &a, &b, &c) == 0 && (size < 5 || !memchr(s, ' ', size)))
        __builtin_trap();
    char st = hv_parse_stat_state(s, size);
    if (st && (st < 'A' || st > 'z' || !memchr(s, st, size)))
        __builtin_trap();
    return 0;
}
