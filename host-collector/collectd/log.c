/* See log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

int cd_log_level = CD_INFO;

void cd_log(int level, const char *fmt, ...)
{
    va_list ap;

    if (level > cd_log_level)
        return;
    fprintf(stderr, "<%d>ukcollectd: ", level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
