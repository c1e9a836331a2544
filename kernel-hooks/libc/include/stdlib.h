/*
 * Number conversion, sorting and the allocator interface of the small libc.
 *
 * There is no errno: strto* saturate on overflow (to LONG_MAX / LONG_MIN /
 * ULONG_MAX ...) and do not report it otherwise.  Like ISO C, strtoul accepts
 * a '-' sign and negates the result in unsigned arithmetic ("-1" gives
 * ULONG_MAX), and a "0x" prefix not followed by a hex digit parses as "0".
 */
#ifndef UK_LIBC_STDLIB_H
#define UK_LIBC_STDLIB_H

#include <stddef.h>

/* Parse an unsigned long (base 0 or 2..36); *endptr gets the first unparsed char. */
unsigned long strtoul(const char *restrict s, char **restrict endptr, int base);
/* Parse a long; saturates to LONG_MAX/LONG_MIN on overflow. */
long strtol(const char *restrict s, char **restrict endptr, int base);
/* Parse an unsigned long long; saturates to ULLONG_MAX on overflow. */
unsigned long long strtoull(const char *restrict s, char **restrict endptr, int base);
/* Parse a long long; saturates to LLONG_MAX/LLONG_MIN on overflow. */
long long strtoll(const char *restrict s, char **restrict endptr, int base);
/* Decimal strtol truncated to int (saturating at INT_MIN/INT_MAX). */
int atoi(const char *s);
/* Absolute value (abs(INT_MIN) is undefined, as in ISO C). */
int abs(int x);
/* Absolute value of a long. */
long labs(long x);

/* Sort n elements of size bytes in place (heapsort: O(n log n), no recursion, unstable). */
void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
/* Binary search of a sorted array; returns a matching element or NULL. */
void *bsearch(const void *key, const void *base, size_t n, size_t size,
              int (*cmp)(const void *, const void *));

/* Allocator: implemented by the kernel heap (see <uk/mem.h>). */
void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);
void *aligned_alloc(size_t align, size_t size);
int posix_memalign(void **out, size_t align, size_t size);
/* Panic the kernel; implemented by the kernel. */
__attribute__((noreturn)) void abort(void);

#endif
