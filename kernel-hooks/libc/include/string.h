/*
 * String and memory functions of the small freestanding libc.
 * All functions follow ISO C / POSIX semantics unless noted.
 */
#ifndef UK_LIBC_STRING_H
#define UK_LIBC_STRING_H

#include <stddef.h>

/* Copy n bytes; the regions must not overlap.  Returns dst. */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
/* Copy n bytes; the regions may overlap.  Returns dst. */
void *memmove(void *dst, const void *src, size_t n);
/* Fill n bytes of dst with (unsigned char)c.  Returns dst. */
void *memset(void *dst, int c, size_t n);
/* Compare n bytes as unsigned char: <0, 0 or >0. */
int memcmp(const void *a, const void *b, size_t n);
/* First occurrence of (unsigned char)c in the first n bytes of s, or NULL. */
void *memchr(const void *s, int c, size_t n);

/* Length of s, not counting the NUL. */
size_t strlen(const char *s);
/* Length of s, but at most max; never reads beyond s[max-1]. */
size_t strnlen(const char *s, size_t max);
/* Compare strings as unsigned char: <0, 0 or >0. */
int strcmp(const char *a, const char *b);
/* Compare at most n characters of two strings. */
int strncmp(const char *a, const char *b, size_t n);
/* Copy src including its NUL to dst.  Returns dst. */
char *strcpy(char *restrict dst, const char *restrict src);
/* Copy at most n chars of src, NUL-padding dst to n; may leave dst unterminated. */
char *strncpy(char *restrict dst, const char *restrict src, size_t n);
/* Copy src into dst of size n, always NUL-terminating when n>0; returns strlen(src). */
size_t strlcpy(char *restrict dst, const char *restrict src, size_t n);
/* Append src to the string in dst.  Returns dst. */
char *strcat(char *restrict dst, const char *restrict src);
/* First occurrence of (char)c in s (the NUL counts), or NULL. */
char *strchr(const char *s, int c);
/* Last occurrence of (char)c in s (the NUL counts), or NULL. */
char *strrchr(const char *s, int c);
/* First occurrence of needle in hay (hay itself if needle is empty), or NULL. */
char *strstr(const char *hay, const char *needle);
/* Length of the initial run of s made only of bytes in accept. */
size_t strspn(const char *s, const char *accept);
/* Length of the initial run of s made only of bytes not in reject. */
size_t strcspn(const char *s, const char *reject);
/* strcmp ignoring ASCII case. */
int strcasecmp(const char *a, const char *b);
/* strncmp ignoring ASCII case. */
int strncasecmp(const char *a, const char *b, size_t n);
/* Reentrant tokenizer: s on the first call, NULL after; state kept in *save. */
char *strtok_r(char *restrict s, const char *restrict delim, char **restrict save);

#endif
