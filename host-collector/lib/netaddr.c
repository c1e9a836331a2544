/* HOST:PORT parsing for the collector's API address; see netaddr.h. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

enum { HOST_MAX = INET6_ADDRSTRLEN, PORT_DIGITS_MAX = 5 };

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

/* Decimal 1..65535, digits only, the whole string. */
static int parse_port(const char *p, unsigned *port)
{
    unsigned v = 0;
    size_t n = 0;

    for (; p[n]; n++) {
        if (p[n] < '0' || p[n] > '9' || n >= PORT_DIGITS_MAX)
            return -1;
        v = v * 10 + (unsigned)(p[n] - '0');
    }
    if (!n || !v || v > 65535)
        return -1;
    *port = v;
    return 0;
}

int netaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
                  size_t errlen)
{
    char host[HOST_MAX + 1];
    const char *colon, *hs;
    size_t hl;
    unsigned port;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return fail(err, errlen, "want [IPv6]:PORT");
        hs = s + 1;
        hl = (size_t)(close - hs);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon)
            return fail(err, errlen, "want IPv4:PORT or [IPv6]:PORT");
        hs = s;
        hl = (size_t)(colon - s);
    }
    if (!hl || hl > HOST_MAX)
        return fail(err, errlen, "bad address length");
    memcpy(host, hs, hl);
    host[hl] = 0;
    if (parse_port(colon + 1, &port) < 0)
        return fail(err, errlen, "port must be 1..65535");
    if (s[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return fail(err, errlen, "not a numeric IPv6 address");
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return fail(err, errlen, "not a numeric IPv4 address");
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
    }
    return 0;
}

bool netaddr_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}
