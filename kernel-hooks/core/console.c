/*
 * Console output on COM1.  uk_printf formats into a stack buffer and writes
 * it in one piece; it does not log (see uk_log for that).
 */
#include <stdarg.h>
#include <stdio.h>
#include <uk/console.h>
#include <uk/uart.h>

void uk_console_write(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n')
            uk_uart_putc(UK_UART_COM1, '\r');
        uk_uart_putc(UK_UART_COM1, (uint8_t)buf[i]);
    }
}

static int console_vprintf(const char *fmt, va_list ap)
{
    char buf[256];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    uk_console_write(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    return n;
}

int uk_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = console_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

/* The libc's printf (declared in <stdio.h>) is the console printf. */
int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = console_vprintf(fmt, ap);
    va_end(ap);
    return n;
}
