/*
 * HOST:PORT of the collector's API, as given to `ukcollectd --listen` and in
 * $UKCOLLECTD_ADDR: an IPv4 address (`127.0.0.1:9560`) or a bracketed IPv6
 * address (`[::1]:9560`, `[fe80::1%eth0]` is not accepted: no scope ids).
 * Numeric only: no name lookups, so the address a user reads is the one
 * bound or dialled.
 */
#ifndef UKSCOPE_NETADDR_H
#define UKSCOPE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/*
 * Parse s (NUL-terminated, untrusted).  On success 0 with *ss (AF_INET or
 * AF_INET6) and *len set; -1 with the reason in err: not ADDR:PORT, a
 * bracket missing or extra, an address that is not numeric, a port that is
 * not 1..65535 in decimal, trailing bytes.
 */
int netaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
                  size_t errlen);

/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 (IPv4-mapped loopback). */
bool netaddr_is_loopback(const struct sockaddr_storage *ss);

#endif
