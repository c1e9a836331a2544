/*
 * Fuzz the API address parser (host-collector/lib/netaddr.c) with arbitrary
 * strings.  Contract: no crash or overread; an accepted address is AF_INET
 * or AF_INET6 with a nonzero port and the matching length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char err[64];
    char *s = malloc(size + 1);

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    if (netaddr_parse(s, &ss, &len, err, sizeof(err)) == 0) {
        if (ss.ss_family == AF_INET) {
            if (len != sizeof(struct sockaddr_in) || !((struct sockaddr_in *)&ss)->sin_port)
                abort();
        } else if (ss.ss_family == AF_INET6) {
            if (len != sizeof(struct sockaddr_in6) || !((struct sockaddr_in6 *)&ss)->sin6_port)
                abort();
        } else {
            abort();
        }
        (void)netaddr_is_loopback(&ss);
    } else if (!memchr(err, 0, sizeof(err))) {
        abort();
    }
    free(s);
    return 0;
}
