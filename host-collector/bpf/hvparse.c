/*
 * hostview's text parsers: QEMU thread names and /proc schedstat.  Both
 * read text another process controls (a guest cannot rename QEMU's threads,
 * but any process can name its threads "CPU 1/KVM"), so they check every
 * byte and never trust a length.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "hvuser.h"

enum { MAX_VCPU = 4096 };

/* Digits at s[*i..len) into *v (no sign, no overflow, at least one). */
static int parse_u64(const char *s, size_t len, size_t *i, uint64_t *v)
{
    size_t start = *i;
    uint64_t x = 0;

    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
        (*i)++;
    }
    if (*i == start)
        return -1;
    *v = x;
    return 0;
}

int hv_parse_vcpu_comm(const char *comm, size_t len, char accel[4])
{
    size_t i = 4;
    uint64_t n;

    while (len && (comm[len - 1] == '\n' || comm[len - 1] == 0))
        len--;
    accel[0] = 0;
    if (len == 12 && !memcmp(comm, "ALL CPUs/TCG", 12)) {
        memcpy(accel, "TCG", 4);
        return HV_ALL_VCPUS;
    }
    if (len < 9 || memcmp(comm, "CPU ", 4))
        return HV_NOT_VCPU;
    if (comm[i] == '0' && i + 1 < len && comm[i + 1] != '/')
        return HV_NOT_VCPU; /* no leading zeros: QEMU prints %d */
    if (parse_u64(comm, len, &i, &n) < 0 || n >= MAX_VCPU)
        return HV_NOT_VCPU;
    if (len - i != 4 || comm[i] != '/')
        return HV_NOT_VCPU;
    if (memcmp(comm + i + 1, "KVM", 3) && memcmp(comm + i + 1, "TCG", 3))
        return HV_NOT_VCPU;
    memcpy(accel, comm + i + 1, 3);
    accel[3] = 0;
    return (int)n;
}

int hv_parse_schedstat(const char *buf, size_t len, uint64_t *run_ns, uint64_t *wait_ns,
                       uint64_t *slices)
{
    uint64_t v[3];
    size_t i = 0;

    for (int k = 0; k < 3; k++) {
        if (k) {
            if (i >= len || buf[i] != ' ')
                return -1;
            i++;
        }
        if (parse_u64(buf, len, &i, &v[k]) < 0)
            return -1;
    }
    if (i < len && buf[i] == '\n')
        i++;
    if (i != len)
        return -1;
    *run_ns = v[0];
    *wait_ns = v[1];
    *slices = v[2];
    return 0;
}

char hv_parse_stat_state(const char *buf, size_t len)
{
    size_t i = len;

    while (i > 0 && buf[i - 1] != ')')
        i--;
    if (!i || !memchr(buf, '(', i - 1 + 1) || i + 2 > len || buf[i] != ' ')
        return 0;
    char c = buf[i + 1];
    if (c < 'A' || c > 'z' || (i + 2 < len && buf[i + 2] != ' ' && buf[i + 2] != '\n'))
        return 0;
    return c;
}

double hv_bucket_le(unsigned b)
{
    /* bucket 0: < 1 us; bucket b >= 1: [2^(b-1), 2^b) us */
    if (b + 1 >= HV_HIST_BUCKETS)
        return INFINITY;
    return ldexp(1e-6, (int)b);
}
