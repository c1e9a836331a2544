/*
 * Basic types of the hook contract and the one result enum every guest API
 * returns.  Guest API policy: functions that can fail return enum uk_result;
 * UK_OK is zero so `if (r)` tests for failure.
 */
#ifndef UK_TYPES_H
#define UK_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum uk_result {
    UK_OK = 0,
    UK_EINVAL,    /* bad argument */
    UK_ENOMEM,    /* out of memory or table slots */
    UK_EBUSY,     /* resource already taken */
    UK_ENOENT,    /* no such object */
    UK_EFAULT,    /* address not accessible */
    UK_ETIMEDOUT, /* deadline passed */
    UK_EAGAIN,    /* try again (would block) */
    UK_ENOSYS,    /* not supported on this machine */
} uk_result;

/* Human-readable name of a result, never NULL. */
const char *uk_result_str(uk_result r);

#define UK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UK_ALIGN_UP(x, a) (((x) + (a)-1) & ~((__typeof__(x))(a)-1))
#define UK_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define UK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define UK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define UK_CONTAINER_OF(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define UK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define UK_NORETURN __attribute__((noreturn))
#define UK_UNUSED __attribute__((unused))
/* Static storage the kernel does not clear at boot (large buffers whose
 * owner writes before reading): contents are undefined until initialised. */
#define UK_NOINIT __attribute__((section(".uk_noinit")))
#define UK_READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define UK_WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define uk_barrier() __asm__ __volatile__("" ::: "memory")

#define UK_PAGE_SIZE 4096UL

#endif
