/*
 * lwIP compiler/platform glue for the ukscope guest (freestanding, the small
 * libc in kernel-hooks/libc).  Diagnostics go to the kernel log.
 */
#ifndef UKSCOPE_LWIP_ARCH_CC_H
#define UKSCOPE_LWIP_ARCH_CC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_CTYPE_H    1
#define LWIP_NO_LIMITS_H   1

#define BYTE_ORDER LITTLE_ENDIAN
#define INT_MAX    2147483647
#define SSIZE_MAX  INT_MAX
#define LWIP_NO_UNISTD_H 1
typedef long ssize_t;
#define LWIP_ERRNO_STDINCLUDE 1

void ukscope_lwip_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ukscope_lwip_assert(const char *msg, const char *file, int line) __attribute__((noreturn));

#define LWIP_PLATFORM_DIAG(x)                                                                      \
    do {                                                                                           \
        ukscope_lwip_diag x;                                                                       \
    } while (0)
#define LWIP_PLATFORM_ASSERT(x) ukscope_lwip_assert((x), __FILE__, __LINE__)

#define lwip_htons(x) __builtin_bswap16(x)
#define lwip_htonl(x) __builtin_bswap32(x)

#endif
