/*
 * Formatted output of the small freestanding libc.
 *
 * snprintf/vsnprintf support the conversions d i u x X o c s p %, the flags
 * '-' '0' '+' ' ' '#', width and precision (also '*'), and the length
 * modifiers hh h l ll z t j.  Differences from ISO C:
 *  - no floating point (the guest is built with -mgeneral-regs-only): any
 *    other conversion (f e g a ...) is copied to the output literally,
 *    e.g. "%5.2f" prints "%5.2f", and consumes no argument;
 *  - %n is not supported: its pointer argument is consumed and ignored;
 *  - %p prints like %#lx but always with "0x", also for NULL ("0x0");
 *  - %s with a NULL pointer prints "(null)";
 *  - if the total length would exceed INT_MAX, -1 is returned.
 */
#ifndef UK_LIBC_STDIO_H
#define UK_LIBC_STDIO_H

#include <stdarg.h>
#include <stddef.h>

/* Format into buf (NUL-terminated when size>0); returns the untruncated length. */
int snprintf(char *restrict buf, size_t size, const char *restrict fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like snprintf with a va_list. */
int vsnprintf(char *restrict buf, size_t size, const char *restrict fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Print to the kernel console; implemented by the kernel, not by this libc. */
int printf(const char *restrict fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
