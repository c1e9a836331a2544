/*
 * Raw console output (COM1), below the log.  Safe from any context; a
 * per-character lock is not taken so panic output always gets through.
 */
#ifndef UK_CONSOLE_H
#define UK_CONSOLE_H

#include <uk/types.h>

void uk_console_write(const char *buf, size_t len);
int uk_printf(const char *fmt, ...) UK_PRINTF(1, 2);

#endif
